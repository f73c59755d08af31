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

from ...errors import ImageError, InputError, ModelError

__all__ = ["IsolatedDetector"]

#: Seconds a new child may take to import dlib and load the detector, at least.
LOAD_SECONDS = 120.0


def _serve(conn: Connection, kind: str, weights: str | None) -> None:
    """The child: load the detector and say whether it loaded (``("ready", None)`` or
    ``("load", why)``, then exit), then answer ``(image, upsample)`` requests until EOF."""
    from .dlib import FaceDetectorModel

    try:
        detector = FaceDetectorModel(kind, Path(weights) if weights else None)
    except Exception as exc:  # noqa: BLE001 - any failure to load: the parent reports it as a ModelError
        conn.send(("load", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
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
    child dies (e.g. out of memory), raises :class:`ImageError` and the child is replaced. A
    detector that cannot load (missing or corrupt weights, no dlib) raises :class:`ModelError`,
    now and on every later call, without starting another child: loading again would fail
    again, at the cost of a process per call.
    """

    def __init__(self, kind: str, weights: Path | None, *, timeout: float):
        self.kind, self.timeout = kind, timeout
        self._weights = str(weights) if weights else None
        self._lock = threading.Lock()
        self._child: BaseProcess | None = None
        self._conn: Connection | None = None
        self._load_failure: str | None = None  # why the detector cannot load, once it did not

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
        """The pipe to a child whose detector is loaded (started now if there is none)."""
        if self._load_failure is not None:
            raise ModelError(self._load_failure)
        if self._child is None or not self._child.is_alive() or self._conn is None:
            self._stop()
            ctx = multiprocessing.get_context("spawn")  # no fork of a threaded server
            parent, child_end = ctx.Pipe()
            child = ctx.Process(target=_serve, args=(child_end, self.kind, self._weights), daemon=True,
                                name=f"ocula-{self.kind}-detector")  # fmt: skip
            child.start()
            child_end.close()
            self._child, self._conn = child, parent
            self._wait_until_loaded(parent)
        return self._conn

    def _wait_until_loaded(self, conn: Connection) -> None:
        """Return once the new child says its detector loaded; else stop it and raise
        :class:`ModelError` (remembered when loading itself failed)."""
        try:
            status, why = conn.recv() if conn.poll(max(self.timeout, LOAD_SECONDS)) else ("slow", None)
        except (EOFError, OSError):  # died while loading (e.g. killed for memory): may not happen again
            status, why = "died", None
        if status == "ready":
            return
        self._stop()
        if status == "load":
            self._load_failure = f"the {self.kind} face detector cannot be loaded: {why}"
            raise ModelError(self._load_failure)
        raise ModelError(f"the {self.kind} face detector's process {'died' if status == 'died' else 'did not start'}")

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
