"""Face clustering on an identities CSV: ocula's average linkage with cannot-link against plain
DBSCAN and plain single-linkage agglomerative clustering, on the same embeddings, BCubed F.

Each method is run over a grid of its threshold (DBSCAN also over min_samples), and the best
setting is reported for each, so the baselines get every chance; ocula's default threshold
(``DEFAULT_CLUSTER_THRESHOLD``) is reported too. DBSCAN and single linkage are implemented here
in NumPy (a neighbour graph plus connected components), as scikit-learn would compute them with
a precomputed distance of ``1 - similarity``. Usage::

    python benchmarks/face_clustering.py ../shared/data/faces/celeba-80/identities.csv \\
        --root ../shared/data/faces/celeba-80
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ocula import Engine, Settings
from ocula.eval.identify import read_identities
from ocula.galleries.clustering import DEFAULT_CLUSTER_THRESHOLD, bcubed, cluster_faces
from ocula.pipelines.faces import similarity


def components(adjacency: np.ndarray) -> np.ndarray:
    n = len(adjacency)
    labels = np.full(n, -1)
    current = 0
    for start in range(n):
        if labels[start] >= 0:
            continue
        stack = [start]
        labels[start] = current
        while stack:
            k = stack.pop()
            for m in np.flatnonzero(adjacency[k] & (labels < 0)):
                labels[m] = current
                stack.append(m)
        current += 1
    return labels


def dbscan(sim: np.ndarray, threshold: float, min_samples: int) -> np.ndarray:
    near = sim >= threshold  # includes itself (similarity 1)
    core = near.sum(axis=1) >= min_samples
    labels = components(near & core[:, None] & core[None, :])
    out = np.where(core, labels, -1)
    for k in np.flatnonzero(~core):  # border points join a neighbouring core's cluster; noise alone
        cores = np.flatnonzero(near[k] & core)
        out[k] = labels[cores[0]] if len(cores) else out.max() + 1 + k
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", type=Path)
    ap.add_argument("--root", type=Path, required=True)
    args = ap.parse_args()
    images, ids = read_identities(args.csv, args.root)
    emb, truth = [], []
    with tempfile.TemporaryDirectory() as tmp, Engine(Settings(data_dir=tmp)) as engine:
        for i, r in enumerate(engine.faces_many(images, largest_only=True, detector="hog+cnn")):
            if r.ok and len(r.faces):
                emb.append(r.faces.embeddings[0])
                truth.append(ids[i])
    x = np.stack(emb)
    sim = similarity(x[:, None, :], x[None, :, :])
    print(f"{len(x)} faces of {len(set(truth))} people")
    grid = np.round(np.arange(0.70, 0.965, 0.02), 2)
    results = {}
    for t in grid:
        start = time.perf_counter()
        labels = cluster_faces(x, threshold=float(t))
        results[("ocula average linkage + cannot-link", float(t))] = (bcubed(labels, truth), time.perf_counter() - start)
        results[("single linkage", float(t))] = (bcubed(components(sim >= t), truth), 0.0)
        for min_samples in (2, 3, 5):
            results[(f"DBSCAN min_samples={min_samples}", float(t))] = (bcubed(dbscan(sim, t, min_samples), truth), 0.0)
    default = cluster_faces(x, threshold=DEFAULT_CLUSTER_THRESHOLD)
    print(f"{'method':40} {'threshold':>9} {'precision':>9} {'recall':>7} {'BCubed F':>8}")
    for method in dict.fromkeys(m for m, _ in results):
        (key, ((p, r, f), _)) = max(((k, v) for k, v in results.items() if k[0] == method), key=lambda kv: kv[1][0][2])
        print(f"{method:40} {key[1]:9.2f} {p:9.4f} {r:7.4f} {f:8.4f}  (best over the grid)")
    p, r, f = bcubed(default, truth)
    print(f"{'ocula default':40} {DEFAULT_CLUSTER_THRESHOLD:9.2f} {p:9.4f} {r:7.4f} {f:8.4f}  ({len(set(default))} clusters)")


if __name__ == "__main__":
    main()
