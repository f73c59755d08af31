"""Faces/FaceResult/Verification: checked arrays, slicing, the quality gate, JSON records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ocula import FaceResult, Faces, NoFaceFound, QualityGate
from ocula.face_types import Face
from ocula.pipelines.face_quality import chip_sharpness, eye_distance, frontal_score


def _landmarks(cx: float, cy: float, eye: float, nose_shift: float = 0.0) -> np.ndarray:
    # dlib's 5 points: one eye's two corners, the other eye's two corners, the nose base.
    return np.array(
        [
            [cx + eye / 2 + 8, cy],
            [cx + eye / 2 - 8, cy],
            [cx - eye / 2 - 8, cy],
            [cx - eye / 2 + 8, cy],
            [cx + nose_shift, cy + eye / 2],
        ],
        np.float32,
    )


def make_faces(n: int = 3) -> Faces:
    f = np.float32
    return Faces(
        boxes=np.array([[10 * i, 0, 10 * i + 50 - 10 * i, 60] for i in range(n)], f),
        scores=np.arange(n, dtype=f),
        landmarks=np.stack([_landmarks(30, 30, 20)] * n),
        size=np.array([50, 15, 30][:n], f),
        sharpness=np.array([0.01, 0.01, 0.0001][:n], f),
        frontal=np.array([0.9, 0.9, 0.9][:n], f),
        embeddings=np.eye(n, 128, dtype=f),
        image_size=(200, 100),
    )


def test_checked_shapes_and_dtypes():
    faces = make_faces()
    with pytest.raises(ValueError, match="scores"):
        Faces(faces.boxes, faces.scores[:2], faces.landmarks, faces.size, faces.sharpness, faces.frontal)
    with pytest.raises(ValueError, match="boxes"):
        Faces(faces.boxes.astype(np.float64), faces.scores, faces.landmarks, faces.size, faces.sharpness, faces.frontal)
    with pytest.raises(ValueError, match="embeddings"):
        Faces(
            faces.boxes,
            faces.scores,
            faces.landmarks,
            faces.size,
            faces.sharpness,
            faces.frontal,
            embeddings=np.zeros((2, 128), np.float32),
        )


def test_slicing_with_masks_indices_and_ints():
    faces = make_faces()
    big = faces[faces.size >= 30]
    assert isinstance(big, Faces) and len(big) == 2 and big.size.tolist() == [50, 30]
    assert big.embeddings.shape == (2, 128) and big.image_size == (200, 100)
    one = faces[1]  # an int: one Face record, as tags[1] is one Tag
    assert isinstance(one, Face) and one.score == 1.0 and one.embedding.shape == (128,)
    assert one.to_dict() == faces.to_dicts()[1] and one.usable() == bool(faces.usable()[1])
    assert isinstance(faces[[1]], Faces) and len(faces[[1]]) == 1 and faces[[1]].scores.tolist() == [1.0]
    assert [f.score for f in faces] == [0.0, 1.0, 2.0] and faces[-1].score == 2.0
    with pytest.raises(IndexError):
        faces[3]
    assert len(faces[[2, 0]]) == 2 and faces[[2, 0]].scores.tolist() == [2.0, 0.0]
    empty = Faces.empty((5, 5), embedding_dim=128)
    assert len(empty) == 0 and empty.embeddings.shape == (0, 128) and empty.to_dicts() == []


def test_quality_gate():
    faces = make_faces()
    assert faces.usable().tolist() == [True, False, False]  # too small; too blurred
    assert faces.usable(QualityGate(min_size=0, min_sharpness=0, min_frontal=0)).all()


def test_json_records():
    faces = make_faces(2)
    records = faces.to_dicts()
    assert set(records[0]) == {"box", "score", "landmarks", "landmark_layout", "quality"}
    assert set(records[0]["quality"]) == {"size", "sharpness", "frontal"} and len(records[0]["landmarks"]) == 5
    ok = FaceResult("a.jpg", faces=faces).to_dict()
    assert ok["width"] == 200 and ok["height"] == 100 and len(ok["faces"]) == 2
    bad = FaceResult("b.jpg", error=NoFaceFound("b.jpg")).to_dict()
    assert bad == {"path": "b.jpg", "error": "b.jpg: no face found", "error_type": "NoFaceFound"}
    json.dumps([ok, bad])


def test_frontal_score_and_eye_distance():
    frontal = _landmarks(100, 100, 40)[None]
    turned = _landmarks(100, 100, 40, nose_shift=15)[None]
    profile = _landmarks(100, 100, 40, nose_shift=30)[None]
    assert frontal_score(frontal)[0] == pytest.approx(1.0)
    assert frontal_score(turned)[0] == pytest.approx(0.25, abs=1e-3)
    assert frontal_score(profile)[0] == 0.0
    assert eye_distance(frontal)[0] == pytest.approx(40.0)


def test_sharpness_drops_with_blur():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (1, 150, 150, 3)).astype(np.uint8)
    flat = np.full((1, 150, 150, 3), 120, np.uint8)
    blurred = (
        (sharp.astype(np.float32) + np.roll(sharp, 1, 1) + np.roll(sharp, 1, 2) + np.roll(sharp, 2, 1)) / 4
    ).astype(np.uint8)
    s = chip_sharpness(np.concatenate([sharp, blurred, flat]))
    assert s[0] > s[1] > s[2] == 0


def test_verification_repr_is_short_and_names_the_compared_boxes():
    from ocula import Verification

    faces = make_faces()
    result = Verification(True, 0.91234, 0.849, 1e-3, 1e-5, faces[[0]], faces[[1]], index_a=0, index_b=1)
    text = repr(result)
    assert len(text) < 300 and "array" not in text, text  # no 128-D descriptors
    for part in ("same=True", "similarity=0.9123", "threshold=0.8490", "fmr=0.001", "box_a=[0.0, 0.0, 50.0, 60.0]"):
        assert part in text, text
    record = result.to_dict()
    assert record["face_a"] == 0 and record["face_b"] == 1
    assert record["box_a"] == [0.0, 0.0, 50.0, 60.0] and record["box_b"] == [10.0, 0.0, 50.0, 60.0]
    json.dumps(record)


def test_quality_reads_yunets_landmark_layout():
    from ocula.pipelines.face_quality import eye_distance, frontal_score

    # YuNet: eye centres, nose tip, mouth corners. A frontal face, then the nose over one eye.
    frontal = np.array([[[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]]], np.float32)
    turned = frontal.copy()
    turned[0, 2] = [80, 70]
    assert eye_distance(frontal, "yunet5")[0] == 40 and frontal_score(frontal, "yunet5")[0] == 1
    assert frontal_score(turned, "yunet5")[0] == 0
    with pytest.raises(ValueError, match="layout"):
        eye_distance(frontal, "dlib68")
