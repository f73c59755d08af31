"""Reading video: files, RTSP/HTTP streams and cameras, with frames chosen by time.

OpenCV (its bundled FFmpeg) decodes; PyAV is tried for files OpenCV cannot open. Frames are read
on their own thread into a small bounded queue, so a slow consumer never grows memory: a file
waits for the consumer, a live source (stream, camera) drops its oldest queued frame instead,
because falling behind a live camera is worse than skipping. Frames the models will not look at
are only *grabbed* (demuxed and decoded, not converted to RGB) unless every frame is wanted, as
for an annotated copy.
"""

from __future__ import annotations

import queue
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VideoError

__all__ = ["TRUNCATED_SHARE", "TRUNCATED_TIME_SHARE", "Frame", "VideoSource", "display_name", "open_video"]

#: Frames buffered between the reading thread and the analysis.
QUEUE_FRAMES = 8
#: A file whose frames end before this share of the frame count its container states, and before
#: ``TRUNCATED_TIME_SHARE`` of the duration that count and its rate give, was cut short (a
#: download or copy that stopped): FFmpeg decodes what is there and stops without an error. Both
#: below 1, because some containers state an estimate: Matroska's count is its duration x the
#: nominal rate, and a whole variable-rate file whose last frame lasts 1 s (a review's test
#: file: 30 frames stated as 204) ends at 0.85 of that duration.
TRUNCATED_SHARE = 0.9
TRUNCATED_TIME_SHARE = 0.75
LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "udp://", "tcp://", "srt://")
STREAM_SCHEMES = (*LIVE_SCHEMES, "http://", "https://")


@dataclass(frozen=True)
class Frame:
    """One frame: ``index`` in the source, ``t`` seconds, ``rgb`` (H, W, 3) uint8 or None when it
    was only grabbed, ``analyse``: the models should run on it (it starts a new ``every`` step)."""

    index: int
    t: float
    rgb: np.ndarray | None
    analyse: bool


class _Reader:
    """One decoder: ``grab()`` advances one frame, ``retrieve()`` converts the grabbed one."""

    fps: float
    size: tuple[int, int]
    frame_count: int = 0

    def grab(self) -> tuple[bool, float | None]:
        raise NotImplementedError

    def retrieve(self) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _CvReader(_Reader):
    def __init__(self, capture: Any):
        import cv2

        self._cv2 = cv2
        self._cap = capture
        self.fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.frame_count = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))

    def grab(self) -> tuple[bool, float | None]:
        if not self._cap.grab():
            return False, None
        ms = self._cap.get(self._cv2.CAP_PROP_POS_MSEC)
        return True, (ms / 1000.0 if ms and ms > 0 else None)

    def retrieve(self) -> np.ndarray:
        ok, bgr = self._cap.retrieve()
        if not ok or bgr is None:
            raise VideoError("a frame could not be decoded")
        return self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._cap.release()


class _AvReader(_Reader):
    """PyAV, for containers or codecs OpenCV's FFmpeg build lacks."""

    def __init__(self, path: str):
        import av

        self._container = av.open(path)
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self.fps = float(stream.average_rate or 0.0)
        self.size = (stream.codec_context.width, stream.codec_context.height)
        self.frame_count = int(stream.frames or 0)
        self._frames = self._container.decode(stream)
        self._current: Any = None

    def grab(self) -> tuple[bool, float | None]:
        try:
            self._current = next(self._frames)
        except StopIteration:
            return False, None
        t = self._current.time
        return True, (float(t) if t is not None else None)

    def retrieve(self) -> np.ndarray:
        return self._current.to_ndarray(format="rgb24")

    def close(self) -> None:
        self._container.close()


def _is_camera(source: Any) -> bool:
    return (isinstance(source, int) and not isinstance(source, bool)) or (
        isinstance(source, str) and source.isdigit() and len(source) <= 3
    )


class VideoSource:
    """An opened video. Iterate :meth:`frames`; :meth:`close` (or ``with``) releases it."""

    def __init__(self, reader: _Reader, name: str, *, live: bool):
        self._reader = reader
        self.name = name
        self.live = live
        self.fps = reader.fps if 0 < reader.fps < 1000 else 0.0
        self.size = reader.size
        self.frame_count = reader.frame_count if not live else 0  # 0: not known
        self.dropped = 0  # frames a live source dropped because the analysis fell behind
        #: The file ended well before the frames its container states (see TRUNCATED_SHARE).
        self.truncated = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def frames(self, every: float, *, decode_all: bool = False) -> Iterator[Frame]:
        """Frames in order. One frame per ``every`` seconds of video has ``analyse`` set (and
        always its pixels); the others are decoded only with ``decode_all``."""
        q: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self._thread = threading.Thread(target=self._read, args=(q, every, decode_all), daemon=True, name="ocula-video")
        self._thread.start()
        try:
            while True:
                item = q.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop.set()
            while self._thread.is_alive():  # unblock a reader waiting on a full queue
                try:
                    q.get(timeout=0.05)
                except queue.Empty:
                    pass

    def _put(self, q: queue.Queue, item: Any) -> bool:
        """Queue ``item``; False when asked to stop. A live source drops its oldest frame."""
        drop = self.live and isinstance(item, Frame)
        while not self._stop.is_set():
            try:
                if drop:
                    q.put_nowait(item)
                else:
                    q.put(item, timeout=0.1)
                return True
            except queue.Full:
                if drop:
                    try:
                        q.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass
        return False

    def _read(self, q: queue.Queue, every: float, decode_all: bool) -> None:
        index, next_t, last_t = 0, 0.0, -1.0
        origin: float | None = None
        try:
            while not self._stop.is_set():
                ok, t = self._reader.grab()
                if not ok:
                    break
                if t is not None:  # seconds from the first frame (containers may start at any pts)
                    origin = t if origin is None else origin
                    t -= origin
                if t is None or t <= last_t:  # no (or a non-increasing) timestamp: count frames
                    t = index / self.fps if self.fps else last_t + 1 / 30
                last_t = t
                analyse = t + 1e-6 >= next_t
                if analyse and every > 0:  # every == 0: every frame
                    while next_t <= t + 1e-6:
                        next_t += every
                rgb = self._reader.retrieve() if analyse or decode_all else None
                if not self._put(q, Frame(index, t, rgb, analyse)):
                    return
                index += 1
            if index == 0:
                raise VideoError(f"{self.name}: no frame could be decoded")
            if not self._stop.is_set() and self._ended_early(index, last_t):
                self.truncated = True
        except VideoError as exc:
            self._put(q, exc)
        except Exception as exc:  # a decoder failing mid-stream: report it, never hang the consumer
            self._put(q, VideoError(f"{self.name}: decoding failed after {index} frames: {exc}"))
        finally:
            self._put(q, None)

    def _ended_early(self, frames: int, last_t: float) -> bool:
        """Whether a file that gave ``frames`` frames, the last at ``last_t`` seconds, ended well
        before what its container states: fewer frames and less time. Both, because a
        container may only estimate its frame count (Matroska: duration x nominal rate, many
        times the frames of a variable-rate recording that is whole)."""
        if not self.frame_count or frames >= TRUNCATED_SHARE * self.frame_count:
            return False
        return not self.fps or last_t + 1 / self.fps < TRUNCATED_TIME_SHARE * self.frame_count / self.fps

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._reader.close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: Query parameters whose values are secrets (access tokens, keys, signatures): never shown.
_SECRET_PARAMETER = re.compile(r"token|key|pass|pwd|secret|auth|sig|cred|session", re.IGNORECASE)


def display_name(source: str | int | Path) -> str:
    """``source`` as the user named it, safe to show and send on: a URL loses its credentials
    (``user:password@``), the values of secret-looking query parameters (``token=***``) and its
    fragment; paths and camera indexes are kept as given."""
    name = str(source)
    if not isinstance(source, str) or "://" not in name:
        return name
    parts = urllib.parse.urlsplit(name)
    netloc = parts.netloc.rpartition("@")[2]  # drop user:password@
    pieces = [p for p in parts.query.split("&") if p]
    query = "&".join(
        p.partition("=")[0] + "=***" if _SECRET_PARAMETER.search(urllib.parse.unquote(p.partition("=")[0])) else p
        for p in pieces
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def open_video(source: str | int | Path, *, max_pixels: int | None = None) -> VideoSource:
    """Open a video file, an RTSP/HTTP URL or a camera (an index like 0 or "0").

    Raises:
        VideoError: no such file, or neither OpenCV nor PyAV can decode it; a frame size over
            ``max_pixels``.
    """
    import cv2

    if isinstance(source, bool) or not isinstance(source, (str, int, Path)):
        raise VideoError(f"a video source is a path, URL or camera index, not {type(source).__name__}")
    name = display_name(source)  # in messages, reports and events: no URL credentials or tokens
    reader: _Reader | None = None
    if _is_camera(source):
        capture = cv2.VideoCapture(int(source))
        if not capture.isOpened():
            raise VideoError(f"camera {name} cannot be opened")
        reader, live = _CvReader(capture), True
    elif isinstance(source, str) and source.lower().startswith(STREAM_SCHEMES):
        capture = cv2.VideoCapture(source, cv2.CAP_FFMPEG)
        if not capture.isOpened():
            raise VideoError(f"{name}: the stream cannot be opened")
        reader, live = _CvReader(capture), source.lower().startswith(LIVE_SCHEMES)
    else:
        path = Path(source)
        if not path.is_file():
            raise VideoError(f"{name}: no such file")
        live = False
        # OpenCV can open a container whose codec its FFmpeg build lacks, and fail only on the
        # first frame: try one, then reopen (cheaper and exacter than seeking back).
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        decodes = capture.isOpened() and capture.grab() and capture.retrieve()[0]
        capture.release()
        if decodes:
            reader = _CvReader(cv2.VideoCapture(str(path), cv2.CAP_FFMPEG))
        else:
            try:
                reader = _AvReader(str(path))
            except Exception as exc:  # PyAV raises its own error types (InvalidDataError, ...)
                raise VideoError(f"{name}: not a video ocula can decode ({type(exc).__name__}: {exc})") from None
    w, h = reader.size
    if max_pixels is not None and w * h > max_pixels:
        reader.close()
        raise VideoError(f"{name}: {w}x{h} frames are over the {max_pixels:,}-pixel limit")
    return VideoSource(reader, name, live=live)
