"""The rule a face found turned must pass where the caller asserts a face (yunet.TurnRule)."""

from __future__ import annotations

import numpy as np

from ocula.pipelines.yunet import EXPECTED_TURNED_FACE, DetectedFaces, plausible_landmarks

# Eyes, nose tip, mouth corners of an upright face (image left first).
UPRIGHT = np.array([[30, 40], [70, 40], [50, 60], [35, 76], [65, 76]], np.float32)


def _faces(points: list[np.ndarray], scores: list[float]) -> DetectedFaces:
    n = len(points)
    return DetectedFaces(np.zeros((n, 4), np.float32), np.stack(points), np.array(scores, np.float32))


def test_points_sit_as_on_an_upright_face_or_not():
    assert plausible_landmarks(UPRIGHT)
    assert not plausible_landmarks(UPRIGHT[[1, 0, 2, 4, 3]])  # eyes swapped: the nose is not between them
    assert not plausible_landmarks(UPRIGHT * [1, -1])  # upside down: the mouth above the eyes
    nose_low = UPRIGHT.copy()
    nose_low[2, 1] = 90  # the nose below the mouth
    assert not plausible_landmarks(nose_low)
    assert not plausible_landmarks(np.repeat(UPRIGHT[:1], 5, axis=0))  # all in one point


def test_the_expected_face_rule_keeps_confident_plausible_faces_only():
    faces = _faces([UPRIGHT, UPRIGHT, UPRIGHT * [1, -1]], [0.83, 0.79, 0.95])
    assert EXPECTED_TURNED_FACE.accepted(faces).tolist() == [True, False, False]
    assert 2 not in EXPECTED_TURNED_FACE.turns  # never upside down
