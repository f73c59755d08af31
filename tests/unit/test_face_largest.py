"""One definition of "the largest face": when verification's native-scale-first search finds faces
too close in size to rank, it picks the one the full search (``faces detect``'s) lists first; on a
fake detector."""

from __future__ import annotations

import numpy as np
import pytest

from ocula.errors import InputError
from ocula.pipelines.faces import FaceAnalyzer, FaceOptions


class ScaleDependentDetector:
    """Two faces; at native scale the left box is the larger, upsampled the right one is (HOG's
    box sizes depend on the scale, as in two_people.jpg)."""

    kind = "hog"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def detect(self, image, upsample):
        self.calls.append(upsample)
        if upsample == 0:
            boxes = [[240, 60, 395, 212], [792, 95, 942, 245]]  # left 155x152, right 150x150
        else:
            boxes = [[253, 47, 409, 203], [778, 57, 965, 243]]  # left 156x156, right 187x186
        return np.array(boxes, np.float32), np.ones(2, np.float32)


def analyzer(detector) -> FaceAnalyzer:
    return FaceAnalyzer((detector,), landmarks5=None, embedder=None, alignment=None)  # type: ignore[arg-type]


def test_largest_only_picks_the_face_the_full_search_lists_first():
    image = np.zeros((661, 1126, 3), np.uint8)
    full, _ = analyzer(ScaleDependentDetector()).detect(image, FaceOptions())
    assert full[0].tolist() == [778, 57, 965, 243]  # detect's face 0: the right one
    det = ScaleDependentDetector()
    largest, _ = analyzer(det).detect(image, FaceOptions(largest_only=True))
    # The same face, with its native-scale box (verification's calibration was measured on those).
    assert largest.tolist() == [[792, 95, 942, 245]]
    assert det.calls == [0, 1]


def test_one_face_at_native_scale_needs_no_second_search():
    class OneFace(ScaleDependentDetector):
        def detect(self, image, upsample):
            self.calls.append(upsample)
            return np.array([[50, 50, 150, 150]], np.float32), np.ones(1, np.float32)

    det = OneFace()
    largest, _ = analyzer(det).detect(np.zeros((400, 600, 3), np.uint8), FaceOptions(largest_only=True))
    assert largest.tolist() == [[50, 50, 150, 150]] and det.calls == [0]


def test_a_clearly_larger_native_face_needs_no_second_search():
    class BigAndSmall(ScaleDependentDetector):
        def detect(self, image, upsample):
            self.calls.append(upsample)
            boxes = [[300, 50, 400, 150], [50, 50, 200, 200]]  # 100x100 and 150x150: not a tie
            return np.array(boxes, np.float32), np.ones(2, np.float32)

    det = BigAndSmall()
    largest, _ = analyzer(det).detect(np.zeros((400, 600, 3), np.uint8), FaceOptions(largest_only=True))
    assert largest.tolist() == [[50, 50, 200, 200]] and det.calls == [0]


def test_yunets_face_0_is_the_largest_of_the_confident_faces():
    from ocula.pipelines.faces import FACE0_SCORE_MARGIN, face_order

    areas = np.array([100.0, 400.0, 50.0, 300.0])
    # A big weak face (a poster, a false face) does not beat a smaller confident one; the others
    # follow, largest first.
    scores = np.array([0.95, 0.70, 0.90, 0.80])
    assert face_order(areas, scores, score_aware=True).tolist() == [0, 1, 3, 2]
    # Faces all about as confident: the largest, as for dlib's detectors.
    close = np.array([0.93, 0.93 - FACE0_SCORE_MARGIN, 0.92, 0.91])
    assert face_order(areas, close, score_aware=True).tolist() == [1, 3, 0, 2]
    assert face_order(areas, scores, score_aware=False).tolist() == [1, 3, 0, 2]
    assert face_order(areas[:1], scores[:1], score_aware=True).tolist() == [0]


def test_contenders_for_face_0_are_the_faces_nearly_as_certain_as_the_best():
    from ocula.pipelines.faces import FACE0_SCORE_MARGIN, contenders

    scores = np.array([0.94, 0.63, 0.69, 0.94 - FACE0_SCORE_MARGIN])
    assert contenders(scores, score_aware=True).tolist() == [True, False, False, True]
    assert contenders(scores, score_aware=False).all()  # dlib's scores: every face
    assert contenders(np.zeros(0), score_aware=True).tolist() == []


def test_enrolment_refuses_when_a_larger_face_scores_lower_than_face_0():
    """Review of issue 17: with YuNet, face 0 is the largest of the confident faces, so a smaller
    frontal bystander (0.93) comes before a large, turned subject (0.86). Enrolment must not take
    the bystander under the subject's name: a face at least as large as face 0 stays a rival.
    A smaller, much less certain face (a face in a painting behind) is still no rival."""
    from ocula.face_types import Faces, QualityGate
    from ocula.galleries.enrolment import choose_face

    def faces(boxes, scores):
        n = len(boxes)
        return Faces(np.array(boxes, np.float32), np.array(scores, np.float32), np.zeros((n, 5, 2), np.float32),
                     np.full(n, 60, np.float32), np.full(n, 0.01, np.float32), np.full(n, 0.9, np.float32),
                     landmark_layout="yunet5")  # fmt: skip

    bystander_first = faces([[0, 0, 60, 60], [100, 0, 400, 300]], [0.93, 0.86])
    with pytest.raises(InputError, match="2 usable faces"):
        choose_face(bystander_first, None, QualityGate(), "photo.jpg")
    painting_behind = faces([[100, 0, 400, 300], [0, 0, 60, 60]], [0.94, 0.66])
    assert choose_face(painting_behind, None, QualityGate(), "photo.jpg") == 0
