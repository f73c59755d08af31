"""The fused face descriptor ``sface+dlib`` (issue 17) on real weights and a few celeba-80
photos: one 256-D unit vector per face whose cosine is the registry's weighted sum of the
SFace and dlib cosines of the same face, galleries built with it, and old galleries beside it."""

from __future__ import annotations

import numpy as np
import pytest

from ocula.galleries import Gallery
from ocula.io import load_image
from ocula.models.registry import get_model
from ocula.pipelines.faces import DESCRIPTOR_MODELS, similarity

from ..conftest import shared
from .test_faces_v2 import _photos


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_the_fused_vector_is_unit_256d_and_its_cosine_is_the_weighted_sum_of_the_parts(engine):
    (a1, a2), (b1, _) = _photos(2, 2).values()
    w = get_model("sface_dlib_face").fusion.weight("sface_face")
    dlib_on_yunet = engine.face_analyzer("yunet", descriptor="dlib")
    fused, sface, dlib = [], [], []
    for path in (a1, a2, b1):
        f = engine.faces(path, descriptor="sface+dlib", largest_only=True, face_expected=True)
        assert f.descriptor == "sface_dlib_face" and f.landmark_layout == "yunet5"
        assert f.embeddings.shape == (1, 256)
        fused.append(f.embeddings[0])
        # The parts computed separately on the same face: SFace + mirror, dlib + mirror on
        # dlib's 5 points on YuNet's box (its chip from the full-resolution photo).
        s = engine.faces(path, descriptor="sface", largest_only=True, face_expected=True)
        assert np.allclose(s.boxes, f.boxes)
        sface.append(s.embeddings[0])
        dlib.append(dlib_on_yunet.embed(dlib_on_yunet.chips(load_image(path), f))[0])
    fused, sface, dlib = np.array(fused), _unit(np.array(sface)), _unit(np.array(dlib))
    assert np.allclose(np.linalg.norm(fused, axis=1), 1, atol=1e-5)
    expected = w * (sface @ sface.T) + (1 - w) * (dlib @ dlib.T)
    assert np.allclose(fused @ fused.T, expected, atol=1e-5)
    assert np.allclose(similarity(fused[:, None], fused[None]), expected, atol=1e-5)
    assert expected[0, 1] > expected[0, 2]  # the same person closer than another


def test_a_fused_gallery_identifies_and_old_sface_and_dlib_galleries_still_work(engine, settings):
    first, _hard, third = _photos(3, 3).items()  # 7202 left out: a hard identity (the calibration's "mixed")
    people = dict([first, third])
    for descriptor in ("sface+dlib", "sface", "dlib"):
        name = f"g-{descriptor.replace('+', '-')}"
        with Gallery.open(name, settings=settings, engine=engine, create=True, descriptor=descriptor) as gallery:
            for person, photos in people.items():
                gallery.enroll(person, photos[:2])
        with Gallery.open(name, settings=settings, engine=engine) as gallery:  # reopened: its own descriptor
            assert gallery.descriptor.value == descriptor
            templates, _ = gallery.templates(next(iter(people)))
            assert templates.shape == (2, get_model(DESCRIPTOR_MODELS[gallery.descriptor]).architecture["dim"])
            for person, photos in people.items():
                found = gallery.identify(photos[2], detector="yunet" if descriptor == "dlib" else None)
                assert found and found[0].person == person, (descriptor, found)  # face 0 first


def test_a_faceless_photo_loads_no_descriptor_model(settings, tmp_path):
    """The default pipeline loads YuNet only, until a face is found: SFace's graph, dlib's
    5-point model and dlib's ResNet load when the first face is described (a blank photo through
    ``faces verify`` stays well under a second). The pool's loaders are the real ones, recorded."""
    from PIL import Image

    from ocula.engine.faces import FaceService
    from ocula.engine.pool import ModelPool
    from ocula.errors import NoFaceFound
    from ocula.models.loading import load_dlib_model, load_runner

    loaded: list[str] = []

    def runner(spec, s):
        loaded.append(spec.name)
        return load_runner(spec, s)

    def dlib_model(spec, s):
        loaded.append(spec.name)
        return load_dlib_model(spec, s)

    blank = tmp_path / "blank.png"
    Image.new("RGB", (1500, 1500), "white").save(blank)
    pool = ModelPool(settings, runner_factory=runner, dlib_factory=dlib_model)
    try:
        faces = FaceService(pool)
        with pytest.raises(NoFaceFound):
            faces.verify(blank, blank)
        assert loaded == ["yunet_face"]
        (photo, *_), *_ = _photos(1, 1).values()
        faces.verify(photo, photo)
        five_points = get_model("dlib_resnet_face").alignment.landmarks
        assert set(loaded) == {"yunet_face", "sface_face", "dlib_resnet_face", five_points}
    finally:
        pool.close()


def test_a_photo_s_faces_are_described_a_batch_at_a_time(engine, monkeypatch):
    """Review of issue 17: all of a photo's faces were described at once (their chips, mirror
    images and the networks' inputs together): 3.1 GB for a collage of 882 faces. Now
    ``DESCRIBE_BATCH`` at a time, with the same descriptors (dlib's chips of one batch share an
    image pyramid, so a chip may differ by a hair with its batch: ``atol``)."""
    from ocula.pipelines import faces as pipeline

    photo = shared("faces/face-recognition-examples/examples/two_people.jpg")
    whole = engine.faces(photo, descriptor="sface+dlib")
    assert len(whole) == 2
    batches: list[int] = []
    dlib_embed = pipeline.FaceAnalyzer.dlib_embed

    def counted(self, chips, **kwargs):
        batches.append(len(chips))
        return dlib_embed(self, chips, **kwargs)

    monkeypatch.setattr(pipeline.FaceAnalyzer, "dlib_embed", counted)
    monkeypatch.setattr(pipeline, "DESCRIBE_BATCH", 1)
    one_by_one = engine.faces(photo, descriptor="sface+dlib")
    assert batches == [1, 1]
    assert np.allclose(one_by_one.boxes, whole.boxes)
    assert np.allclose(one_by_one.embeddings, whole.embeddings, atol=1e-3)
    assert np.allclose(one_by_one.sharpness, whole.sharpness, rtol=1e-4)
