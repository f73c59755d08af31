"""The Engine: owns settings and loaded models, and runs pipelines on them.

Models are loaded on first use and kept for the Engine's lifetime - on the Engine, never in a
module-level cache - so two Engines with different settings (threads, data dir) coexist, and
``close()`` (or leaving a ``with`` block) frees them. Methods are safe to call from several
threads; models load once under a lock.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from .config import Settings
from .engine_faces import FaceMethods
from .engine_search import SearchMethods
from .errors import ImageError, InputError, OculaError, UnknownName
from .io import ImageSource, load_image, source_name
from .models.backends.base import Runner
from .models.loading import load_dlib_model, load_runner
from .models.registry import ModelSpec, get_model
from .pipelines.tag import PRESETS, Tagger
from .taxonomy import imagenet_taxonomy
from .types import TagResult, Tags

__all__ = ["Engine"]


class Engine(FaceMethods, SearchMethods):
    """Loaded models plus the pipelines that use them.

    >>> with Engine() as engine:
    ...     tags = engine.tag("cat.jpg")
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        runner_factory: Callable[[ModelSpec, Settings], Runner] = load_runner,
        dlib_factory: Callable[[ModelSpec, Settings], Any] = load_dlib_model,
    ):
        """``runner_factory`` builds a Runner for a model, ``dlib_factory`` a dlib detector or
        shape predictor; tests of the layers above pass ones that return fakes."""
        self.settings = settings or Settings()
        self._runner_factory = runner_factory
        self._dlib_factory = dlib_factory
        self._lock = threading.RLock()
        self._runners: dict[str, Runner] = {}
        self._dlib_models: dict[str, Any] = {}
        self._taggers: dict[str, Tagger] = {}
        self._face_analyzers: dict[tuple, Any] = {}
        self._closed = False

    # -- models ---------------------------------------------------------------------------
    def runner(self, model: str) -> Runner:
        """The loaded runner for a registered model (loaded on first use)."""
        return self._loaded(self._runners, model, self._runner_factory)

    def dlib_model(self, model: str) -> Any:
        """The loaded dlib detector or shape predictor for a registered model."""
        return self._loaded(self._dlib_models, model, self._dlib_factory)

    def _loaded(self, cache: dict[str, Any], model: str, factory: Callable[[ModelSpec, Settings], Any]) -> Any:
        with self._lock:
            if self._closed:
                raise RuntimeError("Engine is closed")
            if model not in cache:
                cache[model] = factory(get_model(model), self.settings)
            return cache[model]

    def tagger(self, preset: str = "fast") -> Tagger:
        preset = getattr(preset, "value", preset)
        if preset not in PRESETS:
            raise UnknownName("preset", preset, list(PRESETS))
        with self._lock:
            if preset not in self._taggers:
                spec = PRESETS[preset]
                specs: dict[str, ModelSpec] = {m: get_model(m) for m in spec.models}
                runners = {m: self.runner(m) for m in spec.models}
                self._taggers[preset] = Tagger(spec, runners, specs, imagenet_taxonomy())
            return self._taggers[preset]

    # -- tagging --------------------------------------------------------------------------
    def tag(
        self,
        images: ImageSource | Sequence[ImageSource],
        *,
        top_k: int = 5,
        preset: str = "fast",
        levels: Sequence[str] = (),
        within: str | None = None,
        min_score: float = 0.0,
        recognised_at: float | None = None,
    ) -> Tags | list[Tags]:
        """Tag one image (returns :class:`Tags`) or a list of images (returns a list).

        Raises the first input's :class:`~ocula.errors.ImageError`; use :meth:`tag_many` to get
        per-input errors instead.
        """
        single = not isinstance(images, (list, tuple))
        batch = [images] if single else list(images)
        options = dict(levels=levels, within=within, min_score=min_score, recognised_at=recognised_at)
        results = list(self.tag_many(batch, top_k=top_k, preset=preset, **options))
        for r in results:
            if r.error is not None:
                raise r.error
        tags = [r.tags for r in results]
        return tags[0] if single else tags  # type: ignore[return-value]

    def tag_many(
        self,
        sources: Iterable[ImageSource],
        *,
        top_k: int = 5,
        preset: str = "fast",
        levels: Sequence[str] = (),
        within: str | None = None,
        min_score: float = 0.0,
        recognised_at: float | None = None,
    ) -> Iterator[TagResult]:
        """Tag a stream of images in batches, yielding one :class:`TagResult` per input, in order.

        Images are decoded on worker threads while the previous batch runs; a bad input becomes
        a result with ``error`` set and never stops the stream. ``recognised_at`` is the
        confidence floor of ``Tags.recognised`` (None: the preset's, chosen by measurement).
        """
        if recognised_at is not None and not 0.0 <= recognised_at <= 1.0:
            raise InputError(f"recognised_at must be within 0..1, not {recognised_at}")
        # Checked now, not on the first next(): an unknown preset or concept fails before any work.
        if isinstance(levels, str):
            levels = (levels,)
        if levels and within:
            raise InputError("levels and within do not combine: levels scores concepts, within filters classes")
        tagger = self.tagger(preset)
        for concept in (*levels, *([within] if within else [])):
            tagger.taxonomy.resolve(concept)
        options = dict(
            top_k=top_k, levels=tuple(levels), within=within, min_score=min_score, recognised_at=recognised_at
        )
        return (
            TagResult(name, error=error) if error is not None else TagResult(name, tags=tagger.to_tags(probs, **options))
            for name, probs, error in self._probability_stream(tagger, iter(sources))
        )

    def class_probabilities(
        self, sources: Iterable[ImageSource], *, preset: str = "fast"
    ) -> Iterator[tuple[str, np.ndarray | None, OculaError | None]]:
        """Per input, in order: ``(name, (1000,) ImageNet probabilities, None)`` or
        ``(name, None, error)``. The raw material of :meth:`tag_many`, for evaluation."""
        return self._probability_stream(self.tagger(preset), iter(sources))

    def _probability_stream(
        self, tagger: Tagger, it: Iterator[ImageSource]
    ) -> Iterator[tuple[str, np.ndarray | None, OculaError | None]]:
        batch_size = self.settings.batch_size

        def prepare(source: ImageSource):
            image = load_image(source, min_side=tagger.decode_min_side, settings=self.settings)
            return tagger.prepare(image)

        pending: deque[tuple[str, Future]] = deque()
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ocula-decode") as pool:

            def refill() -> None:
                while len(pending) < 2 * batch_size:
                    try:
                        source = next(it)
                    except StopIteration:
                        return
                    pending.append((source_name(source), pool.submit(prepare, source)))

            refill()
            while pending:
                names, prepared, errors = [], [], []
                while pending and len(names) < batch_size:
                    name, future = pending.popleft()
                    names.append(name)
                    try:
                        prepared.append(future.result())
                        errors.append(None)
                    except OculaError as exc:
                        prepared.append(None)
                        errors.append(exc)
                    except MemoryError:
                        prepared.append(None)
                        errors.append(ImageError(f"{name}: out of memory while decoding"))
                refill()  # decode the next batch while this one runs
                good = [p for p in prepared if p is not None]
                probs = tagger.probabilities(good) if good else np.zeros((0, 1000), np.float32)
                row = 0
                for name, p, err in zip(names, prepared, errors):
                    if p is None:
                        yield name, None, err
                    else:
                        yield name, probs[row], None
                        row += 1

    def decoded(self, sources: Iterable[ImageSource]) -> Iterator[tuple[str, np.ndarray | None, OculaError | None]]:
        """Per input, in order: ``(name, RGB image, None)`` or ``(name, None, error)``, decoded
        two ahead on worker threads while the caller works on the current one."""
        for name, _, image, error in self.decoded_sources(sources):
            yield name, image, error

    def decoded_sources(
        self, sources: Iterable[ImageSource], decode: Callable[[ImageSource], Any] | None = None
    ) -> Iterator[tuple[str, ImageSource, Any, OculaError | None]]:
        """:meth:`decoded` with each input itself in the tuples, ``(name, source, decoded,
        error)``, and ``decode`` (default: :func:`~ocula.io.load_image` with the Engine's
        settings) run on the worker threads."""
        if decode is None:
            decode = functools.partial(load_image, settings=self.settings)
        it = iter(sources)
        pending: deque[tuple[str, ImageSource, Future]] = deque()
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ocula-decode") as pool:

            def refill() -> None:
                while len(pending) < 4:
                    try:
                        source = next(it)
                    except StopIteration:
                        return
                    pending.append((source_name(source), source, pool.submit(decode, source)))

            refill()
            while pending:
                name, source, future = pending.popleft()
                refill()
                try:
                    yield name, source, future.result(), None
                except OculaError as exc:
                    yield name, source, None, exc
                except MemoryError:
                    yield name, source, None, ImageError(f"{name}: out of memory while decoding")

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            for runner in self._runners.values():
                runner.close()
            for model in self._dlib_models.values():
                model.close()
            self._runners.clear()
            self._dlib_models.clear()
            self._taggers.clear()
            self._face_analyzers.clear()
            self._closed = True

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
