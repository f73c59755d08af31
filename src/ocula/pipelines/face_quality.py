"""Face quality measures computed from 5-point landmarks and the aligned chip.

Two five-point layouts are read: ``dlib5`` (dlib's shape predictor: 0-1 the corners of one
eye, 2-3 the other's, 4 the base of the nose) and ``yunet5`` (YuNet's: 0 and 1 the eye
centres, 2 the nose tip, 3-4 the mouth corners).

They are cheap (well under a millisecond per face) and each predicts a kind of bad comparison:
small faces (``size``), blur or heavy compression (``sharpness``) and turned heads (``frontal``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["LAYOUTS", "chip_sharpness", "eye_centres", "eye_distance", "frontal_score", "nose"]


LAYOUTS = ("dlib5", "yunet5")


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown landmark layout {layout!r}; expected one of {LAYOUTS}")


def eye_centres(landmarks: np.ndarray, layout: str = "dlib5") -> tuple[np.ndarray, np.ndarray]:
    """Centres of the two eyes: the means of each eye's corners (``dlib5``) or the points
    themselves (``yunet5``)."""
    _check_layout(layout)
    if layout == "yunet5":
        return landmarks[:, 0], landmarks[:, 1]
    return landmarks[:, 0:2].mean(axis=1), landmarks[:, 2:4].mean(axis=1)


def nose(landmarks: np.ndarray, layout: str = "dlib5") -> np.ndarray:
    """The nose point: its base (``dlib5``) or its tip (``yunet5``)."""
    _check_layout(layout)
    return landmarks[:, 2] if layout == "yunet5" else landmarks[:, 4]


def eye_distance(landmarks: np.ndarray, layout: str = "dlib5") -> np.ndarray:
    a, b = eye_centres(landmarks, layout)
    return np.linalg.norm(a - b, axis=1).astype(np.float32)


def frontal_score(landmarks: np.ndarray, layout: str = "dlib5") -> np.ndarray:
    """1 when the nose projects onto the midpoint between the eyes, 0 when it projects
    onto an eye or beyond (a profile view): ``1 - |offset| / (eye distance / 2)``."""
    a, b = eye_centres(landmarks, layout)
    axis = b - a
    half = np.linalg.norm(axis, axis=1) / 2
    unit = axis / np.maximum(2 * half, 1e-6)[:, None]
    offset = np.einsum("ij,ij->i", nose(landmarks, layout) - (a + b) / 2, unit)
    score = np.clip(1 - np.abs(offset) / np.maximum(half, 1e-6), 0, 1)
    # Eyes on top of each other: no pose can be read off the landmarks, so no credit.
    return np.where(half < 0.5, 0.0, score).astype(np.float32)


def chip_sharpness(chips: np.ndarray) -> np.ndarray:
    """Variance of the 4-neighbour Laplacian over the central half of each gray chip, with
    intensities in [0, 1]. The centre holds the eyes, nose and mouth; the border is context."""
    if len(chips) == 0:
        return np.zeros((0,), np.float32)
    gray = chips.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
    s = gray.shape[1]
    c = gray[:, s // 4 : s - s // 4, s // 4 : s - s // 4]
    lap = c[:, 1:-1, :-2] + c[:, 1:-1, 2:] + c[:, :-2, 1:-1] + c[:, 2:, 1:-1] - 4 * c[:, 1:-1, 1:-1]
    return lap.reshape(len(chips), -1).var(axis=1).astype(np.float32)
