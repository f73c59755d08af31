"""Typed, checked results. Each result kind is one frozen dataclass of parallel arrays.

Like ``supervision.Detections``: every field has one entry per item, the constructor checks
shapes and dtypes, and indexing with a slice, an index array or a boolean mask returns the same
type, so filtering is ``tags[tags.score > 0.2]``. An integer index returns one plain record.
Drawing and printing live elsewhere (the CLI), not on the data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, overload

import numpy as np

from .errors import OculaError

__all__ = ["InputResult", "Tag", "TagResult", "Tags", "Within", "error_record", "object_array"]


def object_array(items: Sequence[Any]) -> np.ndarray:
    """A 1-D object array holding ``items`` as they are (tuples are not broadcast)."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


@dataclass(frozen=True)
class Tag:
    """One tag: an ImageNet class (``class_index`` 0-999) or a coarse concept (``class_index`` None)."""

    label: str
    wnid: str
    class_index: int | None
    score: float
    ancestors: tuple[str, ...]

    @property
    def is_concept(self) -> bool:
        return self.class_index is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "class_index": self.class_index,
            "wnid": self.wnid,
            "score": round(self.score, 6),
            "ancestors": list(self.ancestors),
        }


@dataclass(frozen=True)
class Within:
    """The concept tags were asked within ("which dog?"): its name, wnid and probability
    p(concept), the summed probability of every class below it."""

    concept: str
    wnid: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"concept": self.concept, "wnid": self.wnid, "score": round(self.score, 6)}


@dataclass(frozen=True, eq=False)
class Tags:
    """Tags of one image, best first.

    Attributes:
        label: (n,) str, human-readable names ("golden retriever").
        wnid: (n,) str, WordNet 3.0 noun synset ids ("n02099601").
        class_index: (n,) int64, ImageNet-1k index in sorted-wnid order; -1 for a coarse concept
            (e.g. "dog", whose score sums every breed's probability).
        score: (n,) float32 probabilities in [0, 1]: p(tag), or p(tag | concept) when
            ``within`` is set (so the breeds of a dog photo sum to 1 over all breeds).
        ancestors: (n,) tuples of hypernym names, nearest first ("retriever", ..., "dog", ...).
        recognised: False when no tag reached the tagger's confidence floor (``recognised_at``;
            with ``within``, when the concept itself did not): the tags are then best guesses,
            not answers (a blank image still has a "best" class).
        within: the concept the scores are conditioned on, with its own probability; None when
            scores are plain probabilities.
    """

    label: np.ndarray
    wnid: np.ndarray
    class_index: np.ndarray
    score: np.ndarray
    ancestors: np.ndarray
    recognised: bool = True
    within: Within | None = None

    def __post_init__(self) -> None:
        n = len(self.score)
        for name in ("label", "wnid", "class_index", "score", "ancestors"):
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.ndim != 1 or len(arr) != n:
                raise ValueError(f"Tags.{name} must be a 1-D array of length {n}")
        if self.class_index.dtype != np.int64:
            raise ValueError("Tags.class_index must be int64")
        if self.score.dtype != np.float32:
            raise ValueError("Tags.score must be float32")
        if n and (not np.all(np.isfinite(self.score)) or self.score.min() < 0 or self.score.max() > 1 + 1e-5):
            raise ValueError("Tags.score must hold probabilities in [0, 1]")
        if np.any(self.class_index < -1) or np.any(self.class_index > 999):
            raise ValueError("Tags.class_index must be in -1..999")
        for name in ("label", "wnid", "ancestors"):
            if getattr(self, name).dtype != object:
                raise ValueError(f"Tags.{name} must be an object array")

    @classmethod
    def empty(cls) -> Tags:
        return cls(
            label=object_array([]),
            wnid=object_array([]),
            class_index=np.zeros(0, np.int64),
            score=np.zeros(0, np.float32),
            ancestors=object_array([]),
        )

    @classmethod
    def from_records(cls, records: Sequence[Tag], *, recognised: bool = True, within: Within | None = None) -> Tags:
        return cls(
            recognised=recognised,
            within=within,
            label=object_array([r.label for r in records]),
            wnid=object_array([r.wnid for r in records]),
            class_index=np.array([-1 if r.class_index is None else r.class_index for r in records], np.int64),
            score=np.array([r.score for r in records], np.float32),
            ancestors=object_array([tuple(r.ancestors) for r in records]),
        )

    def __len__(self) -> int:
        return len(self.score)

    def __iter__(self) -> Iterator[Tag]:
        for i in range(len(self)):
            yield self[i]

    @overload
    def __getitem__(self, index: int | np.integer) -> Tag: ...
    @overload
    def __getitem__(self, index: slice | Sequence[int] | np.ndarray) -> Tags: ...
    def __getitem__(self, index: int | np.integer | slice | Sequence[int] | np.ndarray) -> Tag | Tags:
        """An integer: that :class:`Tag`; a slice, index array or boolean mask: a ``Tags`` of those."""
        if isinstance(index, (int, np.integer)):
            ci = int(self.class_index[index])
            return Tag(
                label=str(self.label[index]),
                wnid=str(self.wnid[index]),
                class_index=None if ci < 0 else ci,
                score=float(self.score[index]),
                ancestors=tuple(self.ancestors[index]),
            )
        if isinstance(index, np.ndarray) and index.dtype == bool and index.shape != self.score.shape:
            raise IndexError(f"boolean mask of shape {index.shape} for {len(self)} tags")
        return replace(  # recognised and within describe the image, not the rows kept
            self,
            label=self.label[index],
            wnid=self.wnid[index],
            class_index=self.class_index[index],
            score=self.score[index],
            ancestors=self.ancestors[index],
        )

    def __repr__(self) -> str:
        shown = ", ".join(f"{t.label}={t.score:.3f}" for t in list(self)[:5])
        more = f", … {len(self) - 5} more" if len(self) > 5 else ""
        within = f"within {self.within.concept}={self.within.score:.3f}: " if self.within else ""
        guesses = "" if self.recognised else "nothing recognised, best guesses: "
        return f"Tags({guesses}{within}[{shown}{more}])"

    @property
    def top(self) -> Tag | None:
        """The best tag, or None if there are none."""
        return self[0] if len(self) else None

    def has(self, concept: str) -> np.ndarray:
        """Boolean mask: tags that are ``concept`` or lie below it ("dog" matches every breed).

        ``concept`` is any name the ImageNet taxonomy knows: display name, synonym ("domestic
        dog") or wnid, in any case; an unknown one raises :class:`~ocula.errors.UnknownName`.
        """
        from .taxonomy import imagenet_taxonomy

        tax = imagenet_taxonomy()
        name = tax.names[tax.resolve(concept)]
        return np.array(
            [name == lab or name in anc for lab, anc in zip(self.label, self.ancestors, strict=False)], bool
        )

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per tag; within a concept, ``score`` is p(tag | concept) and
        ``probability`` is p(tag)."""
        if self.within is None:
            return [t.to_dict() for t in self]
        p_concept = self.within.score
        return [{**t.to_dict(), "probability": round(t.score * p_concept, 6)} for t in self]

    def to_dict(self) -> dict[str, Any]:
        """``recognised``, ``tags`` and, within a concept, ``within`` (concept, wnid, p(concept))."""
        out: dict[str, Any] = {"recognised": self.recognised, "tags": self.to_dicts()}
        if self.within is not None:
            out["within"] = self.within.to_dict()
        return out


def error_record(source: str, error: Exception) -> dict[str, Any]:
    """The JSON record of an input that failed (same shape for every kind of result)."""
    return {"path": source, "error": str(error), "error_type": type(error).__name__}


class InputResult:
    """What every per-input result of a stream holds (:class:`TagResult`,
    :class:`~ocula.face_types.FaceResult`): the input's name (``source``) and the
    :class:`~ocula.errors.OculaError` that stopped it (``error``; None when it was analysed)."""

    source: str
    error: OculaError | None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class TagResult(InputResult):
    """One input of a batch: its tags, or the error that stopped it (the batch goes on)."""

    source: str
    tags: Tags | None = None
    error: OculaError | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return error_record(self.source, self.error)
        assert self.tags is not None
        return {"path": self.source, **self.tags.to_dict()}
