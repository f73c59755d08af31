"""The concept index answers word queries exactly as a brute-force scan of the items would."""

from __future__ import annotations

import numpy as np
import pytest

from ocula.collections.concept_index import ConceptIndex
from ocula.concepts import CompactScores
from ocula.errors import StoreError
from ocula.text_query import Query, Term

N_CONCEPTS = 40


def random_items(rng: np.random.Generator, n: int) -> list[CompactScores]:
    """Items of 0-12 concepts; scores on a coarse grid so that ties happen."""
    items = []
    for _ in range(n):
        ids = np.sort(rng.choice(N_CONCEPTS, rng.integers(0, 13), replace=False)).astype(np.uint16)
        items.append(CompactScores(ids, (rng.integers(1, 21, len(ids)) / 20).astype(np.float16)))
    return items


def random_query(rng: np.random.Generator) -> Query:
    def term() -> Term:
        return Term("t", tuple(int(c) for c in rng.choice(N_CONCEPTS, rng.integers(1, 3), replace=False)))

    alternatives = tuple(tuple(term() for _ in range(rng.integers(1, 4))) for _ in range(rng.integers(1, 3)))
    return Query("q", alternatives)


def brute_force(truth: dict[int, CompactScores], query: Query, k: int | None) -> tuple[list[int], list[float]]:
    """Score every item (dense), keep those above 0, rank by score then insertion order."""
    ids = list(truth)
    dense = np.zeros((len(ids), N_CONCEPTS), np.float32)
    for row, item in enumerate(truth.values()):
        dense[row, item.ids] = item.scores
    scores = query.score(dense) if ids else np.zeros(0, np.float32)
    rows = np.flatnonzero(scores > 0)
    order = rows[np.lexsort((rows, -scores[rows]))][:k]
    return [ids[r] for r in order], scores[order].tolist()


def assert_same(index: ConceptIndex, truth: dict[int, CompactScores], rng: np.random.Generator, queries: int = 60):
    answered = 0
    for _ in range(queries):
        query = random_query(rng)
        for k in (1, 5, None):
            hits = index.search(query, k)
            ids, scores = brute_force(truth, query, k)
            assert hits.ids.tolist() == ids, (query, k)
            assert np.allclose(hits.scores, scores)
            answered += len(ids)
    assert answered > 0  # the random queries did match items


def test_search_equals_brute_force_on_random_data():
    rng = np.random.default_rng(1)
    items = random_items(rng, 300)
    ids = rng.permutation(10_000)[:300] + 7  # ids unrelated to rows
    index = ConceptIndex.build(ids, items, N_CONCEPTS)
    truth = dict(zip(ids.tolist(), items, strict=True))
    assert len(index) == 300
    assert_same(index, truth, rng)


def test_a_single_concept_is_the_head_of_its_posting():
    items = [CompactScores(np.array([3], np.uint16), np.array([s], np.float16)) for s in (0.2, 0.9, 0.5, 0.9)]
    index = ConceptIndex.build([10, 11, 12, 13], items, N_CONCEPTS)
    hits = index.search(Query("q", ((Term("t", (3,)),),)), k=3)
    assert hits.ids.tolist() == [11, 13, 12]  # ties by the order items were added
    assert len(index.search(Query("q", ((Term("t", (4,)),),)), k=3)) == 0


def test_updates_and_removals_stay_exact_before_and_after_compaction():
    rng = np.random.default_rng(2)
    items = random_items(rng, 200)
    index = ConceptIndex.build(np.arange(200), items, N_CONCEPTS)
    truth = dict(enumerate(items))
    for item_id, item in zip(rng.integers(0, 260, 60).tolist(), random_items(rng, 60), strict=True):
        index.upsert(item_id, item)
        truth.pop(item_id, None)
        truth[item_id] = item  # a replaced item counts as added last
    for item_id in rng.integers(0, 260, 40).tolist():
        assert index.remove(item_id) == (truth.pop(item_id, None) is not None)
    assert len(index) == len(truth)
    assert_same(index, truth, rng)
    index.compact()
    assert len(index) == len(truth)
    assert_same(index, truth, rng)


def test_rebuilt_from_stored_rows():
    rng = np.random.default_rng(5)
    items = random_items(rng, 80)
    index = ConceptIndex.from_rows(((i * 3, item.to_bytes()) for i, item in enumerate(items)), N_CONCEPTS)
    assert_same(index, {i * 3: item for i, item in enumerate(items)}, rng, queries=20)


def test_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    items = random_items(rng, 100)
    index = ConceptIndex.build(np.arange(100), items, N_CONCEPTS)
    index.upsert(500, items[0])
    index.remove(3)
    path = tmp_path / "concepts.npz"
    index.save(path, fingerprint="abc")
    loaded = ConceptIndex.load(path, fingerprint="abc")
    truth = {i: item for i, item in enumerate(items) if i != 3} | {500: items[0]}
    assert len(loaded) == len(truth)
    assert_same(loaded, truth, rng, queries=20)


def test_load_refuses_another_numbering_or_a_damaged_file(tmp_path):
    path = tmp_path / "concepts.npz"
    ConceptIndex.build([1], random_items(np.random.default_rng(4), 1), N_CONCEPTS).save(path, fingerprint="abc")
    with pytest.raises(StoreError, match="rebuild"):
        ConceptIndex.load(path, fingerprint="xyz")
    path.write_bytes(b"not an index")
    with pytest.raises(StoreError, match="cannot read"):
        ConceptIndex.load(path, fingerprint="abc")
    with pytest.raises(StoreError, match="cannot read"):
        ConceptIndex.load(tmp_path / "missing.npz", fingerprint="abc")


def test_build_refuses_repeated_ids():
    with pytest.raises(ValueError, match="unique"):
        ConceptIndex.build([4, 4], random_items(np.random.default_rng(6), 2), N_CONCEPTS)


def test_empty_index_answers_nothing():
    index = ConceptIndex.build([], [], N_CONCEPTS)
    assert len(index) == 0 and len(index.search(Query("q", ((Term("t", (1,)), Term("u", (2,))),)), k=None)) == 0
