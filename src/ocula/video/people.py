"""Counting people on a frame: OpenCV's HOG people detector, plus faces outside every body.

The HOG detector (Dalal & Triggs, trained on upright pedestrians, INRIA) ships inside
opencv-python-headless 4.x, so it needs no download. Its limits, measured on
``intel_sample_videos/one-by-one-person-detection.mp4``:

- It finds upright, mostly whole people, seen from the front or back. Sitting, lying, heavily
  occluded or cut-off people, and people in a dense crowd, are missed; faces fill part of that gap
  (a face outside every body box counts as a person), but only for faces turned to the camera.
- Its 64x128 window fits people about 96 px tall. The frame is resized so a person of
  ``min_height`` of the frame height is that tall (default 0.5: people at least half the frame's
  height). Smaller values find smaller people, cost more and find more false people.
- The frame gets a replicated border before detection, so people cut by the frame edge (feet or
  head outside) are still found; without it the test clip's count dropped to 0 for most people.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .tracking import box_iou

__all__ = ["PeopleDetector"]

#: Height in px of a person in the HOG window (64x128, INRIA's margins).
HOG_PERSON_PX = 96
#: Detector confidence (SVM margin) a window needs.
HIT_THRESHOLD = 0.3


class PeopleDetector:
    def __init__(self, min_height: float = 0.5):
        import cv2

        if not 0.05 <= min_height <= 1.0:
            raise InputError("the smallest person to count is a fraction of the frame height from 0.05 to 1")
        self._cv2 = cv2
        self.min_height = min_height
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor.getDefaultPeopleDetector())

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        """Boxes (n, 4) xyxy in the frame's pixels, overlapping detections merged."""
        cv2 = self._cv2
        h = rgb.shape[0]
        scale = min(1.0, HOG_PERSON_PX / (self.min_height * h))
        work = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        wh, ww = work.shape[:2]
        py, px = wh // 4, ww // 8
        work = cv2.copyMakeBorder(work, py, py, px, px, cv2.BORDER_REPLICATE)
        rects, weights = self._hog.detectMultiScale(
            work, hitThreshold=HIT_THRESHOLD, winStride=(4, 4), padding=(8, 8), scale=1.05
        )
        if len(rects) == 0:
            return np.zeros((0, 4), np.float32)
        boxes = np.asarray(rects, np.float64).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        boxes -= [px, py, px, py]
        boxes /= scale
        keep = _merge(boxes, np.ravel(weights))
        return boxes[keep].astype(np.float32)

    @staticmethod
    def count_with(bodies: np.ndarray, face_boxes: np.ndarray) -> tuple[int, int]:
        """(bodies, faces whose centre is outside every body box) on one frame."""
        faces = np.asarray(face_boxes, np.float64).reshape(-1, 4)
        if len(faces) and len(bodies):
            cx, cy = (faces[:, 0] + faces[:, 2]) / 2, (faces[:, 1] + faces[:, 3]) / 2
            inside = (
                (cx[:, None] >= bodies[None, :, 0])
                & (cx[:, None] <= bodies[None, :, 2])
                & (cy[:, None] >= bodies[None, :, 1])
                & (cy[:, None] <= bodies[None, :, 3])
            )
            faces = faces[~inside.any(axis=1)]
        return len(bodies), len(faces)


def _merge(boxes: np.ndarray, weights: np.ndarray, overlap: float = 0.5) -> list[int]:
    """Greedy suppression: drop a box whose overlap with a stronger kept one covers more than
    ``overlap`` of the smaller box (HOG fires on one person at several nested scales)."""
    order = np.argsort(-weights, kind="stable")
    keep: list[int] = []
    for i in order:
        if keep:
            k = boxes[keep]
            iou = box_iou(boxes[i : i + 1], k)[0]
            area_i = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
            area_k = (k[:, 2] - k[:, 0]) * (k[:, 3] - k[:, 1])
            inter = iou * (area_i + area_k) / (1 + iou)
            if np.any(inter / np.minimum(area_i, area_k) > overlap):
                continue
        keep.append(int(i))
    return keep
