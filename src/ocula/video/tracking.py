"""Face tracks across frames, and who each track is.

A face on a new frame continues the track whose last box it overlaps and whose descriptor it
resembles; a face that resembles a recently lost track strongly enough continues it even where
the boxes do not overlap (a missed detection, a quick move). Identity is decided per track, not
per frame: the median similarity to a person over the track's best observations (usable faces
first, then larger ones) must reach the gallery's threshold, over at least ``MIN_OBSERVATIONS``
frames. One blurred or turned frame can then neither name a stranger nor hide a known face, and
an appearance gives one alert instead of one per frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..face_types import Faces
from ..pipelines.calibration import CalibrationTable
from ..pipelines.faces import similarity

__all__ = ["FaceTracker", "Observation", "Track", "box_iou", "tracking_similarities"]

#: A track is decided (named or unknown) once it has this many observations.
MIN_OBSERVATIONS = 2
#: Observations kept per track for the identity decision.
BEST_OBSERVATIONS = 5
#: Continue a track: boxes overlap this much and descriptors are at least this similar ...
MIN_IOU, MIN_SIMILARITY_NEAR = 0.2, 0.8
#: ... or, anywhere in the frame, descriptors this similar (FMR about 1e-4 on celeba-80).
#: The same face on successive analysed frames (0.2 s apart) of the Hamilton clip scored 0.90-0.98;
#: with 0.6 a shot cut continued a named track onto an audience face at the same place.
MIN_SIMILARITY_FAR = 0.88
#: The false-match rates those two similarities have in dlib's shipped calibration (0.809 at
#: 1e-2, 0.878 at 1e-4): another descriptor's tracker uses its own thresholds at these rates.
TRACK_NEAR_FMR, TRACK_FAR_FMR = 1e-2, 1e-4
#: A named track whose new face is this far below the decision threshold (for its person) is
#: not continued: the face belongs to someone else.
NAMED_DROP = 0.1


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (n, 4) with every box in ``b`` (m, 4), xyxy."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class Observation:
    t: float
    box: np.ndarray
    usable: bool
    size: float  # eye distance, px
    similarities: dict[str, float]  # gallery person -> similarity (the candidates found)


@dataclass
class Track:
    id: int
    first_t: float
    last_t: float
    box: np.ndarray
    embedding: np.ndarray
    seen: int = 1
    best: list[Observation] = field(default_factory=list)
    person: str | None = None  # set once, when the track is named
    similarity: float | None = None  # the decision's median similarity (best candidate if unknown)
    decided: bool = False

    def add(self, obs: Observation) -> None:
        self.best.append(obs)
        self.best.sort(key=lambda o: (o.usable, o.size), reverse=True)
        del self.best[BEST_OBSERVATIONS:]

    def decide(self, threshold: float | None) -> None:
        """Name the track if the median similarity to one person reaches ``threshold``."""
        if self.seen < MIN_OBSERVATIONS or self.person is not None:
            return
        self.decided = True
        people = {p for o in self.best for p in o.similarities}
        if not people or threshold is None:
            return
        medians = {p: float(np.median([o.similarities.get(p, -1.0) for o in self.best])) for p in people}
        person = max(medians, key=medians.__getitem__)
        self.similarity = medians[person]
        if medians[person] >= threshold:
            self.person = person


class FaceTracker:
    """Tracks of the faces of successive analysed frames.

    ``timeout``: seconds a track may go unseen and still be continued. ``near`` and ``far``:
    the similarities that continue a track nearby and anywhere (default: dlib's descriptor's
    ``MIN_SIMILARITY_NEAR`` and ``MIN_SIMILARITY_FAR``; another descriptor's come from its
    calibration, see :func:`tracking_similarities`).
    """

    def __init__(self, timeout: float = 1.0, *, near: float = MIN_SIMILARITY_NEAR, far: float = MIN_SIMILARITY_FAR):
        self.timeout = timeout
        self.near, self.far = near, far
        self.tracks: list[Track] = []  # live tracks
        self._next_id = 1

    def update(
        self, t: float, faces: Faces, similarities: Sequence[dict[str, float]], threshold: float | None = None
    ) -> tuple[list[Track], list[Track]]:
        """Add one analysed frame's faces (with embeddings and their gallery similarities);
        return (tracks seen now, one per face in order; tracks that ended: unseen for longer
        than ``timeout``)."""
        ended = [tr for tr in self.tracks if t - tr.last_t > self.timeout]
        self.tracks = [tr for tr in self.tracks if t - tr.last_t <= self.timeout]
        n = len(faces)
        assignment: list[Track | None] = [None] * n
        if n and self.tracks:
            assert faces.embeddings is not None
            iou = box_iou(faces.boxes, np.stack([tr.box for tr in self.tracks]))
            sim = similarity(faces.embeddings[:, None, :], np.stack([tr.embedding for tr in self.tracks])[None, :, :])
            allowed = ((iou >= MIN_IOU) & (sim >= self.near)) | (sim >= self.far)
            if threshold is not None:
                for j, tr in enumerate(self.tracks):
                    if tr.person is not None:
                        own = np.array([similarities[i].get(tr.person, -1.0) for i in range(n)])
                        allowed[:, j] &= own >= threshold - NAMED_DROP
            score = np.where(allowed, sim + iou, -np.inf)
            taken: set[int] = set()
            for flat in np.argsort(-score, axis=None):  # greedy, best pair first
                i, j = divmod(int(flat), len(self.tracks))
                if not np.isfinite(score[i, j]):
                    break
                if assignment[i] is None and j not in taken:
                    assignment[i] = self.tracks[j]
                    taken.add(j)
        seen = []
        usable = faces.usable() if n else np.zeros(0, bool)
        for i in range(n):
            assert faces.embeddings is not None
            track = assignment[i]
            if track is None:
                track = Track(self._next_id, t, t, faces.boxes[i].copy(), faces.embeddings[i].copy(), seen=0)
                self._next_id += 1
                self.tracks.append(track)
            track.last_t, track.box, track.embedding = t, faces.boxes[i].copy(), faces.embeddings[i].copy()
            track.seen += 1
            track.add(Observation(t, faces.boxes[i].copy(), bool(usable[i]), float(faces.size[i]), similarities[i]))
            seen.append(track)
        return seen, ended

    def finish(self) -> list[Track]:
        """End every live track (the source ended)."""
        ended, self.tracks = self.tracks, []
        return ended


def tracking_similarities(table: CalibrationTable) -> tuple[float, float]:
    """(near, far) track-continuation similarities of a descriptor from its calibration table:
    its thresholds at ``TRACK_NEAR_FMR`` and ``TRACK_FAR_FMR``."""
    return table.threshold_for(TRACK_NEAR_FMR), table.threshold_for(TRACK_FAR_FMR)
