"""Search by words over a million items: query time of the concept index, and storage per item.

Synthetic items shaped like real ones: each draws the concept set of a random photo of
sample-334 (its compact concept scores at ocula's floor, the real per-item distribution of what
is stored), with every score jittered by a log-normal factor (sigma 0.3, clipped to 1) and the
ones falling under the floor dropped. Queries are the first lemma of concepts drawn as often as
items hold them (users look for what their photos show):

- one word ("dog"), top 10;
- two words that must both hold ("dog animal"), top 10;
- either of two words ("dog | cat"), top 10.

The same queries are answered by a brute-force NumPy scan of the items' compact scores laid end
to end (the form a collection stores per item), in the same process, and the answers compared.

    python benchmarks/text_search_scale.py ../shared/data [--items 1000000] [--probs CACHE.npz]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ocula.collections.concept_index import ConceptIndex, Hits
from ocula.concepts import DEFAULT_FLOOR, concept_space
from ocula.text_query import Query, parse_query, vocabulary

K = 10


def real_compact(data: Path, cache: Path | None) -> list:
    """The compact concept scores of sample-334's photos (fast preset)."""
    if cache is not None and cache.exists():
        with np.load(cache) as saved:
            probs = saved["probs"]
    else:
        from ocula import Engine
        from ocula.eval.imagenet import read_labels

        root = data / "imagenet" / "sample-334"
        rows = read_labels(root / "labels.csv", root)
        with Engine() as engine:
            probs = np.stack([p for _, p, _ in engine.class_probabilities([p for p, _ in rows])])
        if cache is not None:
            np.savez(cache, probs=probs, labels=np.array([c for _, c in rows]))
    space = concept_space()
    return space.compact(space.scores(probs), DEFAULT_FLOOR)


def synthetic(real: list, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(counts, concepts, scores) of ``n`` items laid end to end (see the module docstring)."""
    src_counts = np.array([len(c) for c in real])
    src_start = np.concatenate([[0], np.cumsum(src_counts)[:-1]])
    src_ids = np.concatenate([c.ids for c in real])
    src_scores = np.concatenate([c.scores for c in real]).astype(np.float32)
    pick = rng.integers(0, len(real), n)
    counts = src_counts[pick]
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    gather = np.repeat(src_start[pick] - first, counts) + np.arange(counts.sum())
    scores = np.minimum(src_scores[gather] * rng.lognormal(0.0, 0.3, len(gather)), 1.0)
    keep = scores >= DEFAULT_FLOOR
    item_of = np.repeat(np.arange(n), counts)[keep]
    return np.bincount(item_of, minlength=n), src_ids[gather][keep], scores[keep].astype(np.float16)


class BruteForce:
    """Every query answered by scanning all stored (item, concept, score) triples."""

    def __init__(self, n: int, counts: np.ndarray, concepts: np.ndarray, scores: np.ndarray):
        self.n, self.concepts, self.scores = n, concepts, scores.astype(np.float32)
        self.item_of = np.repeat(np.arange(n, dtype=np.int32), counts)

    def _dense(self, concepts: tuple[int, ...]) -> np.ndarray:
        sel = np.flatnonzero(np.isin(self.concepts, concepts))
        dense = np.zeros(self.n, np.float32)
        np.maximum.at(dense, self.item_of[sel], self.scores[sel])
        return dense

    def search(self, query: Query, k: int) -> Hits:
        best = np.zeros(self.n, np.float32)
        for alternative in query.alternatives:
            best = np.maximum(best, np.minimum.reduce([self._dense(t.concepts) for t in alternative]))
        rows = np.flatnonzero(best > 0)
        order = np.lexsort((rows, -best[rows]))[:k]
        return Hits(rows[order].astype(np.int64), best[rows][order])


def draw_queries(counts: np.ndarray, concepts: np.ndarray, rng: np.random.Generator, n: int) -> dict[str, list[Query]]:
    space, vocab = concept_space(), vocabulary()
    frequency = np.bincount(concepts, minlength=len(space)).astype(float)
    words = [
        space.taxonomy.lemmas[space.wnids[c]][0] for c in rng.choice(len(space), 3 * n, p=frequency / frequency.sum())
    ]
    return {
        "one word": [parse_query(w, vocab) for w in words[:n]],
        "two words (both)": [parse_query(f"{a} {b}", vocab) for a, b in zip(words[:n], words[n : 2 * n], strict=True)],
        "either word": [parse_query(f"{a} | {b}", vocab) for a, b in zip(words[:n], words[2 * n :], strict=True)],
    }


def timed(search, queries: list[Query]) -> tuple[np.ndarray, list[Hits]]:
    times, answers = [], []
    for query in queries:
        start = time.perf_counter()
        answers.append(search(query, K))
        times.append(time.perf_counter() - start)
    return np.array(times) * 1000, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the shared data root (../shared/data)")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="per kind for the index (a tenth for brute force)")
    parser.add_argument("--probs", type=Path, help="cache file for sample-334's class probabilities")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    counts, concepts, scores = synthetic(real_compact(args.data, args.probs), args.items, rng)
    start = time.perf_counter()
    index = ConceptIndex.from_flat(np.arange(args.items), counts, concepts, scores, len(concept_space()))
    build_s = time.perf_counter() - start
    brute = BruteForce(args.items, counts, concepts, scores)
    stored = 4 * len(concepts) / args.items
    print(f"{args.items:,} items, {len(concepts) / args.items:.1f} concepts an item (floor {DEFAULT_FLOOR}): "
          f"compact scores {stored:.1f} bytes an item; index {index.nbytes / args.items:.1f} bytes an item in memory, "
          f"built in {build_s:.1f} s")  # fmt: skip
    header = ("query", "p50 ms", "p95 ms", "brute p50", "brute p95", "speed-up p50", "same")
    print(f"{header[0]:<18} " + " ".join(f"{h:>12}" for h in header[1:]))
    for kind, queries in draw_queries(counts, concepts, rng, args.queries).items():
        ms, answers = timed(index.search, queries)
        few = max(1, len(queries) // 10)
        brute_ms, brute_answers = timed(brute.search, queries[:few])
        same = sum(np.array_equal(a.ids, b.ids) for a, b in zip(answers[:few], brute_answers, strict=True))
        p50, p95 = np.percentile(ms, [50, 95])
        brute_p50, brute_p95 = np.percentile(brute_ms, [50, 95])
        cells = (
            f"{p50:.2f}",
            f"{p95:.2f}",
            f"{brute_p50:.1f}",
            f"{brute_p95:.1f}",
            f"{brute_p50 / p50:.0f}x",
            f"{same}/{few}",
        )
        print(f"{kind:<18} " + " ".join(f"{c:>12}" for c in cells))


if __name__ == "__main__":
    main()
