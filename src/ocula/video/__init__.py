"""Video: watchlist alerts, identity and tag timelines, people counts, redaction.

``ocula.video.analyze(source, gallery=..., ...)`` returns a :class:`VideoAnalysis`; iterate it for
typed events, then read its :class:`VideoReport`. Nothing is loaded at import.
"""

from .analyze import VideoAnalysis, VideoOptions, analyze
from .events import CountEvent, Event, PersonAppeared, PersonLeft, TagEnded, TagStarted, VideoReport

__all__ = [
    "CountEvent",
    "Event",
    "PersonAppeared",
    "PersonLeft",
    "TagEnded",
    "TagStarted",
    "VideoAnalysis",
    "VideoOptions",
    "VideoReport",
    "analyze",
]
