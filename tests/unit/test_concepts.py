"""Concept scores: ImageNet probabilities summed up the WordNet hierarchy, and their compact form."""

from __future__ import annotations

import numpy as np
import pytest

from ocula.concepts import CompactScores, concept_space
from ocula.errors import InputError
from ocula.taxonomy import imagenet_taxonomy

GOLDEN_RETRIEVER = 207


def one_hot(index: int) -> np.ndarray:
    probs = np.zeros((1, 1000), np.float32)
    probs[0, index] = 1.0
    return probs


def test_a_class_counts_toward_itself_and_every_ancestor_once():
    space, tax = concept_space(), imagenet_taxonomy()
    scores = space.scores(one_hot(GOLDEN_RETRIEVER))[0]
    shown = {space.wnids[c] for c in np.flatnonzero(scores)}
    wnid = tax.classes[GOLDEN_RETRIEVER]
    assert shown == {wnid, *tax.ancestor_wnids(wnid)}
    assert np.allclose(scores[np.flatnonzero(scores)], 1.0)  # once, though WordNet reaches some by two paths
    assert scores[space.id_of[tax.resolve("cat")]] == 0


def test_scores_sum_the_classes_under_each_concept():
    space, tax = concept_space(), imagenet_taxonomy()
    assert 1700 < len(space) < 2000
    probs = np.random.default_rng(0).dirichlet(np.full(1000, 0.05), size=4).astype(np.float32)
    scores = space.scores(probs)
    assert scores.shape == (4, len(space))
    for name in ("dog", "vehicle", "entity", "musical instrument", "crane (wading bird)"):
        wnid = tax.resolve(name)
        expected = probs[:, tax.descendants_mask(wnid)].sum(axis=1)
        assert np.allclose(scores[:, space.id_of[wnid]], expected, atol=1e-5), name
    assert np.allclose(scores[:, space.id_of[tax.resolve("entity")]], 1.0, atol=1e-5)


def test_scores_reject_the_wrong_shape():
    with pytest.raises(InputError, match="1000"):
        concept_space().scores(np.zeros((2, 10)))


def test_compact_keeps_the_concepts_at_or_above_the_floor():
    space = concept_space()
    probs = np.zeros((1, 1000), np.float32)
    probs[0, GOLDEN_RETRIEVER], probs[0, 0] = 0.95, 0.05  # a golden retriever, maybe a tench
    full = space.scores(probs)
    (kept,) = space.compact(full, floor=0.1)
    assert len(kept) == np.count_nonzero(full[0] >= 0.1)
    assert kept.ids.dtype == np.uint16 and kept.scores.dtype == np.float16
    assert np.allclose(kept.scores, full[0, kept.ids], atol=1e-3)
    (everything,) = space.compact(full, floor=0.0)  # zeros are never stored
    assert len(everything) == np.count_nonzero(full[0])


def test_compact_bytes_round_trip_at_four_bytes_a_concept():
    (item,) = concept_space().compact(concept_space().scores(one_hot(GOLDEN_RETRIEVER)))
    blob = item.to_bytes()
    assert len(blob) == 4 * len(item)
    back = CompactScores.from_bytes(blob)
    assert np.array_equal(back.ids, item.ids) and np.array_equal(back.scores, item.scores)
    assert len(CompactScores.from_bytes(b"")) == 0
    with pytest.raises(InputError, match="5 bytes"):
        CompactScores.from_bytes(b"\x00" * 5)


def test_depths_count_steps_from_the_root():
    space, tax = concept_space(), imagenet_taxonomy()
    assert space.depths[space.id_of[tax.resolve("entity")]] == 0
    assert space.depths[space.id_of[tax.resolve("physical entity")]] == 1
    dog, golden = space.id_of[tax.resolve("dog")], space.id_of[tax.classes[GOLDEN_RETRIEVER]]
    assert space.depths[golden] > space.depths[dog] > 0


def test_fingerprint_names_the_numbering():
    space = concept_space()
    assert len(space.fingerprint) == 16 and space.fingerprint == concept_space().fingerprint


def test_compact_top_k_keeps_the_best_k():
    space = concept_space()
    probs = np.random.default_rng(1).dirichlet(np.full(1000, 0.05), size=3).astype(np.float32)
    full = space.scores(probs)
    for row, kept in zip(full, space.compact(full, floor=0.0, top_k=5), strict=True):
        assert len(kept) == 5 and np.array_equal(kept.ids, np.sort(kept.ids))
        assert np.all(row[kept.ids] >= np.sort(row)[-5])
