"""Can a turned YuNet search (``FaceOptions.turned``) be accepted without false faces?

When YuNet finds no face upright, ``detect_faces_turned`` searches the 640-px copy turned by
``TURNS``. That finds celeba-80's one YuNet miss (7245/185156, a head tilted steeply) but also
false faces on face-free photos. This script measures candidate acceptance rules for a turned
face: a minimum score and landmark plausibility (nose between the eyes, eyes above nose above
mouth, mouth-to-eyes distance over the eye distance within bounds).

Face-free photos: ``benchmarks/data/face_free.txt`` (hand-checked) and the photos of
``imagenet/sample-334`` with no upright YuNet face, deduplicated, split in two halves by a hash of
the path: rules are tuned on half 0 and reported on half 1. The real-face geometry comes from the
upright YuNet faces of celeba-80 (score >= 0.8).

    python benchmarks/turned_search.py
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from face_detectors import DATA, LISTS, load_entry, read_list

POSITIVE = "faces/celeba-80/images/7245/185156.jpg"
SCORES = (0.6, 0.65, 0.7, 0.75, 0.8, 0.83)
RATIO_BOUNDS = ((0.0, 99.0), (0.7, 1.2), (0.75, 1.05))


@dataclass(frozen=True)
class TurnedFace:
    score: float
    plausible_order: bool  # nose between the eyes, eyes above nose above mouth (turned frame)
    mouth_ratio: float  # (mouth y - eyes y) / eye distance


def turned_faces(detector, image: np.ndarray) -> list[TurnedFace] | None:
    """None when YuNet finds a face upright (the turned search never runs); else the faces of
    every turn: with an acceptance rule, a turn whose faces are all refused moves the search on
    to the next turn (``detect_faces_turned`` today stops at the first turn with any face)."""
    from ocula.pipelines.yunet import TURNS

    fitted = detector._fit(image, 0)  # the same fitted copy detect_faces_turned turns
    if len(detector._search(fitted)):
        return None
    faces = []
    for turns in TURNS:
        found = detector._search(np.ascontiguousarray(np.rot90(fitted, turns)))
        faces += [describe(float(s), lm.astype(float)) for s, lm in zip(found.scores, found.landmarks, strict=True)]
    return faces


def describe(score: float, landmarks: np.ndarray) -> TurnedFace:
    left, right, nose, mouth_left, mouth_right = landmarks
    eyes_y, mouth_y = (left[1] + right[1]) / 2, (mouth_left[1] + mouth_right[1]) / 2
    eye_distance = max(float(np.hypot(*(right - left))), 1e-6)
    order = bool(left[0] < nose[0] < right[0] and eyes_y < nose[1] < mouth_y)
    return TurnedFace(score, order, float((mouth_y - eyes_y) / eye_distance))


def accepted(faces: list[TurnedFace], min_score: float, bounds: tuple[float, float]) -> bool:
    return any(f.score >= min_score and f.plausible_order and bounds[0] <= f.mouth_ratio <= bounds[1] for f in faces)


def face_free_entries() -> list[str]:
    hand_checked = read_list(LISTS / "face_free.txt")
    sample = sorted(str(p.relative_to(DATA)) for p in (DATA / "imagenet" / "sample-334").rglob("*.JPEG"))
    return list(dict.fromkeys(hand_checked + sample))


def half_of(entry: str) -> int:
    return int(hashlib.sha256(entry.encode()).hexdigest(), 16) % 2


def real_face_ratios(detector) -> np.ndarray:
    from PIL import Image

    ratios = []
    for path in sorted((DATA / "faces" / "celeba-80" / "images").rglob("*.jpg")):
        with Image.open(path) as image:
            found = detector.detect_faces(np.asarray(image.convert("RGB")))
        confident = zip(found.scores, found.landmarks, strict=True)
        ratios += [describe(float(s), lm.astype(float)).mouth_ratio for s, lm in confident if s >= 0.8]
    return np.array(ratios)


def main() -> None:
    from ocula import Engine, Settings

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    with Engine(Settings()) as engine:
        detector = engine.face_detector("yunet")
        positive = turned_faces(detector, load_entry(POSITIVE)) or []
        halves: dict[int, list[list[TurnedFace]]] = {0: [], 1: []}
        counts = {0: 0, 1: 0}
        for entry in face_free_entries():
            faces = turned_faces(detector, load_entry(entry))
            if faces is not None:  # no upright face: the turned search runs
                counts[half_of(entry)] += 1
                halves[half_of(entry)].append(faces)
        print(f"{POSITIVE}: turned faces {positive}")
        print(f"face-free photos searched turned: tune {counts[0]}, held-out {counts[1]}")
        for min_score in SCORES:
            for bounds in RATIO_BOUNDS:
                false = [sum(accepted(f, min_score, bounds) for f in halves[h]) for h in (0, 1)]
                print(f"score >= {min_score}, mouth/eyes in {bounds}: keeps the positive "
                      f"{accepted(positive, min_score, bounds)}; false faces tune {false[0]}, held-out {false[1]}")
        ratios = real_face_ratios(detector)
        print(f"celeba-80 upright faces (score >= 0.8, n={len(ratios)}) mouth/eyes percentiles 1/5/50/95/99:",
              np.round(np.percentile(ratios, [1, 5, 50, 95, 99]), 3))


if __name__ == "__main__":
    main()
