"""What the routes share: one model set and the open galleries/collections per process, keys,
rate limits, and reading uploads safely.

CPU-bound work (decoding, models) runs on worker threads, at most ``workers`` at once, so the
event loop keeps answering (health checks, 401s, 429s) while models run. The Engine's loaded
models are shared by every request; dlib calls are serialised by the Engine, ONNX Runtime
sessions are safe to share.

Memory stays bounded whatever the uploads: a request waiting for a worker holds only its
compressed upload (spooled to disk past 1 MB by Starlette); photos are read and decoded inside
the worker slot (:func:`decode_upload`), one at a time per request, so at most ``workers``
decoded photos exist at once. At most ``max_queued`` requests wait, each at most
``queue_wait_seconds``; beyond either the answer is 503 with Retry-After.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import numpy as np
from fastapi import Depends, Request, UploadFile

from ..collections import Collection
from ..concepts import concept_space
from ..config import Settings
from ..engine import Engine
from ..errors import InputError
from ..galleries import Gallery, drop_gallery
from ..io import PendingPhoto, check_image, load_image
from ..pipelines.faces import Descriptor
from .guard import KEY_STATE
from .jobs import JobQueue
from .keys import ApiKey, KeyStore, key_store_path, scope_allows
from .problems import Problem, classify
from .settings import ServiceSettings

__all__ = [
    "Caller",
    "RateLimiter",
    "Services",
    "audited",
    "checked_upload",
    "decode_upload",
    "parse_metadata",
    "require",
    "services",
    "upload_bytes",
]

T = TypeVar("T")

#: What a 503 "busy" answer tells the client to wait before trying again.
BUSY_RETRY_AFTER_SECONDS = 5


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests a minute, bursts up to the same number."""

    def __init__(self, per_minute: int):
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[int, tuple[float, float]] = {}  # key id -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key_id: int) -> float:
        """0 if the request may go ahead, else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[key_id] = (tokens - 1, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1 - tokens) / self.rate


class Services:
    """Everything one server process holds; built at start-up, closed at shutdown."""

    def __init__(self, settings: Settings, service: ServiceSettings, engine: Engine | None = None):
        self.settings, self.service = settings, service
        self._owns_engine = engine is None
        self.engine = engine or Engine(settings)
        if self._owns_engine:  # dlib's CNN holds the GIL for seconds: off the event loop's process
            self.engine.isolate_cnn(timeout=service.cnn_seconds)
            self.engine.limit_cnn_pixels(service.cnn_max_pixels)
        self.keys = KeyStore(key_store_path(settings.data_dir))
        self.rate = RateLimiter(service.rate_per_minute)
        # Uploads are decoded with the service's (tighter) limits.
        self.image_settings = settings.replace(
            max_image_bytes=service.max_upload_bytes, max_image_pixels=service.max_upload_pixels
        )
        self._limiter: anyio.CapacityLimiter | None = None
        self._waiting = 0  # requests waiting for a worker (only touched on the event loop)
        self._open: dict[tuple[str, str], Any] = {}
        self._open_lock = threading.Lock()
        self._jobs: JobQueue | None = None

    def jobs(self) -> JobQueue:
        """The video job queue (its worker thread starts on first use)."""
        with self._open_lock:
            if self._jobs is None:
                self._jobs = JobQueue(self.engine, self.settings, self.settings.data_dir / "service-jobs")
            return self._jobs

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on a worker thread, at most ``workers`` at once.

        At most ``max_queued`` calls wait for a worker, each at most ``queue_wait_seconds``;
        beyond either: :class:`Problem` 503 with Retry-After (the caller holds nothing big
        while it waits: decoding happens inside ``fn``)."""
        if self._limiter is None:  # made inside the event loop
            self._limiter = anyio.CapacityLimiter(self.service.workers)
        limiter = self._limiter
        if limiter.available_tokens < 1 and self._waiting >= self.service.max_queued:
            raise self._busy(f"{self.service.workers} requests running and {self._waiting} waiting")
        self._waiting += 1
        acquired = False
        try:
            with anyio.move_on_after(self.service.queue_wait_seconds):
                await limiter.acquire()
                acquired = True
        finally:
            self._waiting -= 1
        if not acquired:
            raise self._busy(f"no worker was free within {self.service.queue_wait_seconds:g} s")
        try:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
        finally:
            limiter.release()

    def _busy(self, detail: str) -> Problem:
        return Problem(503, "Server busy", f"{detail}; try again later",
                       {"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)})  # fmt: skip

    def gallery(self, name: str, *, create: bool = False, descriptor: Descriptor | None = None) -> Gallery:
        """The open gallery ``name`` (kept open between requests). ``descriptor``: a new
        gallery's; an existing gallery built with another is refused (DescriptorMismatch)."""
        with self._open_lock:
            g = self._open.get(("gallery", name))
            if g is None or g.dropped:  # dropped by another process: its name may hold a new store
                # (a dropped handle refuses everything; requests still holding it get 404/503)
                g = Gallery.open(name, settings=self.settings, engine=self.engine, create=create, descriptor=descriptor)
                self._open[("gallery", name)] = g
            g.check_descriptor(descriptor)
            return g

    def drop_gallery_if_empty(self, name: str) -> bool:
        """Drop the gallery ``name`` if nobody is enrolled in it (checked under its write lock),
        e.g. one an enrolment made and then stored nothing in. Its kept handle is forgotten, not
        closed: a request still holding it finds the gallery dropped (404), and the handle's
        connection is released with it. Returns whether it was dropped."""
        with self._open_lock:
            if not drop_gallery(name, self.settings, only_if_empty=True):
                return False
            self._open.pop(("gallery", name), None)
            return True

    def collection(self, name: str, *, create: bool = False) -> Collection:
        with self._open_lock:
            c = self._open.get(("collection", name))
            if c is None or c.dropped:  # as for galleries
                embedder = self.engine.image_embedder()
                c = Collection.open(
                    name,
                    settings=self.settings,
                    embedder=embedder.stamp,
                    dim=embedder.dim,
                    create=create,
                    concepts=concept_space().fingerprint,  # a new one stores concept scores, as ``ocula index`` does
                )
                self._open[("collection", name)] = c
            return c

    def close(self) -> None:
        if self._jobs is not None:
            self._jobs.close()
        with self._open_lock:
            for thing in self._open.values():
                thing.close()
            self._open.clear()
        self.keys.close()
        if self._owns_engine:
            self.engine.close()


def services(request: Request) -> Services:
    return request.app.state.services


@dataclass(frozen=True)
class Caller:
    key: ApiKey
    client: str | None


def require(scope: str) -> Any:
    """A dependency: the caller, whose key the perimeter (``guard.Guard``) has checked for a
    valid, active key with ``scope`` and the rate, before the body was read (401/403/429)."""

    def check(request: Request) -> Caller:
        key = getattr(request.state, KEY_STATE, None)
        if key is None or not scope_allows(key.scope, scope):  # only without the guard in front
            raise Problem(401, "API key required", "the request was not checked by the service's guard")
        return Caller(key, request.client.host if request.client else None)

    check.needed_scope = scope  # type: ignore[attr-defined]  # read by the guard
    return Depends(check)


def parse_metadata(text: str | None, max_depth: int = 32) -> dict[str, Any]:
    """A ``metadata`` form field: empty, or a JSON object nested at most ``max_depth`` levels
    (else InputError, 422: deeper JSON would exhaust the recursion of the JSON coders)."""
    if not text:
        return {}
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python can parse
        meta = None
    if not isinstance(meta, dict):
        raise InputError("metadata must be a JSON object")
    level, depth = [meta], 1
    while level:  # breadth first, without recursion
        level = [v for c in level for v in (c.values() if isinstance(c, dict) else c) if isinstance(v, (dict, list))]
        depth += bool(level)
        if depth > max_depth:
            raise InputError(f"metadata is nested deeper than {max_depth} levels")
    return meta


def upload_bytes(upload: UploadFile, limit: int) -> bytes:
    """An upload's bytes, read on a worker thread from Starlette's spooled file, so a request
    waiting for a worker never holds them in memory (413 over ``limit``, 400 empty)."""
    upload.file.seek(0)
    return _checked(upload.file.read(limit + 1), upload.filename, limit)


def _checked(data: bytes, name: str | None, limit: int) -> bytes:
    if len(data) > limit:
        raise Problem(413, "Upload too large", f"{name or 'the file'} is over {limit:,} bytes")
    if not data:
        raise Problem(400, "Empty upload", f"{name or 'the file'} is 0 bytes")
    return data


def decode_upload(upload: UploadFile, svc: Services, *, min_side: int | None = None) -> np.ndarray:
    """An upload decoded to RGB with the service's limits (413 too large, 400 empty, 415 not an
    image or corrupt); ``min_side`` as :func:`~ocula.io.load_image` (shrunk right after decoding).

    Blocking: call it inside the function :meth:`Services.run` runs, so decoding happens in the
    worker slot and only ``workers`` decoded photos exist at once."""
    data = upload_bytes(upload, svc.service.max_upload_bytes)
    return load_image(data, min_side=min_side, settings=svc.image_settings)


def checked_upload(upload: UploadFile, svc: Services) -> bytes:
    """An upload's bytes, refused as :func:`decode_upload` refuses it (413, 400, 415) from its
    header alone, for the Engine to decode at the size it needs (a faceless 40 MP photo is never
    decoded to a full-size array for YuNet). Blocking, like :func:`decode_upload`."""
    data = upload_bytes(upload, svc.service.max_upload_bytes)
    check_image(data, settings=svc.image_settings)
    return data


def checked_photo(upload: UploadFile, svc: Services) -> PendingPhoto:
    """:func:`checked_upload`'s bytes as a photo the Engine decodes under the service's limits
    (``max_upload_bytes``, ``max_upload_pixels``), not its own: the limits the upload was
    checked against are the ones it is decoded with, whichever are larger."""
    return PendingPhoto(checked_upload(upload, svc), svc.image_settings)


@contextlib.asynccontextmanager
async def audited(svc: Services, caller: Caller, action: str, target: str) -> AsyncIterator[None]:
    """Record who did ``action`` on ``target``, with the status of the answer, whatever happens
    (a failed write too: a full disk is 507 here as in the answer)."""
    status = 500
    try:
        yield
        status = 200
    except Exception as exc:
        status = classify(exc)[0]
        raise
    finally:  # SQLite may wait for another process's lock: not on the event loop
        await anyio.to_thread.run_sync(svc.keys.audit, caller.key.name, action, target, status, caller.client)
