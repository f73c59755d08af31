"""Face tracks across frames, and who each track is.

A face on a new frame continues the track whose last box it overlaps and whose descriptor it
resembles; a face that resembles a recently lost track strongly enough continues it even where
the boxes do not overlap (a missed detection, a quick move). Identity is decided per track, not
per frame: the median similarity to a person over the track's best observations (usable faces
first, then larger ones) must reach the gallery's threshold, over at least ``MIN_OBSERVATIONS``
frames. One blurred or turned frame can then neither name a stranger nor hide a known face, and
an appearance gives one alert instead of one per frame.

Describing a face is most of a watchlist run's cost (SFace: 36 ms a pass on one core). A decided
track's face that stays in place (its box overlaps the track's last one by ``REUSE_IOU``, on
consecutive analysed frames, with no other face near) keeps the track's descriptor and
similarities instead of being described again, for up to ``REFRESH`` seconds after the track
was last described (:meth:`FaceTracker.reusable`). A shot cut can put another face where the
last one was (on the Hamilton clip, Lin-Manuel Miranda's close-up where Alex Lacamoire's face
had been, IoU 0.61): on a frame that :class:`ShotCuts` sees as a cut, every face is described.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..face_types import Faces
from ..pipelines.calibration import CalibrationTable
from ..pipelines.faces import similarity

__all__ = ["FaceTracker", "Observation", "ShotCuts", "Track", "box_iou", "tracking_similarities"]

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
#: A face whose box overlaps a decided track's last box this much, alone, on the next analysed
#: frame, may reuse the track's description (on the Hamilton clip the same face on successive
#: analysed frames overlapped 0.29-0.99, at a shot cut no face overlapped one of the last shot).
REUSE_IOU = 0.5
#: ... for this many seconds after the track was last described (three analysed frames at the
#: default ``every`` of 0.2 s: one in three is described again).
REFRESH = 1.0


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
    described_t: float | None = None  # when the track's face was last described
    similarities: dict[str, float] = field(default_factory=dict)  # that face's gallery similarities

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
        self._last_t: float | None = None  # the previous analysed frame's time

    def reusable(self, t: float, boxes: np.ndarray, refresh: float = REFRESH) -> list[Track | None]:
        """For each face box (n, 4) of the analysed frame at ``t``: the track whose description
        it may reuse instead of being described, or None. The track is decided, was seen on the
        previous analysed frame and described less than ``refresh`` seconds ago; the box overlaps
        its last box by at least ``REUSE_IOU``; neither overlaps another by ``MIN_IOU``."""
        out: list[Track | None] = [None] * len(boxes)
        live = [tr for tr in self.tracks if tr.last_t == self._last_t]
        if not len(boxes) or not live:
            return out
        iou = box_iou(boxes, np.stack([tr.box for tr in live]))
        near = iou >= MIN_IOU
        for i in range(len(boxes)):
            j = int(np.argmax(iou[i]))
            tr = live[j]
            alone = near[i].sum() == 1 and near[:, j].sum() == 1
            fresh = tr.described_t is not None and t - tr.described_t < refresh - 1e-6
            if iou[i, j] >= REUSE_IOU and alone and tr.decided and fresh:
                out[i] = tr
        return out

    def update(
        self,
        t: float,
        faces: Faces,
        similarities: Sequence[dict[str, float]],
        threshold: float | None = None,
        reused: Sequence[Track | None] | None = None,
        *,
        cut: bool = False,
    ) -> tuple[list[Track], list[Track]]:
        """Add one analysed frame's faces (with embeddings and their gallery similarities);
        return (tracks seen now, one per face in order; tracks that ended: unseen for longer
        than ``timeout``). ``reused``: per face, the track it continues without having been
        described (:meth:`reusable`; its embedding and similarities are the track's): the track
        moves to its box, and its decision keeps the observations it has. ``cut``: the frame starts
        a new shot (:class:`ShotCuts`), where a face's place says nothing: a track is continued
        only by a descriptor similar enough anywhere (``far``)."""
        ended = [tr for tr in self.tracks if t - tr.last_t > self.timeout]
        self.tracks = [tr for tr in self.tracks if t - tr.last_t <= self.timeout]
        self._last_t = t
        n = len(faces)
        assignment: list[Track | None] = list(reused) if reused is not None else [None] * n
        free = [tr for tr in self.tracks if all(tr is not r for r in assignment)]
        if n and free and any(a is None for a in assignment):
            assert faces.embeddings is not None
            iou = box_iou(faces.boxes, np.stack([tr.box for tr in free]))
            sim = similarity(faces.embeddings[:, None, :], np.stack([tr.embedding for tr in free])[None, :, :])
            allowed = (sim >= self.far) if cut else ((iou >= MIN_IOU) & (sim >= self.near)) | (sim >= self.far)
            allowed[np.array([a is not None for a in assignment])] = False  # placed already
            if threshold is not None:
                for j, tr in enumerate(free):
                    if tr.person is not None:
                        own = np.array([similarities[i].get(tr.person, -1.0) for i in range(n)])
                        allowed[:, j] &= own >= threshold - NAMED_DROP
            score = np.where(allowed, sim + iou, -np.inf)
            taken: set[int] = set()
            for flat in np.argsort(-score, axis=None):  # greedy, best pair first
                i, j = divmod(int(flat), len(free))
                if not np.isfinite(score[i, j]):
                    break
                if assignment[i] is None and j not in taken:
                    assignment[i] = free[j]
                    taken.add(j)
        seen = []
        usable = faces.usable() if n else np.zeros(0, bool)
        for i in range(n):
            assert faces.embeddings is not None
            track = assignment[i]
            if reused is not None and reused[i] is not None:
                assert track is not None
                track.last_t, track.box = t, faces.boxes[i].copy()
                seen.append(track)
                continue
            if track is None:
                track = Track(self._next_id, t, t, faces.boxes[i].copy(), faces.embeddings[i].copy(), seen=0)
                self._next_id += 1
                self.tracks.append(track)
            track.last_t, track.box, track.embedding = t, faces.boxes[i].copy(), faces.embeddings[i].copy()
            track.seen += 1
            track.described_t, track.similarities = t, similarities[i]
            track.add(Observation(t, faces.boxes[i].copy(), bool(usable[i]), float(faces.size[i]), similarities[i]))
            seen.append(track)
        return seen, ended

    def finish(self) -> list[Track]:
        """End every live track (the source ended)."""
        ended, self.tracks = self.tracks, []
        return ended


class ShotCuts:
    """Whether an analysed frame starts a new shot: the colour histogram (hue x saturation, of
    a 64x36 thumbnail) moved by more than ``CUT_DISTANCE`` (total variation) from the previous
    analysed frame's."""

    #: On the Hamilton clip's 45 pairs of successive analysed frames: 0.42-0.64 across its three
    #: cuts, at most 0.23 within a shot (read off that one clip: a floor that separated it).
    CUT_DISTANCE = 0.3

    def __init__(self) -> None:
        self._last: np.ndarray | None = None

    def cut(self, rgb: np.ndarray) -> bool:
        import cv2

        small = cv2.resize(rgb, (64, 36), interpolation=cv2.INTER_AREA)
        hist = cv2.calcHist([cv2.cvtColor(small, cv2.COLOR_RGB2HSV)], [0, 1], None, [16, 8], [0, 180, 0, 256])
        hist = hist.ravel() / max(float(hist.sum()), 1.0)
        last, self._last = self._last, hist
        return last is None or 0.5 * float(np.abs(hist - last).sum()) > self.CUT_DISTANCE


def tracking_similarities(table: CalibrationTable) -> tuple[float, float]:
    """(near, far) track-continuation similarities of a descriptor from its calibration table:
    its thresholds at ``TRACK_NEAR_FMR`` and ``TRACK_FAR_FMR``."""
    return table.threshold_for(TRACK_NEAR_FMR), table.threshold_for(TRACK_FAR_FMR)
