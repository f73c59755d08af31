"""Concept scores: ImageNet-1k probabilities summed up the WordNet hierarchy.

A *concept* is any synset of ``data/imagenet_taxonomy.json`` (the 1000 classes and their
hypernyms, 1,860 in all). An item's score for a concept is the probability that the photo shows
something under it: the sum of the probabilities of the classes that are the concept or lie
below it ("dog" sums the 118 dog breeds). A class counts once toward itself and once toward each
of its ancestors, even where WordNet reaches an ancestor by two paths.

The full vector (1,860 floats) is mostly near-zero; what an item stores is its *compact* form:
the concepts scoring at least :data:`DEFAULT_FLOOR`, as uint16 concept ids and float16 scores
(4 bytes a concept). The floor was chosen on half of sample-334 (benchmarks/text_search_tuning.py)
and the mAP it costs measured on the other half; see the README.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .taxonomy import Taxonomy, imagenet_taxonomy

__all__ = ["DEFAULT_FLOOR", "CompactScores", "ConceptSpace", "concept_space"]

#: Concept scores below this are not stored (chosen on the tuning half of sample-334).
DEFAULT_FLOOR = 0.03

_ID = np.dtype("<u2")  # concept ids: 1,860 concepts fit uint16
_SCORE = np.dtype("<f2")  # scores in [0, 1]: float16 keeps ~3 significant digits


@dataclass(frozen=True)
class CompactScores:
    """One item's concept scores above a floor: ids (uint16) and scores (float16), by id."""

    ids: np.ndarray
    scores: np.ndarray

    def to_bytes(self) -> bytes:
        """The stored form: the ids, then the scores, little-endian (4 bytes a concept)."""
        return self.ids.astype(_ID).tobytes() + self.scores.astype(_SCORE).tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> CompactScores:
        if len(blob) % 4:
            raise InputError(f"concept scores blob of {len(blob)} bytes is not a whole number of (id, score) pairs")
        n = len(blob) // 4
        ids = np.frombuffer(blob, _ID, count=n)
        scores = np.frombuffer(blob, _SCORE, count=n, offset=2 * n)
        return cls(ids, scores)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class ConceptSpace:
    """The concepts (ids 0..C-1, in wnid order) and which classes each one sums.

    ``members`` is the class->concept matrix in CSC form: the classes of concept ``c`` are
    ``member_classes[members[c]:members[c + 1]]``.
    """

    taxonomy: Taxonomy
    wnids: tuple[str, ...]
    members: np.ndarray  # (C + 1,) int64 offsets into member_classes
    member_classes: np.ndarray  # (nnz,) int32 class indices

    @classmethod
    def from_taxonomy(cls, taxonomy: Taxonomy) -> ConceptSpace:
        wnids = tuple(sorted(taxonomy.names))
        concept_of = {w: i for i, w in enumerate(wnids)}
        pairs = []  # (concept, class)
        for index, wnid in enumerate(taxonomy.classes):
            for w in (wnid, *taxonomy.ancestor_wnids(wnid)):
                pairs.append((concept_of[w], index))
        pairs.sort()
        concepts = np.array([p[0] for p in pairs], np.int64)
        members = np.searchsorted(concepts, np.arange(len(wnids) + 1)).astype(np.int64)
        return cls(taxonomy, wnids, members, np.array([p[1] for p in pairs], np.int32))

    def __len__(self) -> int:
        return len(self.wnids)

    @functools.cached_property
    def id_of(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.wnids)}

    @functools.cached_property
    def fingerprint(self) -> str:
        """Names the concept numbering: stored compact scores are valid only under the same one."""
        return hashlib.sha256("\n".join(self.wnids).encode()).hexdigest()[:16]

    @functools.cached_property
    def depths(self) -> np.ndarray:
        """(C,) int: each concept's WordNet depth, the fewest hypernym steps up to the root."""
        parents = self.taxonomy.parents
        depth: dict[str, int] = {}

        def walk(wnid: str) -> int:
            if wnid not in depth:
                ups = parents[wnid]
                depth[wnid] = 0 if not ups else 1 + min(walk(p) for p in ups)
            return depth[wnid]

        return np.array([walk(w) for w in self.wnids], np.int32)

    def classes_of(self, concept: int) -> np.ndarray:
        """Class indices that are ``concept`` or lie below it."""
        return self.member_classes[self.members[concept] : self.members[concept + 1]]

    def scores(self, probabilities: np.ndarray) -> np.ndarray:
        """(N, 1000) class probabilities -> (N, C) float32 concept scores."""
        probs = np.asarray(probabilities, np.float32)
        if probs.ndim != 2 or probs.shape[1] != len(self.taxonomy.classes):
            raise InputError(f"class probabilities must be (N, {len(self.taxonomy.classes)}), not {probs.shape}")
        gathered = probs[:, self.member_classes]  # (N, nnz), grouped by concept
        return np.add.reduceat(gathered, self.members[:-1], axis=1)

    def compact(
        self, scores: np.ndarray, floor: float = DEFAULT_FLOOR, *, top_k: int | None = None
    ) -> list[CompactScores]:
        """Each row of (N, C) concept scores reduced to its concepts scoring at least ``floor``
        (and only its ``top_k`` best of those, when given: the alternative the floor was
        measured against)."""
        out = []
        for row in np.asarray(scores):
            stored = row.astype(_SCORE)
            ids = np.flatnonzero((row >= floor) & (stored > 0))  # 0 is "not shown": never stored
            if top_k is not None and len(ids) > top_k:
                ids = np.sort(ids[np.argsort(-row[ids], kind="stable")[:top_k]])
            out.append(CompactScores(ids.astype(_ID), stored[ids]))
        return out


@functools.lru_cache(maxsize=1)
def concept_space() -> ConceptSpace:
    """The concepts of the shipped ImageNet-1k taxonomy."""
    return ConceptSpace.from_taxonomy(imagenet_taxonomy())
