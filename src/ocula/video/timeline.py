"""Turning per-frame findings into appearances and intervals: who is on screen, which tags hold,
how many people each second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .events import CountEvent, Event, PersonAppeared, PersonLeft, TagEnded, TagStarted
from .tracking import Track

__all__ = ["Appearances", "PeopleCounts", "TagTimeline"]


@dataclass
class _Presence:
    track: int  # the track that opened the appearance
    since: float
    last: float
    similarity: float | None


class Appearances:
    """Appearances of enrolled people (all of their tracks, merged while less than ``linger``
    seconds apart) and of unknown faces (one per track).

    A track raises ``person_appeared`` once it is decided; a track named only after it was
    announced as unknown raises a second event with the name (its id links the two).
    """

    def __init__(self, linger: float, threshold: float | None):
        self.linger = linger
        self.threshold = threshold
        self.people: dict[str, list[list[float]]] = {}
        self.unknown_tracks = 0
        self._present: dict[str, _Presence] = {}  # person -> open appearance
        self._announced: dict[int, str | None] = {}  # track id -> the identity announced

    def seen(self, tracks: Iterable[Track], box_of: dict[int, np.ndarray] | None = None) -> list[PersonAppeared]:
        """Tracks seen on the current frame (already decided or not)."""
        events = []
        for tr in tracks:
            if not tr.decided:
                continue
            if tr.person is not None:
                p = self._present.get(tr.person)
                if p is not None:
                    p.last = max(p.last, tr.last_t)
                else:
                    self._present[tr.person] = _Presence(tr.id, tr.first_t, tr.last_t, tr.similarity)
                    events.append(PersonAppeared(tr.first_t, tr.person, tr.id, tr.similarity, self.threshold, _box(tr)))
                self._announced[tr.id] = tr.person
            elif tr.id not in self._announced:
                self._announced[tr.id] = None
                events.append(PersonAppeared(tr.first_t, None, tr.id, tr.similarity, self.threshold, _box(tr)))
        return events

    def ended(self, tracks: Iterable[Track]) -> list[PersonLeft]:
        """Tracks that ended: unknown appearances end with them."""
        events = []
        for tr in tracks:
            if tr.id in self._announced and self._announced[tr.id] is None and tr.person is None:
                self.unknown_tracks += 1
                events.append(PersonLeft(tr.last_t, None, tr.id, tr.first_t))
            self._announced.pop(tr.id, None)
        return events

    def tick(self, t: float) -> list[PersonLeft]:
        """Close the appearances of people unseen for longer than ``linger`` at time ``t``."""
        return self._close([p for p, pr in self._present.items() if t - pr.last > self.linger])

    def finish(self) -> list[PersonLeft]:
        return self._close(list(self._present))

    def _close(self, people: list[str]) -> list[PersonLeft]:
        events = []
        for person in people:
            pr = self._present.pop(person)
            self.people.setdefault(person, []).append([pr.since, pr.last])
            events.append(PersonLeft(pr.last, person, pr.track, pr.since))
        return events


def _box(track: Track) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in track.box)
    return (x0, y0, x1, y1)


class TagTimeline:
    """Tag intervals from scores on sampled frames, smoothed so one odd frame neither starts nor
    ends a tag: an exponential moving average (``alpha``) must reach ``start`` to open an
    interval and fall below ``stop`` to close it (hysteresis).

    A sampled frame stands for the video up to the next sampled one, so an interval runs from
    the first frame that showed the tag to the sampled frame after the last one that did (or to
    the ``end`` given to :meth:`finish`): a tag seen on a single frame lasts one sampling step,
    not zero seconds."""

    def __init__(self, start: float = 0.4, stop: float = 0.2, alpha: float = 0.5):
        self.start, self.stop, self.alpha = start, stop, alpha
        self.tags: dict[str, list[list[float]]] = {}
        self._ema: dict[str, float] = {}
        # label -> [since, last frame scoring at least stop, the sampled frame after it (None: none yet)]
        self._open: dict[str, list[float | None]] = {}
        self._ancestors: dict[str, tuple[str, ...]] = {}

    def update(self, t: float, scores: dict[str, float], ancestors: dict[str, tuple[str, ...]]) -> list[Event]:
        """One sampled frame's scores (labels missing from ``scores`` score 0)."""
        self._ancestors.update(ancestors)
        events: list[Event] = []
        for label in set(self._ema) | set(scores):
            raw = scores.get(label, 0.0)
            ema = self.alpha * raw + (1 - self.alpha) * self._ema.get(label, 0.0)
            self._ema[label] = ema
            if label in self._open:
                span = self._open[label]
                if span[2] is None:
                    span[2] = t  # the first sampled frame after the last one that showed it
                if ema < self.stop:
                    events.append(self._end(label))
                elif raw >= self.stop:  # the interval ends after the last frame that showed it, not the lagging average
                    span[1], span[2] = t, None
            elif ema >= self.start:
                self._open[label] = [t, t, None]
                events.append(TagStarted(t, label, ema, self._ancestors.get(label, ())))
            if ema < 1e-3 and label not in self._open:
                del self._ema[label]  # forget labels long gone, so the dict stays small
        return events

    def _end(self, label: str, end: float | None = None) -> TagEnded:
        since, last, after = self._open.pop(label)
        assert since is not None and last is not None
        until = after if after is not None else max(last, end if end is not None else last)
        self.tags.setdefault(label, []).append([since, until])
        return TagEnded(until, label, since)

    def finish(self, end: float | None = None) -> list[Event]:
        """Close every open interval; ``end``: where the video ends (a tag still showing on the
        last sampled frame lasts until then)."""
        return [self._end(label, end) for label in list(self._open)]


class PeopleCounts:
    """People per second: the most seen on any analysed frame of that second."""

    def __init__(self) -> None:
        self.counts: list[dict] = []
        self._second: int | None = None
        self._best = (0, 0, 0)

    def update(self, t: float, bodies: int, faces: int) -> list[CountEvent]:
        second = int(t)
        events = []
        if self._second is not None and second != self._second:
            events.append(self._emit())
        if self._second != second:
            self._second, self._best = second, (0, 0, 0)
        self._best = max(self._best, (bodies + faces, bodies, faces))
        return events

    def _emit(self) -> CountEvent:
        assert self._second is not None
        event = CountEvent(float(self._second), *self._best)
        self.counts.append(event.to_dict())
        return event

    def finish(self) -> list[CountEvent]:
        if self._second is None:
            return []
        event = self._emit()
        self._second = None
        return [event]
