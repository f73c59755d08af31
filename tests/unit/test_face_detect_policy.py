"""FaceAnalyzer.detect's policy (which upsampling, ordering, clipping, cropped inputs), on a fake
detector: the layer above dlib, tested without it."""

from __future__ import annotations

import numpy as np
import pytest

from ocula import InputError, UnknownName
from ocula.pipelines.faces import FaceAnalyzer, FaceOptions


class FakeDetector:
    """Finds a small face only when upsampled, and a big one always."""

    def __init__(self, big: bool = True, kind: str = "hog", small: bool = True):
        self.calls: list[int] = []
        self.big, self.small, self.kind = big, small, kind

    def detect(self, image, upsample):
        self.calls.append(upsample)
        boxes = [[50, 50, 150, 150]] if self.big else []
        if upsample >= 1 and self.small:
            boxes.append([-5, 10, 30, 45])  # a small face, partly outside the photo
        return np.array(boxes, np.float32).reshape(-1, 4), np.ones(len(boxes), np.float32)


#: ``ocula serve``'s default budget for the CNN (ServiceSettings.cnn_max_pixels).
SERVICE_CNN_MAX_PIXELS = 500_000


def analyzer(*detectors, cnn_max_pixels: int | None = None) -> FaceAnalyzer:
    return FaceAnalyzer(detectors, landmarks5=None, embedder=None, alignment=None,  # type: ignore[arg-type]
                        cnn_max_pixels=cnn_max_pixels)  # fmt: skip


def test_all_faces_upsamples_small_photos_once_and_big_ones_never():
    det = FakeDetector()
    boxes, _ = analyzer(det).detect(np.zeros((400, 600, 3), np.uint8), FaceOptions())
    assert det.calls == [1] and len(boxes) == 2
    assert boxes[0].tolist() == [50, 50, 150, 150]  # largest first
    assert boxes[1].tolist() == [0, 10, 30, 45]  # clipped to the photo
    det = FakeDetector()
    analyzer(det).detect(np.zeros((2000, 3000, 3), np.uint8), FaceOptions())
    assert det.calls == [0]
    det = FakeDetector(kind="mmod")
    analyzer(det).detect(np.zeros((1000, 1000, 3), np.uint8), FaceOptions(detector="cnn"))
    assert det.calls == [0]  # the CNN's limit is 800 px


def test_second_detector_runs_only_where_the_first_finds_nothing():
    hog, cnn = FakeDetector(), FakeDetector(kind="mmod")
    boxes, _ = analyzer(hog, cnn).detect(np.zeros((400, 600, 3), np.uint8), FaceOptions(largest_only=True))
    assert hog.calls == [0] and cnn.calls == [] and len(boxes) == 1
    blind, cnn = FakeDetector(big=False, small=False), FakeDetector(kind="mmod")
    boxes, _ = analyzer(blind, cnn).detect(np.zeros((400, 600, 3), np.uint8), FaceOptions(largest_only=True))
    assert blind.calls == [0, 1] and cnn.calls == [0] and len(boxes) == 1


def test_largest_only_upsamples_only_when_nothing_is_found():
    det = FakeDetector(big=True)
    boxes, _ = analyzer(det).detect(np.zeros((400, 600, 3), np.uint8), FaceOptions(largest_only=True))
    assert det.calls == [0] and len(boxes) == 1
    det = FakeDetector(big=False)
    boxes, _ = analyzer(det).detect(np.zeros((400, 600, 3), np.uint8), FaceOptions(largest_only=True))
    assert det.calls == [0, 1] and boxes.tolist() == [[0, 10, 30, 45]]


def test_explicit_upsample_and_cropped():
    det = FakeDetector()
    analyzer(det).detect(np.zeros((400, 600, 3), np.uint8), FaceOptions(upsample=2))
    assert det.calls == [2]
    boxes, scores = analyzer(det).detect(np.zeros((40, 60, 3), np.uint8), FaceOptions(cropped=True))
    assert boxes.tolist() == [[0, 0, 60, 40]] and np.isnan(scores[0]) and det.calls == [2]


def test_options_are_checked():
    with pytest.raises(UnknownName, match="detector"):
        FaceOptions(detector="yolo")
    for bad in (-1, 4, 1.5):
        with pytest.raises(InputError, match="upsample"):
            FaceOptions(upsample=bad)


class ShapeRecorder:
    """Finds nothing (a blank photo), or one face at a fixed place in what it is shown; records
    the size of every image it is shown and the upsampling asked."""

    def __init__(self, kind: str, face: bool = False):
        self.kind, self.face = kind, face
        self.seen: list[tuple[int, int, int]] = []  # (height, width, upsample)

    def detect(self, image, upsample):
        h, w = image.shape[:2]
        self.seen.append((h, w, upsample))
        if not self.face:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return np.array([[w / 4, h / 4, w / 2, h / 2]], np.float32), np.ones(1, np.float32)


def pixels_searched(det: ShapeRecorder) -> list[int]:
    assert det.seen, "the detector never ran"
    return [h * w * 4**up for h, w, up in det.seen]


@pytest.mark.parametrize("largest_only", [True, False])
@pytest.mark.parametrize("cnn_max_pixels", [None, SERVICE_CNN_MAX_PIXELS])
def test_the_cnn_fallback_never_searches_more_than_its_budget(largest_only, cnn_max_pixels):
    """A blank 1500x1500 photo once made the CNN search 3000x3000 pixels (7 GB, 6 minutes)."""
    budget = cnn_max_pixels or 2_560_000
    for h, w in ((1500, 1500), (5000, 7000), (700, 700)):
        hog, cnn = ShapeRecorder("hog"), ShapeRecorder("mmod")
        analyzer(hog, cnn, cnn_max_pixels=cnn_max_pixels).detect(
            np.zeros((h, w, 3), np.uint8), FaceOptions("hog+cnn", largest_only=largest_only)
        )
        assert max(pixels_searched(cnn)) <= budget, cnn.seen
        assert max(pixels_searched(hog)) <= 16_000_000, hog.seen


SIZES = [(640, 480), (800, 600), (1024, 768), (1600, 1200), (6000, 4000)]  # (width, height)


@pytest.mark.parametrize(
    ("kind", "cnn_max_pixels", "expected"),
    [
        # The library, as before any budget: upsampled once up to 800 px (CNN) / 1600 px (HOG),
        # native scale above; only a huge photo is shrunk (to 2.56 MP / 16 MP).
        ("mmod", None, ["up", "up", "native", "native", "shrunk"]),
        ("hog", None, ["up", "up", "up", "up", "shrunk"]),
        # ocula serve: the CNN searches at most 0.5 MP.
        ("mmod", SERVICE_CNN_MAX_PIXELS, ["native", "native", "shrunk", "shrunk", "shrunk"]),
        ("hog", SERVICE_CNN_MAX_PIXELS, ["up", "up", "up", "up", "shrunk"]),
    ],
)
def test_the_scale_each_photo_size_is_searched_at(kind, cnn_max_pixels, expected):
    budget = {"hog": 16_000_000, "mmod": cnn_max_pixels or 2_560_000}[kind]
    for (w, h), how in zip(SIZES, expected, strict=True):
        det = ShapeRecorder(kind)
        analyzer(det, cnn_max_pixels=cnn_max_pixels).detect(np.zeros((h, w, 3), np.uint8), FaceOptions())
        (seen_h, seen_w, up), = det.seen
        if how == "up":
            assert (seen_w, seen_h, up) == (w, h, 1), (w, h, det.seen)
        elif how == "native":
            assert (seen_w, seen_h, up) == (w, h, 0), (w, h, det.seen)
        else:  # a shrunk copy, as big as the budget allows
            assert up == 0 and seen_w < w and budget * 0.99 <= seen_w * seen_h <= budget, (w, h, det.seen)


def test_a_cnn_budget_is_a_positive_number():
    with pytest.raises(InputError, match="cnn_max_pixels"):
        analyzer(ShapeRecorder("mmod"), cnn_max_pixels=0)


def test_big_photos_are_searched_shrunk_and_boxes_come_back_in_photo_pixels():
    hog = ShapeRecorder("hog", face=True)
    boxes, _ = analyzer(hog).detect(np.zeros((4000, 6000, 3), np.uint8), FaceOptions())
    (h, w, up), = hog.seen
    assert up == 0 and h * w <= 16_000_000 and (h, w) != (4000, 6000)
    np.testing.assert_allclose(boxes, [[1500, 1000, 3000, 2000]], rtol=1e-3)


def test_small_photos_are_upsampled_as_before():
    for shape in ((250, 250), (218, 178), (240, 427)):  # LFW, celeba, obama-240p.jpg
        hog, cnn = ShapeRecorder("hog"), ShapeRecorder("mmod")
        analyzer(hog, cnn).detect(np.zeros((*shape, 3), np.uint8), FaceOptions("hog+cnn", largest_only=True))
        assert [s[2] for s in hog.seen] == [0, 1] and [s[2] for s in cnn.seen] == [0, 1]
        assert {s[:2] for s in hog.seen + cnn.seen} == {shape}
        hog, cnn = ShapeRecorder("hog"), ShapeRecorder("mmod")
        analyzer(hog, cnn).detect(np.zeros((*shape, 3), np.uint8), FaceOptions("hog+cnn"))
        assert hog.seen == [(*shape, 1)] and cnn.seen == [(*shape, 1)]
