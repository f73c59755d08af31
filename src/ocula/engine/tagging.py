"""Tagging: ImageNet classes and the concepts above them, on the pool's models."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

import numpy as np

from ..errors import InputError, OculaError, UnknownName
from ..io import ImageSource, load_image
from ..models.registry import ModelSpec, get_model
from ..pipelines.tag import PRESETS, Tagger
from ..taxonomy import imagenet_taxonomy
from ..types import TagResult, Tags
from .decode import decode_ahead
from .pool import ModelPool

__all__ = ["TagService"]


class TagService:
    """Tagging on the models of ``pool``."""

    def __init__(self, pool: ModelPool):
        self._pool = pool

    def tagger(self, preset: str = "fast") -> Tagger:
        preset = getattr(preset, "value", preset)
        if preset not in PRESETS:
            raise UnknownName("preset", preset, list(PRESETS))
        return self._pool.derived("tagger", preset, lambda: self._build_tagger(preset))

    def _build_tagger(self, preset: str) -> Tagger:
        spec = PRESETS[preset]
        specs: dict[str, ModelSpec] = {m: get_model(m) for m in spec.models}
        runners = {m: self._pool.runner(m) for m in spec.models}
        return Tagger(spec, runners, specs, imagenet_taxonomy())

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
        """See :meth:`ocula.Engine.tag`."""
        single = not isinstance(images, (list, tuple))
        batch = [images] if single else list(images)
        results = list(
            self.tag_many(
                batch,
                top_k=top_k,
                preset=preset,
                levels=levels,
                within=within,
                min_score=min_score,
                recognised_at=recognised_at,
            )
        )
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
        """See :meth:`ocula.Engine.tag_many`."""
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
            TagResult(name, error=error)
            if error is not None
            else TagResult(name, tags=tagger.to_tags(probs, **options))  # type: ignore[arg-type]
            for name, probs, error in self.probability_stream(tagger, sources)
        )

    def class_probabilities(
        self, sources: Iterable[ImageSource], *, preset: str = "fast"
    ) -> Iterator[tuple[str, np.ndarray | None, OculaError | None]]:
        """See :meth:`ocula.Engine.class_probabilities`."""
        return self.probability_stream(self.tagger(preset), sources)

    def probability_stream(
        self, tagger: Tagger, sources: Iterable[ImageSource]
    ) -> Iterator[tuple[str, np.ndarray | None, OculaError | None]]:
        """``tagger``'s probabilities per input, in batches of ``settings.batch_size``, the next
        batch decoding while one runs."""
        settings = self._pool.settings
        batch_size = settings.batch_size

        def prepare(source: ImageSource) -> np.ndarray:
            return tagger.prepare(load_image(source, min_side=tagger.decode_min_side, settings=settings))

        stream = decode_ahead(sources, prepare, ahead=2 * batch_size)
        while batch := list(islice(stream, batch_size)):
            good = [d.value for d in batch if d.value is not None]
            probs = tagger.probabilities(good) if good else np.zeros((0, 1000), np.float32)
            rows = iter(probs)
            for d in batch:
                if d.value is None:
                    yield d.name, None, d.error
                else:
                    yield d.name, next(rows), None
