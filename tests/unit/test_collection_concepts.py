"""A collection's concept scores: stored with the item, in one transaction; the concept index
answering words rebuilt whenever the store changes, so a deleted or replaced item is never
returned, whichever connection changed it."""

from __future__ import annotations

import numpy as np
import pytest

from ocula import Settings
from ocula.collections import Collection, NewItem
from ocula.concepts import CompactScores, concept_space
from ocula.errors import NoConceptScores
from ocula.text_query import parse_query

DOG = "n02084071"  # WordNet's dog
CAT = "n02121620"  # WordNet's cat (true cat)


@pytest.fixture
def settings(tmp_path, cache_dir) -> Settings:
    return Settings(data_dir=tmp_path / "data", cache_dir=cache_dir, offline=True)


def scores(**by_wnid: float) -> CompactScores:
    space = concept_space()
    ids = sorted(space.id_of[w] for w in by_wnid)
    by_id = {space.id_of[w]: s for w, s in by_wnid.items()}
    return CompactScores(np.array(ids, np.uint16), np.array([by_id[i] for i in ids], np.float16))


def item(item_id: str, concepts: CompactScores | None, seed: int = 0) -> NewItem:
    v = np.random.default_rng(seed).normal(size=(1, 8)).astype(np.float32)
    return NewItem(item_id, v / np.linalg.norm(v), path=f"/photos/{item_id}.jpg", concepts=concepts)


def open_store(settings: Settings, *, stamped: bool = True) -> Collection:
    fingerprint = concept_space().fingerprint if stamped else None
    return Collection.open("c", settings=settings, embedder="e", dim=8, create=True, concepts=fingerprint)


def words(coll: Collection, text: str) -> list[str]:
    hits = coll.text_index(concept_space()).search(parse_query(text), k=None)
    return [i for i in coll.item_ids(hits.ids)]


def test_concept_scores_round_trip_and_are_replaced_with_the_item(settings):
    with open_store(settings) as coll:
        coll.add([item("a", scores(**{DOG: 0.9, CAT: 0.05})), item("b", scores(**{CAT: 0.7}), 1)])
        stored = coll.concept_scores("a")
        assert stored is not None and stored.to_bytes() == scores(**{DOG: 0.9, CAT: 0.05}).to_bytes()
        assert words(coll, "dog") == ["a"] and words(coll, "cat") == ["b", "a"]
        coll.add([item("a", None)])  # a new photo under the same id, without scores
        assert coll.concept_scores("a") is None and words(coll, "dog") == []


def test_a_deleted_item_is_never_found_by_words_from_any_connection(settings):
    with open_store(settings) as reader, Collection.open("c", settings=settings) as writer:
        reader.add([item("a", scores(**{DOG: 0.9})), item("b", scores(**{DOG: 0.4}), 1)])
        assert words(reader, "dog") == ["a", "b"]  # the index is built now, then...
        writer.delete(["a"])  # ... another connection deletes (as another process would)
        assert words(reader, "dog") == ["b"]
        assert reader.concept_scores("a") is None
        writer.add([item("c", scores(**{DOG: 0.6}), 2)])
        assert words(reader, "dog") == ["c", "b"]


def test_a_store_without_concept_scores_asks_for_a_reindex(settings):
    with open_store(settings, stamped=False) as coll:
        coll.add([item("a", None)])
        with pytest.raises(NoConceptScores, match="ocula reindex --collection c"):
            coll.text_index(concept_space())
