"""Embedding for ``ocula index --ray``: Ray Data spreads the images over a pool of actors.

Each actor builds the caller's ``worker`` (a search service of its own, loading the search
model once) and embeds batches of paths with the same code as a local run
(:meth:`Engine.embed_images`), so the vectors are the ones a local run stores. Only
embedding moves to Ray; the collection is written by the calling process, in order, so
incremental indexing, commits and crash safety are unchanged. Workers open the paths
themselves: on a cluster the images must be at the same path on every node (shared storage).

Ray on 2 CPUs: actors at the default 1 CPU each starve Ray Data's own tasks and hang; each
actor asks for half a CPU and runs inference on one thread.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..config import Settings
from ..errors import ConfigError, InputError
from .results import Embedded

__all__ = ["ACTOR_CPUS", "Embedder", "RemoteEmbedError", "ray_embed_images"]

ACTOR_CPUS = 0.5
_BATCH = 16
_CLASSES = 1000  # ImageNet-1k class probabilities a worker returns with classify


class RemoteEmbedError(InputError):
    """An image a Ray worker could not embed (the worker's message, typed on this side)."""


class _Dimensioned(Protocol):
    @property
    def dim(self) -> int: ...


class Embedder(Protocol):
    """What a Ray worker embeds with (a :class:`~ocula.engine.search.SearchService`)."""

    def image_embedder(self) -> _Dimensioned: ...

    def embed_images(self, sources: Iterable[Path], *, classify: bool = False) -> Iterator[Embedded]: ...


class _EmbedActor:
    """One per Ray actor: the caller's ``worker`` built once, on this actor's settings."""

    def __init__(self, worker: Callable[[Settings], Embedder], settings: dict[str, Any], classify: bool = False):
        self.embedder = worker(Settings(**settings))
        self.classify = classify

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        paths = [str(p) for p in batch["path"]]
        vectors = np.zeros((len(paths), self.embedder.image_embedder().dim), np.float32)
        probabilities = np.zeros((len(paths), _CLASSES if self.classify else 0), np.float32)
        errors = [""] * len(paths)
        for i, e in enumerate(self.embedder.embed_images([Path(p) for p in paths], classify=self.classify)):
            if e.vector is None:
                errors[i] = str(e.error) if e.error else "no vector"
            else:
                vectors[i] = e.vector
                if e.probabilities is not None:
                    probabilities[i] = e.probabilities
        return {"path": np.array(paths), "vector": vectors, "probabilities": probabilities, "error": np.array(errors)}


@contextmanager
def _caller_signal_handlers() -> Iterator[None]:
    """Puts the caller's SIGINT/SIGTERM handlers back after the block: ``ray.init`` installs its
    own SIGTERM handler (``sys.exit``) in the driver process and ``ray.shutdown`` leaves it, and a
    library must not change how its host process answers Ctrl-C or SIGTERM (issue 16)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be set from the main thread, so Ray sets none here either
        return
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:  # None: a handler set outside Python, which Ray did not replace
                signal.signal(signum, handler)


def _connect(address: str, settings: Settings) -> bool:
    """Join the Ray cluster at ``address`` (``local``: start one on this machine). Returns
    whether this call started Ray (and so should shut it down)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray Data: pip install 'ocula[ray]'") from None
    if ray.is_initialized():
        return False
    options: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    for attempt in (1, 2):
        try:
            with _caller_signal_handlers():
                if address == "local":
                    ray.init(num_cpus=settings.effective_threads, **options)
                else:
                    ray.init(address=address, **options)
            return True
        except Exception as exc:  # ray.init raises bare Exception, e.g. "node timed out during startup"
            with _caller_signal_handlers():
                ray.shutdown()
            # A local Ray on a busy 2-core machine has been seen to time out starting once.
            if attempt == 2 or address != "local":
                raise ConfigError(f"cannot start or join Ray at {address} ({exc})") from None
    return True


def ray_embed_images(
    paths: Sequence[Path],
    address: str,
    settings: Settings,
    *,
    worker: Callable[[Settings], Embedder],
    actors: int | None = None,
    classify: bool = False,
) -> Iterator[Embedded]:
    """Per path, in order, an :class:`Embedded` as :meth:`Engine.embed_images` gives it,
    computed by ``actors`` Ray actors (default: one per CPU of the cluster, at
    :data:`ACTOR_CPUS` each), each embedding with ``worker(settings)`` (a module-level
    function: Ray sends it to the actors by reference)."""
    if not paths:
        return
    started = _connect(address, settings)
    import ray
    import ray.data

    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # results line up with ``paths``
        context.enable_progress_bars = False  # the caller shows its own
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # not "progress bars disabled" per run
        pool = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        # Workers run one inference thread each and never download (same files, same weights).
        worker_settings = settings.as_dict() | {"threads": 1}
        data = ray.data.from_items([{"path": str(Path(p).resolve())} for p in paths])
        embedded = data.map_batches(
            _EmbedActor,
            fn_constructor_args=(worker, worker_settings, classify),
            batch_size=_BATCH,
            compute=ray.data.ActorPoolStrategy(size=min(pool, max(1, len(paths) // _BATCH))),
            num_cpus=ACTOR_CPUS,
        )
        for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
            rows = zip(batch["path"], batch["vector"], batch["probabilities"], batch["error"], strict=False)
            for path, vector, probabilities, error in rows:
                if error:
                    yield Embedded(str(path), None, RemoteEmbedError(str(error)))
                else:
                    probs = np.asarray(probabilities, np.float32) if classify else None
                    yield Embedded(str(path), np.asarray(vector, np.float32), None, probs)
    finally:
        if started:
            with _caller_signal_handlers():
                ray.shutdown()
