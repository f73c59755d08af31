"""ocula's vector index against brute-force NumPy, in one script, on clustered synthetic vectors.

For each (n, dim): n L2-normalised vectors around 1,000 random centres (noise half the size of
a centre), and 1,000 held-out queries from the same distribution. Printed for ocula's
``FaissVectors.build`` (IVF at these sizes) and for exact NumPy search (matrix product + top-k):
build time, resident memory added, single-query and batched queries/s, recall@10 against the
exact answer, and the speed ratios.

    python benchmarks/vector_index.py                       # 1M x 128 and 200k x 1280 (~5 min)
    python benchmarks/vector_index.py --sizes 100000x128    # a quick run
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ocula.collections.vectors import FaissVectors

K = 10


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def clustered(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.normal(size=(1000, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):  # chunks keep the float64 temporaries small
        m = min(100_000, n - start)
        x = centres[rng.integers(0, 1000, m)] + rng.normal(scale=0.5 / np.sqrt(dim), size=(m, dim)).astype(np.float32)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def exact_top_k(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ data.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def run(n: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    data = clustered(n, dim, rng)
    queries = clustered(1000, dim, np.random.default_rng(1))
    ids = np.arange(n, dtype=np.int64)
    print(f"{n:,} x {dim}-D ({data.nbytes / 2**20:,.0f} MB of vectors), 1,000 queries, k={K}")

    before = rss_mb()
    start = time.perf_counter()
    index = FaissVectors.build(ids, data, dim)
    build = time.perf_counter() - start
    memory = rss_mb() - before

    start = time.perf_counter()
    for q in queries:
        index.search(q[None], K)
    single = len(queries) / (time.perf_counter() - start)
    start = time.perf_counter()
    _, found = index.search(queries, K)
    batched = len(queries) / (time.perf_counter() - start)

    start = time.perf_counter()
    for q in queries[:50]:
        exact_top_k(data, q[None], K)
    np_single = 50 / (time.perf_counter() - start)
    start = time.perf_counter()
    truth = np.concatenate([exact_top_k(data, queries[i : i + 100], K) for i in range(0, len(queries), 100)])
    np_batched = len(queries) / (time.perf_counter() - start)
    recall = np.mean([len(set(a) & set(b)) / K for a, b in zip(truth, found, strict=False)])

    print(
        f"  ocula  {index.kind}: build {build:.1f} s, +{memory:,.0f} MB resident, "
        f"{single:,.0f} single / {batched:,.0f} batched queries/s, recall@{K} {recall:.4f}"
    )
    print(f"  numpy  exact: {np_single:,.1f} single / {np_batched:,.0f} batched queries/s")
    print(f"  ratio  single {single / np_single:,.0f}x, batched {batched / np_batched:,.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["1000000x128", "200000x1280"])
    args = parser.parse_args()
    for size in args.sizes:
        n, dim = (int(v) for v in size.lower().split("x"))
        run(n, dim)


if __name__ == "__main__":
    main()
