"""What video analysis reports: typed events as they happen, and one :class:`VideoReport` at the end.

Every event has ``type`` (its JSON name) and ``t``, seconds from the start of the video, and turns
into the JSON object the CLI prints and the webhook posts with :meth:`to_dict`. An analysis also
stamps each event with its ``source`` (the video as the user named it, without URL credentials or
secret query values) and ``time``, the wall-clock moment it was raised (ISO 8601, UTC): a receiver
of several cameras' events can tell them apart and order them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

__all__ = [
    "CountEvent",
    "Event",
    "PersonAppeared",
    "PersonLeft",
    "TagEnded",
    "TagStarted",
    "VideoReport",
]


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def wall_clock(seconds: float) -> str:
    """``seconds`` since the epoch as ISO 8601 UTC to the millisecond: 2026-12-01T20:41:07.123Z."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """``source`` and ``time`` (seconds since the epoch) are set by the analysis that raised the
    event; :meth:`to_dict` leaves them out while unset."""

    type: ClassVar[str] = "event"
    t: float
    source: str | None = field(default=None, kw_only=True)
    time: float | None = field(default=None, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "t": _r(self.t)}
        if self.source is not None:
            out["source"] = self.source
        if self.time is not None:
            out["time"] = wall_clock(self.time)
        return out


@dataclass(frozen=True)
class PersonAppeared(Event):
    """A face track was decided: ``person`` is an enrolled name, or None for someone unknown.

    One per appearance: a person seen again within the linger time of their last sighting (a
    turned head, a missed detection) continues the same appearance and raises no new event.
    """

    type: ClassVar[str] = "person_appeared"
    person: str | None
    track: int
    similarity: float | None
    threshold: float | None = None
    box: tuple[float, float, float, float] | None = None
    snapshot: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "person": self.person,
            "track": self.track,
            "similarity": _r(self.similarity, 4),
            "threshold": _r(self.threshold, 4),
            "box": None if self.box is None else [round(float(v), 1) for v in self.box],
            "snapshot": self.snapshot,
        }


@dataclass(frozen=True)
class PersonLeft(Event):
    """The appearance that started at ``since`` ended: ``t`` is the last sighting."""

    type: ClassVar[str] = "person_left"
    person: str | None
    track: int
    since: float

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "person": self.person, "track": self.track, "since": _r(self.since)}


@dataclass(frozen=True)
class TagStarted(Event):
    type: ClassVar[str] = "tag_started"
    tag: str
    score: float
    ancestors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "tag": self.tag, "score": _r(self.score, 4), "ancestors": list(self.ancestors)}


@dataclass(frozen=True)
class TagEnded(Event):
    type: ClassVar[str] = "tag_ended"
    tag: str
    since: float

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "tag": self.tag, "since": _r(self.since)}


@dataclass(frozen=True)
class CountEvent(Event):
    """People seen during the second starting at ``t``: the most at any analysed moment of it.
    ``bodies`` came from the person detector, ``faces`` are faces outside every body box."""

    type: ClassVar[str] = "count"
    people: int
    bodies: int
    faces: int

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "people": self.people, "bodies": self.bodies, "faces": self.faces}


@dataclass
class VideoReport:
    """The whole run.

    Attributes:
        source: what was analysed (a path, URL or camera index).
        duration: seconds of video analysed (to the last frame read).
        frames: frames read; ``analysed_frames``: those the models ran on.
        realtime_factor: video seconds per wall-clock second (2.0 = twice as fast as playback),
            start-up included: from the ``analyze()`` call (the CLI: from the process's start),
            so imports, model loading and opening the source count.
        startup: of those seconds, the ones before the first frame was read.
        people: enrolled name -> [[t0, t1], ...] appearances.
        unknown_tracks: appearances of faces that matched nobody in the gallery.
        tags: label -> [[t0, t1], ...] (fine ImageNet labels and their concepts, e.g. "cat"):
            from the first tagged frame showing the label to the tagged frame after the last one
            that did (or the end of the video), so never zero seconds long.
        counts: one :class:`CountEvent` dict per second (with ``count_people``).
        stopped: the run was interrupted (Ctrl-C, ``stop()``) before the end of the source.
        truncated: the file ended well before the frames its container states (cut short or
            damaged; FFmpeg reads what is there without an error): the report covers less than
            the video (the CLI says so and exits 1).
        webhook: delivery counts when events were posted to a webhook.
    """

    source: str
    duration: float = 0.0
    frames: int = 0
    analysed_frames: int = 0
    realtime_factor: float = 0.0
    startup: float = 0.0
    people: dict[str, list[list[float]]] = field(default_factory=dict)
    unknown_tracks: int = 0
    tags: dict[str, list[list[float]]] = field(default_factory=dict)
    counts: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False
    truncated: bool = False
    webhook: dict[str, int] | None = None
    annotated: str | None = None

    def to_dict(self) -> dict[str, Any]:
        def spans(d: dict[str, list[list[float]]]) -> dict[str, list[list[float]]]:
            return {k: [[round(a, 3), round(b, 3)] for a, b in v] for k, v in d.items()}

        out: dict[str, Any] = {
            "type": "report",
            "source": self.source,
            "duration": round(self.duration, 3),
            "frames": self.frames,
            "analysed_frames": self.analysed_frames,
            "realtime_factor": round(self.realtime_factor, 2),
            "startup_seconds": round(self.startup, 2),
            "people": spans(self.people),
            "unknown_tracks": self.unknown_tracks,
            "tags": spans(self.tags),
            "counts": self.counts,
            "stopped": self.stopped,
            "truncated": self.truncated,
        }
        if self.webhook is not None:
            out["webhook"] = self.webhook
        if self.annotated is not None:
            out["annotated"] = self.annotated
        return out
