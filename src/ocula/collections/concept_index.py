"""An inverted index of concept scores: which items show a dog, best first.

Per concept, the *posting*: the items whose compact concept scores (ocula.concepts) include it,
sorted by descending score, as two NumPy arrays sliced out of one CSC-style block (``indptr``,
``rows`` int32, ``scores`` float16; 6 bytes a stored (item, concept) score). A word query
(ocula.text_query) is answered from postings only:

- one term of one concept: the head of its posting;
- a term of several senses: their postings merged, an item keeping its best score (max);
- terms that must all hold ("dog cat"): the shortest term's items, each scored by its weakest
  term (min), looked up in the other terms' postings; an item missing from one scores 0 and drops;
- alternatives ("dog | cat"): merged, an item keeping its best alternative's score (max).

Rank rule: descending score, ties by the order items were added (older first). Only items scoring
above 0 match. The index is rebuilt from a collection's rows with :meth:`ConceptIndex.build` and
kept current per item with :meth:`upsert` and :meth:`remove`: changes go to a small delta index
and tombstones, folded into the main block by :meth:`compact` when the delta outgrows
``COMPACT_FRACTION`` of the index (and before :meth:`save`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..concepts import CompactScores
from ..errors import StoreError
from ..text_query import Query, Term

__all__ = ["COMPACT_FRACTION", "ConceptIndex", "Hits"]

#: The delta is folded into the main block when it holds more than this fraction of the items.
COMPACT_FRACTION = 0.01
_MIN_DELTA = 1000  # ... and more than this many items (small indexes are cheap to query twice)
_FORMAT = 1


@dataclass(frozen=True)
class Hits:
    """Matching items, best first: their ids and query scores."""

    ids: np.ndarray  # int64
    scores: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.ids)


class ConceptIndex:
    """Postings of concept scores for a set of items (see the module docstring)."""

    def __init__(self, n_concepts: int, item_ids: np.ndarray, indptr: np.ndarray, rows: np.ndarray, scores: np.ndarray):
        self.n_concepts = n_concepts
        self.item_ids = np.asarray(item_ids, np.int64)  # row -> item id
        self.indptr, self.rows, self.scores = indptr, rows, scores
        self._by_id = np.argsort(self.item_ids, kind="stable")
        self._dead = np.zeros(len(self.item_ids), bool)  # tombstones of removed or replaced rows
        self._n_dead = 0
        self._delta: dict[int, CompactScores] = {}
        self._delta_index: ConceptIndex | None = None

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def build(
        cls, item_ids: Sequence[int] | np.ndarray, items: Sequence[CompactScores], n_concepts: int
    ) -> ConceptIndex:
        """The index of ``items`` (compact scores), item ``item_ids[i]`` being ``items[i]``."""
        counts = np.fromiter((len(c) for c in items), np.int64, count=len(items))
        concepts = np.concatenate([c.ids for c in items]) if items else np.zeros(0, np.uint16)
        scores = np.concatenate([c.scores for c in items]) if items else np.zeros(0, np.float16)
        return cls.from_flat(np.asarray(item_ids, np.int64), counts, concepts, scores, n_concepts)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, bytes]], n_concepts: int) -> ConceptIndex:
        """Rebuild from a store's rows: (item id, compact scores as stored by
        :meth:`CompactScores.to_bytes`), in the order the items were added."""
        ids, items = [], []
        for item_id, blob in rows:
            ids.append(item_id)
            items.append(CompactScores.from_bytes(blob))
        return cls.build(ids, items, n_concepts)

    @classmethod
    def from_flat(
        cls, item_ids: np.ndarray, counts: np.ndarray, concepts: np.ndarray, scores: np.ndarray, n_concepts: int
    ) -> ConceptIndex:
        """Build from the items' compact scores laid end to end: item ``i`` owns ``counts[i]``
        consecutive (concept, score) pairs."""
        if len(item_ids) != len(counts) or len(concepts) != len(scores) or counts.sum() != len(concepts):
            raise ValueError("item_ids/counts and concepts/scores disagree in length")
        if len(np.unique(item_ids)) != len(item_ids):
            raise ValueError("item ids must be unique")
        if len(concepts) and int(concepts.max()) >= n_concepts:
            raise ValueError(f"concept id {int(concepts.max())} out of range for {n_concepts} concepts")
        rows = np.repeat(np.arange(len(item_ids), dtype=np.uint64), counts)
        # One sort by a packed key: concept, then descending score, then row. Non-negative
        # float16 values order like their bit patterns, so 0xFFFF - bits sorts them descending.
        bits = np.asarray(scores, np.float16).view(np.uint16).astype(np.uint64)
        key = (np.asarray(concepts, np.uint64) << np.uint64(48)) | ((np.uint64(0xFFFF) - bits) << np.uint64(32)) | rows
        key.sort()
        sorted_concepts = (key >> np.uint64(48)).astype(np.int64)
        indptr = np.searchsorted(sorted_concepts, np.arange(n_concepts + 1)).astype(np.int64)
        out_rows = (key & np.uint64(0xFFFFFFFF)).astype(np.int32)
        out_scores = (
            (np.uint64(0xFFFF) - ((key >> np.uint64(32)) & np.uint64(0xFFFF))).astype(np.uint16).view(np.float16)
        )
        return cls(n_concepts, item_ids, indptr, out_rows, out_scores)

    # -- updating -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.item_ids) - self._n_dead + len(self._delta)

    @property
    def nbytes(self) -> int:
        """Bytes the main block holds in memory (postings and item ids)."""
        return self.indptr.nbytes + self.rows.nbytes + self.scores.nbytes + self.item_ids.nbytes

    def _row_of(self, item_id: int) -> int | None:
        pos = np.searchsorted(self.item_ids, item_id, sorter=self._by_id)
        if pos < len(self._by_id) and self.item_ids[self._by_id[pos]] == item_id:
            row = int(self._by_id[pos])
            return None if self._dead[row] else row
        return None

    def remove(self, item_id: int) -> bool:
        """Forget an item; False when it was not indexed."""
        row = self._row_of(item_id)
        if row is not None:
            self._dead[row] = True
            self._n_dead += 1
        found = self._delta.pop(int(item_id), None) is not None
        if found:
            self._delta_index = None
        return row is not None or found

    def upsert(self, item_id: int, scores: CompactScores) -> None:
        """Index an item, replacing what was indexed under its id."""
        self.remove(item_id)
        self._delta[int(item_id)] = scores
        self._delta_index = None
        if len(self._delta) > max(_MIN_DELTA, COMPACT_FRACTION * len(self)):
            self.compact()

    def compact(self) -> None:
        """Fold the delta and the tombstones into the main block."""
        if not self._delta and not self._n_dead:
            return
        live, counts, concepts, scores = self._live_pairs()
        delta_ids = np.fromiter(self._delta, np.int64, count=len(self._delta))
        delta = list(self._delta.values())
        merged = ConceptIndex.from_flat(
            np.concatenate([self.item_ids[live], delta_ids]),
            np.concatenate([counts, np.fromiter((len(c) for c in delta), np.int64, count=len(delta))]),
            np.concatenate([concepts, *(c.ids for c in delta)]),
            np.concatenate([scores, *(c.scores for c in delta)]),
            self.n_concepts,
        )
        self.__dict__.update(merged.__dict__)  # become the merged index (callers hold this object)

    def _live_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The rows not removed (ascending), their pair counts, and their (concept, score) pairs
        laid end to end, row by row: the input :meth:`from_flat` takes."""
        live = np.flatnonzero(~self._dead)
        concept_of_pair = np.repeat(np.arange(self.n_concepts, dtype=np.uint16), np.diff(self.indptr))
        order = np.argsort(self.rows, kind="stable")  # by row, then concept
        keep = ~self._dead[self.rows[order]]
        counts = np.bincount(self.rows, minlength=len(self.item_ids))[live]
        return live, counts, concept_of_pair[order][keep], self.scores[order][keep]

    # -- querying -----------------------------------------------------------------------------
    def search(self, query: Query, k: int | None = 10) -> Hits:
        """The ``k`` best matching items (all of them when ``k`` is None), by the rank rule."""
        rows, scores = _top(*self._match(query, k), k)
        hits = Hits(self.item_ids[rows], scores)
        if not self._delta:
            return hits
        return _merge(hits, self._delta_view().search(query, k), k)

    def _delta_view(self) -> ConceptIndex:
        if self._delta_index is None:
            self._delta_index = ConceptIndex.build(list(self._delta), list(self._delta.values()), self.n_concepts)
        return self._delta_index

    # Each step below returns (rows, float32 scores) with every row once. With ``k`` set it may
    # return only a superset of its k best: the k best of a max over parts (senses of a word,
    # alternatives) are always among the union of each part's k best, so a part stops at k.

    def _posting(self, concept: int, k: int | None) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.indptr[concept], self.indptr[concept + 1]
        rows, scores = self.rows[lo:hi], self.scores[lo:hi]
        if self._n_dead:
            alive = ~self._dead[rows]
            rows, scores = rows[alive], scores[alive]
        return rows[:k], scores[:k].astype(np.float32)  # a posting is in rank order

    def _term(self, term: Term, k: int | None) -> tuple[np.ndarray, np.ndarray]:
        """A word's items, each with its best sense's score."""
        return self._union_max([self._posting(c, k) for c in term.concepts])

    def _alternative(self, terms: tuple[Term, ...], k: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Items every term matches, each with its weakest term's score."""
        if len(terms) == 1:
            return self._term(terms[0], k)
        matched = sorted((self._term(t, None) for t in terms), key=lambda p: len(p[0]))
        rows, scores = matched[0]
        for other_rows, other_scores in matched[1:]:
            if not len(rows):
                break
            dense = np.zeros(len(self.item_ids), np.float32)
            dense[other_rows] = other_scores
            scores = np.minimum(scores, dense[rows])
            keep = scores > 0
            rows, scores = rows[keep], scores[keep]
        return rows, scores

    def _match(self, query: Query, k: int | None) -> tuple[np.ndarray, np.ndarray]:
        return self._union_max([self._alternative(alt, k) for alt in query.alternatives])

    def _union_max(self, parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Parts (each row once in each) as one, a row keeping its highest score."""
        if len(parts) == 1:
            return parts[0]
        total = sum(len(rows) for rows, _ in parts)
        if total * 8 < len(self.item_ids):  # few rows: sort them; else a dense pass over all items
            rows = np.concatenate([r for r, _ in parts])
            scores = np.concatenate([s for _, s in parts])
            order = np.lexsort((-scores, rows))  # by row, best score first
            rows, scores = rows[order], scores[order]
            first = np.ones(len(rows), bool)
            first[1:] = rows[1:] != rows[:-1]
            return rows[first], scores[first]
        dense = np.zeros(len(self.item_ids), np.float32)
        for rows, scores in parts:
            dense[rows] = np.maximum(dense[rows], scores)
        rows = np.flatnonzero(dense).astype(np.int32)
        return rows, dense[rows]

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: Path, *, fingerprint: str) -> None:
        """Write the index (compacted) to ``path`` (.npz), stamped with the concept numbering."""
        self.compact()
        try:
            with Path(path).open("wb") as fh:
                np.savez(
                    fh, format=np.int64(_FORMAT), fingerprint=np.str_(fingerprint),
                    n_concepts=np.int64(self.n_concepts), item_ids=self.item_ids, indptr=self.indptr,
                    rows=self.rows, scores=self.scores,
                )  # fmt: skip
        except OSError as exc:
            raise StoreError(f"cannot write the concept index {path} ({exc.strerror or exc})") from None

    @classmethod
    def load(cls, path: Path, *, fingerprint: str) -> ConceptIndex:
        """Read an index written by :meth:`save`; StoreError when it is unreadable or was built
        under another concept numbering (rebuild it from the collection's rows)."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                if int(data["format"]) != _FORMAT or str(data["fingerprint"]) != fingerprint:
                    raise StoreError(f"{path}: concept index of another format or concept numbering; rebuild it")
                return cls(int(data["n_concepts"]), data["item_ids"], data["indptr"], data["rows"], data["scores"])
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"cannot read the concept index {path} ({exc})") from None


def _top(rows: np.ndarray, scores: np.ndarray, k: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The k best (rows, scores) by descending score, ties by row."""
    if k is not None and len(rows) > k:
        if k <= 0:
            return rows[:0], scores[:0].astype(np.float32)
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth  # every tie of the k-th score, so the tie rule decides the cut
        rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores.astype(np.float32)))[:k]
    return rows[order], scores[order].astype(np.float32)


def _merge(a: Hits, b: Hits, k: int | None) -> Hits:
    """Two best-first hit lists as one (``a`` wins ties: its items were added earlier)."""
    ids, scores = np.concatenate([a.ids, b.ids]), np.concatenate([a.scores, b.scores])
    origin = np.repeat([0, 1], [len(a), len(b)])
    position = np.concatenate([np.arange(len(a)), np.arange(len(b))])
    order = np.lexsort((position, origin, -scores))[:k]
    return Hits(ids[order], scores[order])
