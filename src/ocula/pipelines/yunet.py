"""The YuNet face detector on ONNX Runtime: boxes, five landmarks and scores.

The graph (``yunet_face``, folded to fp32 by ``models.convert.onnx_dequantize``) takes any
size whose sides are multiples of 32. OpenCV's ``FaceDetectorYN`` runs it at the photo's own size
(padded with zeros at the right and bottom to a multiple of 32); here the photo is scaled to fit
a 640 square (shrunk with area averaging; enlarged, bilinear, only when ``upsample`` asks) and
padded with zeros at the right and bottom, by default to the whole square: every face figure and
calibration of ocula was measured so. With ``square=False`` it is padded only to the next
multiple of 32 plus ``EDGE_MARGIN`` (at most the square): a 16:9 video frame (640x448) then has
70% of the square's pixels. Why the margin: the network's deep features near the photo's bottom
and right edges see the padding (its receptive fields are large); padded only to the multiple of
32, as OpenCV's ``FaceDetectorYN`` pads, 6 of the square's 754 faces on the 275 frames of the
Hamilton clip were lost (a head turned away at the bottom edge, scores 0.60-0.62). With the
margin, faces near those edges can still differ a little (``EDGE_MARGIN``).

Decoding follows OpenCV's ``modules/objdetect/src/face_detect.cpp`` (``postProcess``): for each
stride s in (8, 16, 32) and grid cell (row r, column c), score = sqrt(clip(cls) * clip(obj)),
box centre = (c + dx, r + dy) * s, size = exp(dw, dh) * s, landmark k = (c + kx, r + ky) * s;
then ``cv::dnn::NMSBoxes`` on the boxes truncated to integers. The five landmarks are, in image
terms: the eye on the left of the photo (the subject's right), the other eye, the nose tip, and
the mouth corners in the same order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..models.backends.base import Runner
from ..models.registry import ModelSpec, Resize
from .preprocess import to_tensor

__all__ = [
    "ANY_TURNED_FACE",
    "EDGE_MARGIN",
    "EXPECTED_TURNED_FACE",
    "SCORE_THRESHOLD",
    "TURNS",
    "DetectedFaces",
    "TurnRule",
    "YuNetDetector",
    "letterbox_scale",
    "nms_boxes",
    "unturn",
]

# OpenCV Zoo's defaults for YuNet (models/face_detection_yunet/demo.py): keep scores from 0.6,
# suppress boxes overlapping a better one by more than 0.3 IoU, consider the best 5000.
SCORE_THRESHOLD = 0.6
NMS_THRESHOLD = 0.3
TOP_K = 5000
POINTS = 5  # eye centres, nose tip, mouth corners
# When the upright photo has no face, it is searched turned by these quarter turns
# (``np.rot90``'s k: a quarter clockwise, a quarter counter-clockwise, half), the first that
# finds a face wins. YuNet was trained on upright faces: a photo taken sideways (no EXIF
# orientation) or a head lying down is missed upright. celeba-80's one YuNet miss (7245/185156,
# a woman lying on a beach, her head tilted steeply) is found a quarter turn clockwise, score 0.83.
# The price is false faces: of the 277 photos of shared/data/imagenet/sample-334 with no
# upright face, 28 get one turned (dogs, a hamster, a dumbbell at 0.88, a pizza), and the cat
# sample turned upside down scores 0.82; so ocula searches every turn only when asked
# (``FaceOptions.turned``), and otherwise only under EXPECTED_TURNED_FACE's rule, below.
TURNS = (3, 1, 2)
# Where the caller asserts the photo shows a face (enrolment, verify, identify's probe, the
# evaluations: ``FaceOptions.face_expected``) a photo with no upright face is searched turned
# too, but a turned face counts only if it passes this rule; a turn whose faces all fail it
# moves the search on. Chosen by benchmarks/turned_search.py: 347 face-free photos
# (benchmarks/data/face_free.txt and imagenet/sample-334, halved by a hash of the path), and 530
# celeba-80 photos rolled by +-60 degrees (real faces the rule must keep; 471 found upright).
# Rule: no false face on the tune half (173 photos), then the most rolled faces found:
# - quarter turns only (rolled and lying heads are common, upside-down people rare; upside
#   down, a cat scored 0.82); upside down too never found a rolled face more;
# - score >= 0.8 (0.6: 9 false faces on the tune half, 0.7: 2, 0.75: 2, 0.8: 1);
# - the landmarks in a face's order in the turned frame (nose between the eyes, eyes above the
#   nose above the mouth): that last false face (a dumbbell, 0.88) fails it. Bounds on the
#   mouth-to-eyes distance as well (0.7 to 1.2 eye distances) kept 7 rolled faces fewer.
# Held-out half (174 photos): 1 false face (a German short-haired pointer, 0.57 per 100
# face-free photos); rolled faces found 521 of 530 (98.3%; every turned face: 530); celeba-80's
# one YuNet miss (7245/185156, 0.83 a quarter turn clockwise) is found.
EXPECTED_TURNS = (3, 1)
EXPECTED_TURNED_MIN_SCORE = 0.8
# Zeros kept below and right of a photo searched without its square (``square=False``), in
# pixels of the network's input (``YuNetDetector.edge_margin``). Chosen on every frame of the
# six clips in shared/data/video (1,828), searched both ways (benchmarks/video_speed.py
# --padding): with 64, the same 1,197 faces as the square, their landmarks within 0.04 px on the
# Hamilton clip (3.8 px at most, on the Intel clip's), scores within 0.06; with 32, 4 of the
# Hamilton clip's 754 faces lost; with none, 6. Checked on data it was not chosen on, celeba-80's
# 1,057 photos (small: 178x218 is searched as 256x288, the face near the padding): 1,123 faces
# both ways, 1 found only in the square and 1 only without; landmarks within 0.04 px for 90% of
# the faces, over 1 px for 19 and at most 9.0 px. So near the bottom and right edges the two can
# differ. A 640x360 frame took 11.3 ms against 15.0 in the square (480x270: 7.4 against 13.7).
EDGE_MARGIN = 64


@dataclass(frozen=True)
class DetectedFaces:
    """What a landmark detector (YuNet, BlazeFace) found, in the photo's pixel coordinates, best
    score first.

    ``boxes`` (n, 4) xyxy float32, ``landmarks`` (n, points, 2) float32 (YuNet 5, BlazeFace 6),
    ``scores`` (n,) float32."""

    boxes: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls, points: int) -> DetectedFaces:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0, points, 2), np.float32), np.zeros((0,), np.float32))


@dataclass(frozen=True)
class TurnRule:
    """Which turns a photo with no upright face is searched in, and which faces found turned
    count: ``min_score`` (None: every face YuNet keeps) and, with ``plausible``, landmarks in a
    face's order in the turned frame (:func:`plausible_landmarks`)."""

    turns: tuple[int, ...] = TURNS
    min_score: float | None = None
    plausible: bool = False

    def accepted(self, faces: DetectedFaces) -> np.ndarray:
        """A mask of ``faces`` (found in a turned photo, its coordinates) that count."""
        keep = np.ones(len(faces), bool)
        if self.min_score is not None:
            keep &= faces.scores >= self.min_score
        if self.plausible:
            keep &= np.array([plausible_landmarks(points) for points in faces.landmarks], bool).reshape(-1)
        return keep


# ``FaceOptions.turned``: every face of the first turn that has one.
ANY_TURNED_FACE = TurnRule()
# ``FaceOptions.face_expected``: see EXPECTED_TURNS.
EXPECTED_TURNED_FACE = TurnRule(EXPECTED_TURNS, EXPECTED_TURNED_MIN_SCORE, plausible=True)


def plausible_landmarks(points: np.ndarray) -> bool:
    """Do YuNet's five points (eyes, nose tip, mouth corners; image left first) sit as on an
    upright face: the nose between the eyes, the eyes above the nose above the mouth."""
    left, right, nose, mouth_left, mouth_right = points.astype(np.float64)
    eyes_y, mouth_y = (left[1] + right[1]) / 2, (mouth_left[1] + mouth_right[1]) / 2
    return bool(left[0] < nose[0] < right[0] and eyes_y < nose[1] < mouth_y)


class YuNetDetector:
    """YuNet on a Runner. ``detect`` has the dlib detectors' signature; ``detect_faces`` also
    returns the landmarks."""

    kind = "yunet"

    def __init__(
        self,
        runner: Runner,
        spec: ModelSpec,
        *,
        score_threshold: float = SCORE_THRESHOLD,
        nms_threshold: float = NMS_THRESHOLD,
        top_k: int = TOP_K,
    ):
        pre = spec.preprocess
        if pre is None or pre.resize is not Resize.LETTERBOX:
            raise ValueError(f"model {spec.name} does not declare a letterbox input")
        # OpenCV (~80 ms to import) resizes nearly every photo to the network's size: imported
        # with the model, not at the first search, so a caller that builds the detector while a
        # photo decodes (``faces verify``'s first photo) has it by the time the photo is ready.
        import cv2  # noqa: F401
        self.runner = runner
        self.preprocess = pre
        # The heads' strides: outputs cls_8 ... kps_32 hold one row per cell of each grid.
        self.strides = tuple(int(s) for s in str(spec.architecture["strides"]).split(","))
        # Sides the graph also runs at (0: the square only), and the zeros kept below and right
        # of a photo searched without the square; see the module doc.
        self.size_multiple = int(spec.architecture.get("size_multiple", 0))
        self.edge_margin = EDGE_MARGIN
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.top_k = top_k

    def detect(self, image: np.ndarray, upsample: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (n, 4) xyxy and scores (n,), as ``FaceDetectorModel.detect`` returns them."""
        faces = self.detect_faces(image, upsample)
        return faces.boxes, faces.scores

    def detect_faces(self, image: np.ndarray, upsample: int = 0, *, square: bool = True) -> DetectedFaces:
        """Faces in an RGB uint8 photo. The photo is shrunk to fit the network's square, or
        enlarged up to ``2 ** upsample`` times when it is smaller (finds smaller faces); then
        padded to the square, or with ``square=False`` only to the next multiple of 32 and a
        margin (see the module doc)."""
        fitted = self._fit(image, upsample)
        return _scaled_back(self._search(fitted, square), image, fitted)

    def detect_faces_turned(
        self, image: np.ndarray, upsample: int = 0, rule: TurnRule = ANY_TURNED_FACE, *, square: bool = True
    ) -> DetectedFaces:
        """:meth:`detect_faces`; when it finds nothing, the same on the photo turned by each of
        ``rule.turns`` until one finds a face the rule accepts (boxes and landmarks mapped back
        to the photo; the landmarks keep their order on the face, so the aligned chip is
        upright). The photo is fitted to the network once and that small copy is turned: at
        most three more network runs, only where the upright photo has no face, and no copy of
        a large photo."""
        fitted = self._fit(image, upsample)
        found = self._search(fitted, square)
        h, w = fitted.shape[:2]
        for turns in rule.turns if not len(found) else ():
            found = self._search(np.ascontiguousarray(np.rot90(fitted, turns)), square)
            keep = rule.accepted(found)
            found = DetectedFaces(found.boxes[keep], found.landmarks[keep], found.scores[keep])
            if len(found):
                corners = unturn(found.boxes.reshape(-1, 2, 2), turns, w, h)
                boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
                found = DetectedFaces(boxes, unturn(found.landmarks, turns, w, h), found.scores)
                break
        return _scaled_back(found, image, fitted)

    def _fit(self, image: np.ndarray, upsample: int) -> np.ndarray:
        """The photo resized to fit the network's square (not yet padded)."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("YuNet needs an RGB uint8 array of shape (H, W, 3)")
        h, w = image.shape[:2]
        size = self.preprocess.input_size
        scale = letterbox_scale(w, h, size, upsample)
        return _resize(image, max(1, min(size, round(w * scale))), max(1, min(size, round(h * scale))))

    def _search(self, fitted: np.ndarray, square: bool) -> DetectedFaces:
        """Faces in a fitted photo (at most the network's square), in its pixels; padded with
        zeros at the right and bottom as OpenCV pads: to the square, or to the next multiple
        of the graph's size multiple plus ``edge_margin``, at most the square."""
        size = height = width = self.preprocess.input_size
        if not square and self.size_multiple:
            m = self.size_multiple
            height = min(size, -(-fitted.shape[0] // m) * m + self.edge_margin)
            width = min(size, -(-fitted.shape[1] // m) * m + self.edge_margin)
        padded = np.zeros((height, width, 3), np.uint8)
        padded[: fitted.shape[0], : fitted.shape[1]] = fitted
        outputs = self.runner.run({self.runner.input_names[0]: to_tensor(padded[None], self.preprocess)})
        return self._decode(outputs, width)

    def _decode(self, outputs: dict[str, np.ndarray], width: int) -> DetectedFaces:
        """The faces in the network's outputs for an input ``width`` pixels wide."""
        rows = []
        for stride in self.strides:
            cols = width // stride
            cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0.0, 1.0)
            obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0.0, 1.0)
            score = np.sqrt(cls * obj)
            idx = np.flatnonzero(score >= self.score_threshold)
            if len(idx) == 0:
                continue
            cell = np.stack([idx % cols, idx // cols], axis=1).astype(np.float32)  # (c, r)
            bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[idx]
            kps = outputs[f"kps_{stride}"].reshape(-1, 5, 2)[idx]
            centre = (cell + bbox[:, :2]) * stride
            wh = np.exp(bbox[:, 2:]) * stride
            landmarks = (kps + cell[:, None, :]) * stride
            rows.append((np.concatenate([centre - wh / 2, wh], axis=1), landmarks, score[idx]))
        if not rows:
            return DetectedFaces.empty(POINTS)
        xywh = np.concatenate([r[0] for r in rows]).astype(np.float32)
        landmarks = np.concatenate([r[1] for r in rows]).astype(np.float32)
        scores = np.concatenate([r[2] for r in rows]).astype(np.float32)
        keep = nms_boxes(xywh, scores, self.score_threshold, self.nms_threshold, self.top_k) if len(scores) > 1 else [0]
        boxes = np.concatenate([xywh[keep, :2], xywh[keep, :2] + xywh[keep, 2:]], axis=1)
        return DetectedFaces(boxes.astype(np.float32), landmarks[keep], scores[keep])


def nms_boxes(
    xywh: np.ndarray, scores: np.ndarray, score_threshold: float, nms_threshold: float, top_k: int
) -> list[int]:
    """``cv::dnn::NMSBoxes`` for ``Rect2i`` boxes: boxes truncated to integers, candidates over
    the threshold by descending score (ties in input order), at most ``top_k`` of them, each
    kept unless it overlaps a kept box by more than ``nms_threshold`` (IoU of the integer
    rectangles)."""
    rects = np.trunc(xywh).astype(np.int64)
    order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > score_threshold][:top_k]
    kept: list[int] = []
    for i in order:
        if all(_rect_iou(rects[i], rects[j]) <= nms_threshold for j in kept):
            kept.append(i)
    return kept


def _rect_iou(a: np.ndarray, b: np.ndarray) -> float:
    """OpenCV's ``rectOverlap`` of two integer (x, y, w, h) rectangles."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(x1 - x0, 0) * max(y1 - y0, 0) if x1 > x0 and y1 > y0 else 0
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if (width, height) == (image.shape[1], image.shape[0]):
        return image
    import cv2  # here, not at import: `import ocula` stays light (cv2 resizes; no OpenCV DNN)

    shrinking = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _scaled_back(faces: DetectedFaces, image: np.ndarray, fitted: np.ndarray) -> DetectedFaces:
    """``faces`` found in ``fitted`` (``image`` resized) in ``image``'s pixels: each axis by the
    scale it was actually resized with."""
    if len(faces) == 0:
        return faces
    back = np.array([image.shape[1] / fitted.shape[1], image.shape[0] / fitted.shape[0]], np.float32)
    return DetectedFaces(faces.boxes * np.tile(back, 2), faces.landmarks * back, faces.scores)


def unturn(points: np.ndarray, turns: int, width: int, height: int) -> np.ndarray:
    """Points (..., 2) (x, y) found in ``np.rot90(photo, turns)`` in the coordinates of
    ``photo`` (``width`` x ``height``); pixel edges, not centres: 0 and the side are the borders."""
    x, y = points[..., 0], points[..., 1]
    turns %= 4
    if turns == 1:  # counter-clockwise: the photo's right edge is the turned photo's top
        back = (width - y, x)
    elif turns == 2:
        back = (width - x, height - y)
    elif turns == 3:  # clockwise: the photo's left edge is the turned photo's top
        back = (y, height - x)
    else:
        back = (x, y)
    return np.stack(back, axis=-1).astype(np.float32)


def letterbox_scale(width: int, height: int, size: int, upsample: int) -> float:
    """The factor a ``width`` x ``height`` photo is resized by to fit a ``size`` square."""
    return min(size / width, size / height, math.pow(2.0, upsample))
