"""A dlib face detector run in a child process, with a time limit.

dlib's MMOD CNN holds Python's GIL for its whole run (a 1 MP photo: about 10 s here), so in a
server it freezes every other thread, the event loop included: health checks, 401s and 503s
stop being answered. In a child process it only costs a core, and a run past ``timeout`` is
ended by killing the child (a new one starts on the next call).
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

import numpy as np

from ...errors import ImageError, InputError

__all__ = ["IsolatedDetector"]


def _serve(conn: Connection, kind: str, weights: str | None) -> None:
    """The child: load the detector, then answer ``(image, upsample)`` requests until EOF."""
    from .dlib import FaceDetectorModel

    detector = FaceDetectorModel(kind, Path(weights) if weights else None)
    while True:
        try:
            image, upsample = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", detector.detect(image, upsample)))
        except InputError as exc:
            conn.send(("input", str(exc)))
        except Exception as exc:  # noqa: BLE001 - anything else: the photo cannot be searched
            conn.send(("image", str(exc)))


class IsolatedDetector:
    """:class:`~ocula.models.backends.dlib.FaceDetectorModel`'s ``detect`` in a child process.

    Calls are serialised (one child); a call that takes over ``timeout`` seconds, or whose
    child dies (e.g. out of memory), raises :class:`ImageError` and the child is replaced.
    """

    def __init__(self, kind: str, weights: Path | None, *, timeout: float):
        self.kind, self.timeout = kind, timeout
        self._weights = str(weights) if weights else None
        self._lock = threading.Lock()
        self._child: BaseProcess | None = None
        self._conn: Connection | None = None

    def detect(self, image: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        with self._lock:
            conn = self._connection()
            try:
                conn.send((np.ascontiguousarray(image), upsample))
                ready = conn.poll(self.timeout)
                answer = conn.recv() if ready else None
            except (EOFError, OSError):  # the child died (e.g. killed for memory)
                self._stop()
                raise ImageError(f"the {self.kind} face detector failed on this {w}x{h} image") from None
            if answer is None:
                self._stop()  # the only way to end a dlib call early
                raise ImageError(f"the {self.kind} face detector took over {self.timeout:g} s on this {w}x{h} image")
        status, value = answer
        if status == "ok":
            return value
        raise (InputError if status == "input" else ImageError)(value)

    def _connection(self) -> Connection:
        if self._child is None or not self._child.is_alive() or self._conn is None:
            self._stop()
            ctx = multiprocessing.get_context("spawn")  # no fork of a threaded server
            parent, child_end = ctx.Pipe()
            child = ctx.Process(target=_serve, args=(child_end, self.kind, self._weights), daemon=True,
                                name=f"ocula-{self.kind}-detector")  # fmt: skip
            child.start()
            child_end.close()
            self._child, self._conn = child, parent
        return self._conn

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._child is not None:
            self._child.kill()
            self._child.join(5)
        self._child = self._conn = None

    def close(self) -> None:
        with self._lock:
            self._stop()
