"""dlib backend: the HOG and CNN (MMOD) face detectors and the shape (landmark) predictors.

dlib's objects are not safe to call from two threads at once (the same detector used from two
threads corrupted the heap here), so each wrapper serialises its calls with a lock. dlib only
takes 8-bit gray or RGB arrays; callers pass RGB uint8 (``ocula.io`` flattens alpha).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ImageError, InputError, ModelUnavailable

__all__ = [
    "FaceDetectorModel",
    "LazyShapePredictor",
    "ShapePredictorModel",
    "dlib_available",
    "face_chips",
    "import_dlib",
]

# Neither detector finds a face smaller than ~40 px (their scanning windows are 80 px, or 40 px
# after one upsampling); dlib's CNN crashes the process on images only a few pixels wide, so
# smaller images are answered "no face" before dlib sees them.
MIN_DETECT_SIDE = 40
# Upsampling multiplies pixels by 4 each time; past this the work (and memory) is unreasonable.
MAX_DETECT_PIXELS = 100_000_000


def dlib_available() -> bool:
    """Whether dlib can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("dlib") is not None or importlib.util.find_spec("_dlib_pybind11") is not None
    except (ImportError, ValueError):
        return False


def import_dlib() -> Any:
    try:
        import dlib
    except ImportError:
        raise ModelUnavailable("dlib is not installed; install it with: pip install dlib-bin") from None
    return dlib


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("dlib needs an RGB uint8 array of shape (H, W, 3)")
    return np.ascontiguousarray(image)


class FaceDetectorModel:
    """A dlib face detector. ``detect`` returns (boxes (N, 4) float32 xyxy, scores (N,) float32).

    HOG scores are SVM margins (0 at the default threshold, higher is surer); MMOD scores are
    the CNN's detection confidence (its threshold is 0 too).
    """

    def __init__(self, kind: str, weights: Path | None = None):
        dlib = import_dlib()
        self.kind = kind
        self._lock = threading.Lock()
        if kind == "hog":
            self._hog = dlib.get_frontal_face_detector()
        elif kind == "mmod":
            try:
                self._cnn = dlib.cnn_face_detection_model_v1(str(weights))
            except RuntimeError as exc:
                raise ModelUnavailable(f"dlib cannot load the CNN face detector {weights} ({exc})") from None
        else:
            raise ValueError(f"unknown dlib detector kind {kind!r}")

    def detect(self, image: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray]:
        image = _rgb(image)
        h, w = image.shape[:2]
        if min(h, w) * 2**upsample < MIN_DETECT_SIDE:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        if h * w * 4**upsample > MAX_DETECT_PIXELS:
            raise InputError(
                f"upsampling a {w}x{h} photo {upsample} time(s) means {h * w * 4**upsample:,} pixels "
                f"(limit {MAX_DETECT_PIXELS:,}); use a smaller upsample"
            )
        try:
            with self._lock:
                if self.kind == "hog":
                    rects, scores, _ = self._hog.run(image, upsample, 0.0)
                    boxes = [(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rects]
                else:
                    found = self._cnn(image, upsample)
                    boxes = [(d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1) for d in found]
                    scores = [d.confidence for d in found]
        except (RuntimeError, MemoryError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ImageError(
                f"the {self.kind} face detector cannot process this {w}x{h} image ({first_line})"
            ) from None
        return np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32).reshape(-1)

    def close(self) -> None:
        self._hog = self._cnn = None


class ShapePredictorModel:
    """A dlib shape predictor: ``predict(image, boxes)`` → (N, points, 2) float32 pixel (x, y)."""

    def __init__(self, weights: Path, points: int):
        dlib = import_dlib()
        self._dlib = dlib
        self.points = points
        self._lock = threading.Lock()
        try:
            self._predictor = dlib.shape_predictor(str(weights))
        except RuntimeError as exc:
            raise ModelUnavailable(f"dlib cannot load the shape predictor {weights} ({exc})") from None

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, list[Any]]:
        """Landmarks per box, plus dlib's shape objects (reused for face chips)."""
        image = _rgb(image)
        shapes = []
        with self._lock:
            for x0, y0, x1, y1 in np.asarray(boxes, np.float64).reshape(-1, 4):
                rect = self._dlib.rectangle(round(x0), round(y0), round(x1) - 1, round(y1) - 1)
                shapes.append(self._predictor(image, rect))
        points = np.array([[(p.x, p.y) for p in s.parts()] for s in shapes], np.float32).reshape(-1, self.points, 2)
        return points, shapes

    def close(self) -> None:
        self._predictor = None


class LazyShapePredictor:
    """A :class:`ShapePredictorModel` loaded on its first ``predict``, by ``load`` (e.g. the
    Engine's model pool, which loads it once, keeps it and closes it): a face pipeline holds
    dlib's 5-point model without loading dlib's weights for a photo where no face is found."""

    def __init__(self, load: Callable[[], ShapePredictorModel]):
        self._load = load

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, list[Any]]:
        return self._load().predict(image, boxes)


def face_chips(image: np.ndarray, shapes: list[Any], *, size: int, padding: float) -> np.ndarray:
    """Aligned (N, size, size, 3) uint8 chips: ``dlib.get_face_chip`` for each landmark shape,
    exactly what ``face_recognition_model_v1.compute_face_descriptor`` feeds its network."""
    dlib = import_dlib()
    image = _rgb(image)
    if not shapes:
        return np.zeros((0, size, size, 3), np.uint8)
    chips = dlib.get_face_chips(image, dlib.full_object_detections(shapes), size=size, padding=padding)
    return np.stack([np.asarray(c, np.uint8) for c in chips])
