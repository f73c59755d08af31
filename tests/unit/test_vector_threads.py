"""Small FAISS searches run on one OpenMP thread (the parallel region costs more than the search);
the scores and ids are the same, and the caller's OpenMP setting is left as it was."""

from __future__ import annotations

import numpy as np
import pytest

from ocula.collections.vectors import SMALL_SEARCH, FaissVectors, search_threads

faiss = pytest.importorskip("faiss")


def test_a_small_search_is_single_threaded_and_a_large_one_is_not():
    assert search_threads(1, 120) == 1  # one face against a gallery's templates
    assert search_threads(10, SMALL_SEARCH // 10 - 1) == 1
    assert search_threads(1, SMALL_SEARCH) is None and search_threads(1_000, 10_000) is None


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_single_threaded_search_gives_the_same_answer_and_restores_the_setting(metric):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((120, 128)).astype(np.float32)
    index = FaissVectors.build(np.arange(120), vectors, 128, metric=metric)
    queries = rng.standard_normal((3, 128)).astype(np.float32)
    before = faiss.omp_get_max_threads()
    scores, ids = index.search(queries, 10)
    assert faiss.omp_get_max_threads() == before
    expected_scores, expected_ids = index._search(queries, 10, None)  # FAISS's own threads
    assert len(ids) == 3 and np.array_equal(ids, expected_ids) and np.array_equal(scores, expected_scores)
    allowed = np.arange(0, 120, 7)
    _, filtered = index.search(queries, 5, allowed)
    assert np.isin(filtered, allowed).all() and faiss.omp_get_max_threads() == before
