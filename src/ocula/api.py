"""The verb functions: ``ocula.tag(...)``. Each call uses a short-lived :class:`Engine`.

Like ``httpx.get`` versus ``httpx.Client``: a call loads what it needs and frees it afterwards,
so nothing stays cached in the module. To tag many images, pass them as one list (they are
batched), or keep an ``ocula.Engine()`` and call its methods.
"""

from __future__ import annotations

from collections.abc import Sequence

from .config import Settings
from .engine import Engine
from .io import ImageSource
from .types import Tags

__all__ = ["tag"]


def tag(
    images: ImageSource | Sequence[ImageSource],
    *,
    top_k: int = 5,
    preset: str = "fast",
    levels: Sequence[str] = (),
    within: str | None = None,
    min_score: float = 0.0,
    engine: Engine | None = None,
    settings: Settings | None = None,
) -> Tags | list[Tags]:
    """Tag a photo (or a list of photos) with ImageNet classes and their WordNet ancestors.

    Args:
        images: a path, bytes, PIL image or RGB array - or a list of them.
        top_k: number of fine tags per image, best first.
        preset: ``"fast"`` (one model) or ``"accurate"`` (an ensemble with test-time augmentation).
        levels: coarse concepts to score instead of fine tags, e.g. ``["dog", "cat"]``; a
            concept's score sums the probabilities of all classes below it.
        within: only fine tags below this concept, e.g. ``"dog"`` for breeds.
        min_score: drop tags scoring below this.
        engine: an Engine to reuse (its loaded models are kept); a temporary one otherwise.

    Returns:
        :class:`~ocula.types.Tags` for one image, a list of them for a list.

    Raises:
        ImageError: an input cannot be read; UnknownName: unknown preset or concept;
        ModelUnavailable: the model packages are not installed.
    """
    options = dict(top_k=top_k, preset=preset, levels=levels, within=within, min_score=min_score)
    if engine is not None:
        return engine.tag(images, **options)
    with Engine(settings) as temporary:
        return temporary.tag(images, **options)
