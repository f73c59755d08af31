"""Video jobs: an uploaded video analysed in the background, one at a time, with progress.

The upload is written to ``DATA_DIR/service-jobs/`` (a 0700 folder, 0600 files; removed when the
job ends) and analysed by :func:`ocula.video.analyze` on one worker thread; jobs wait their turn
in order. A job keeps its events (at most ``MAX_EVENTS``, the newest) and the report. Jobs live in memory: a restart
forgets them. A job's report and error name the video as the client did, never by its path on
the server.
"""

from __future__ import annotations

import collections
import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OculaError, VideoError
from ..video import analyze
from ..video.source import open_video
from .keys import private_folder
from .problems import scrub_paths

if TYPE_CHECKING:
    from ..config import Settings
    from ..engine import Engine

__all__ = ["JobQueue", "JobQueueFull", "VideoJob"]

log = logging.getLogger("ocula.service")

MAX_EVENTS = 10_000
MAX_JOBS_KEPT = 200
#: Jobs that may wait for the worker (their uploads are on disk meanwhile).
MAX_WAITING = 8


class JobQueueFull(Exception):
    """No room for another job now (503)."""


@dataclass
class VideoJob:
    id: str
    owner: int  # the id of the key that made it (names can be reused after a revocation)
    options: dict[str, Any]
    path: Path
    name: str = "video"  # the upload's name as the client gave it (reports show this, not the path)
    status: str = "queued"  # queued, running, done, failed
    frames_read: int = 0
    frames_total: int = 0
    created: float = field(default_factory=time.time)
    error: dict[str, str] | None = None
    events: collections.deque = field(default_factory=lambda: collections.deque(maxlen=MAX_EVENTS))
    report: dict[str, Any] | None = None

    def to_dict(self, *, events: bool = True) -> dict[str, Any]:
        progress = self.frames_read / self.frames_total if self.frames_total else None
        if self.status == "done":
            progress = 1.0
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "progress": None if progress is None else round(min(1.0, progress), 4),
            "frames_read": self.frames_read,
            "options": self.options,
            "error": self.error,
            "report": self.report,
        }
        if events:
            out["events"] = list(self.events)
        return out


class JobQueue:
    def __init__(self, engine: Engine, settings: Settings, folder: Path):
        self._engine, self._settings = engine, settings
        self.folder = folder
        self._jobs: dict[str, VideoJob] = {}
        self._queue: queue.Queue[VideoJob | None] = queue.Queue()
        self._lock = threading.Lock()
        self._current: Any = None
        self._closing = threading.Event()
        self._worker = threading.Thread(target=self._work, daemon=True, name="ocula-video-jobs")
        self._worker.start()

    def new_path(self, suffix: str) -> tuple[str, Path]:
        """A job id and the file its upload goes to."""
        private_folder(self.folder)
        job_id = secrets.token_hex(8)
        return job_id, self.folder / f"{job_id}{suffix}"

    def submit(
        self, job_id: str, path: Path, owner: int, options: dict[str, Any], name: str = "video"
    ) -> VideoJob:
        """Queue a job for the uploaded video at ``path`` (``name``: the client's name for it);
        VideoError (nothing queued, the file removed; its message names ``name``, not the path)
        if it cannot be decoded, ``JobQueueFull`` if ``MAX_WAITING`` jobs wait."""
        try:
            if self._closing.is_set():
                raise JobQueueFull("the server is stopping")
            if self._queue.qsize() >= MAX_WAITING:
                raise JobQueueFull(f"{MAX_WAITING} video jobs are waiting; try again later")
            try:
                open_video(path).close()  # refuse what cannot be decoded now, not as a failed job later
            except VideoError as exc:
                raise VideoError(scrub_paths(str(exc).replace(str(path), name))) from exc
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        job = VideoJob(job_id, owner, options, path, name)
        with self._lock:
            self._jobs[job_id] = job
            done = [j for j in self._jobs.values() if j.status in ("done", "failed")]
            for old in done[: max(0, len(self._jobs) - MAX_JOBS_KEPT)]:
                del self._jobs[old.id]
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> VideoJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._closing.is_set():  # stopping: jobs still waiting are not started
                job.status, job.error = "failed", {"type": "ServerStopping", "detail": "the server stopped first"}
                job.path.unlink(missing_ok=True)
                continue
            job.status = "running"
            try:
                with self._lock:
                    run = analyze(job.path, engine=self._engine, settings=self._settings, name=job.name, **job.options)
                    self._current = run
                    if self._closing.is_set():
                        run.stop()
                job.frames_total = run.source.frame_count

                def on_frame(frame: Any, job: VideoJob = job) -> None:
                    job.frames_read += 1

                run.on_frame = on_frame
                for event in run:
                    job.events.append(event.to_dict())
                assert run.report is not None
                job.report = {**run.report.to_dict(), "source": job.name}
                job.status = "done"
            except OculaError as exc:
                detail = scrub_paths(str(exc).replace(str(job.path), job.name))
                job.error, job.status = {"type": type(exc).__name__, "detail": detail}, "failed"
            except Exception:  # a job must never kill the worker; the detail stays in the log
                log.exception("video job %s failed", job.id)
                job.error = {"type": "InternalError", "detail": "the job failed; see the server's log"}
                job.status = "failed"
            finally:
                self._current = None
                job.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the running job (its report is kept), fail the waiting ones, stop the worker."""
        self._closing.set()
        with self._lock:
            if self._current is not None:
                self._current.stop()
        self._queue.put(None)
        self._worker.join(timeout=60)
