"""The fused descriptor (sface+dlib) on fake networks: dlib's 5-point model runs only on faces
that are described (the video finds faces on every analysed frame and describes few), and
dlib's mirror pass alone, added to a single pass, gives what both passes give."""

from __future__ import annotations

import dlib
import numpy as np
import pytest

from ocula.models.backends.fake import FakeRunner
from ocula.models.registry import get_model
from ocula.pipelines.faces import FaceAnalyzer, FaceOptions, Found
from ocula.pipelines.sface import SFaceDescriptor


class CountingPredictor:
    """dlib's 5-point model's interface: five points inside each box, and dlib's own shapes
    (face chips are cut from them)."""

    def __init__(self) -> None:
        self.boxes = 0

    def predict(self, image: np.ndarray, boxes: np.ndarray):
        self.boxes += len(boxes)
        shapes, points = [], []
        for x0, y0, x1, y1 in np.asarray(boxes, np.float64).reshape(-1, 4):
            w, h = x1 - x0, y1 - y0
            five = [(x0 + 0.7 * w, y0 + 0.4 * h), (x0 + 0.6 * w, y0 + 0.4 * h), (x0 + 0.3 * w, y0 + 0.4 * h),
                    (x0 + 0.4 * w, y0 + 0.4 * h), (x0 + 0.5 * w, y0 + 0.7 * h)]  # fmt: skip
            rect = dlib.rectangle(round(x0), round(y0), round(x1) - 1, round(y1) - 1)
            shapes.append(dlib.full_object_detection(rect, [dlib.point(round(x), round(y)) for x, y in five]))
            points.append(five)
        return np.array(points, np.float32).reshape(-1, 5, 2), shapes

    def close(self) -> None:
        pass


def _network(dim: int, name: str, output: str):
    """A fake descriptor network: a fixed projection of the chip's pixel means over a 4x4 grid of
    tiles (so a mirror image gives another output)."""
    weights = np.random.default_rng(len(name)).normal(size=(16 * 3, dim)).astype(np.float32)

    def run(inputs):
        x = next(iter(inputs.values()))
        if x.shape[1] == 3:  # NCHW (SFace)
            x = x.transpose(0, 2, 3, 1)
        rows = np.array_split(x, 4, axis=1)
        tiles = [tile.mean(axis=(1, 2)) for row in rows for tile in np.array_split(row, 4, axis=2)]
        return {output: np.stack(tiles, axis=1).reshape(len(x), -1) @ weights / 1000}

    inputs = ("chips" if output == "descriptor" else "data",)
    return FakeRunner(run, name=name, input_names=inputs, output_names=(output,))


def _fused(predictor: CountingPredictor) -> FaceAnalyzer:
    dlib_spec = get_model("dlib_resnet_face")
    assert dlib_spec.alignment is not None
    sface = SFaceDescriptor(_network(128, "sface_face", "fc1"), get_model("sface_face"))
    return FaceAnalyzer(
        (), predictor, _network(128, "dlib_resnet_face", "descriptor"), dlib_spec.alignment,
        sface=sface, fusion=get_model("sface_dlib_face").fusion,
    )  # fmt: skip


def _photo_and_faces() -> tuple[np.ndarray, Found]:
    image = np.random.default_rng(3).integers(0, 255, (240, 320, 3), np.uint8)
    boxes = np.array([[40, 40, 120, 140], [180, 60, 260, 160]], np.float32)
    points = np.array([[[65, 80], [95, 80], [80, 100], [68, 120], [92, 120]]], np.float32)
    landmarks = np.concatenate([points, points + np.array([140, 20], np.float32)])
    return image, Found(boxes, np.array([0.9, 0.8], np.float32), landmarks)


def test_the_fusion_runs_dlibs_landmarks_only_where_it_describes():
    predictor = CountingPredictor()
    analyzer = _fused(predictor)
    image, found = _photo_and_faces()
    measured = analyzer.describe(image, found, FaceOptions(descriptor="sface+dlib", embed=False))
    assert len(measured) == 2 and measured.embeddings is None
    assert predictor.boxes == 0  # YuNet's landmarks, SFace's chips: nothing of dlib's
    np.testing.assert_array_equal(measured.landmarks, found.landmarks)
    described = analyzer.describe(image, found, FaceOptions(descriptor="sface+dlib"))
    assert predictor.boxes == 2 and described.embeddings is not None and described.embeddings.shape == (2, 256)
    # Measured alone or with the descriptors: the same faces.
    np.testing.assert_array_equal(described.landmarks, measured.landmarks)
    np.testing.assert_array_equal(described.sharpness, measured.sharpness)


def test_dlibs_mirror_pass_alone_completes_a_single_pass():
    analyzer = _fused(CountingPredictor())
    image, found = _photo_and_faces()
    chips = analyzer.dlib_chips(image, found.boxes)
    assert chips.shape == (2, 150, 150, 3)
    single = analyzer.dlib_embed(chips, flip=False)
    both = analyzer.dlib_embed(chips, flip=True)
    assert np.abs(single - both).max() > 1e-3  # the fake sees the mirror
    np.testing.assert_allclose(analyzer.dlib_mirrored(single, chips), both, rtol=0, atol=1e-5)
    assert analyzer.dlib_mirrored(single[:0], chips[:0]).shape == (0, 128)


def test_load_descriptor_loads_exactly_the_descriptors_models(tmp_path):
    from ocula import Engine, Settings, UnknownName

    loaded: list[str] = []

    def runner(spec, settings):
        loaded.append(spec.name)
        return FakeRunner(lambda inputs: {}, name=spec.name)

    def dlib_model(spec, settings):
        loaded.append(spec.name)
        return CountingPredictor()

    five_points = get_model("dlib_resnet_face").alignment.landmarks
    for descriptor, models in (
        ("sface", {"sface_face"}),
        ("dlib", {"dlib_resnet_face", five_points}),
        ("sface+dlib", {"sface_face", "dlib_resnet_face", five_points}),
    ):
        loaded.clear()
        with Engine(Settings(data_dir=tmp_path), runner_factory=runner, dlib_factory=dlib_model) as engine:
            engine.load_descriptor(descriptor)
            assert set(loaded) == models and len(loaded) == len(models)
            engine.load_descriptor(descriptor)  # loaded once, kept
            assert len(loaded) == len(models)
    with Engine(Settings(data_dir=tmp_path), runner_factory=runner, dlib_factory=dlib_model) as engine:
        with pytest.raises(UnknownName, match="arcface"):
            engine.load_descriptor("arcface")
