"""Face clustering on an identities CSV: ocula's average linkage with cannot-link against plain
DBSCAN and plain single-linkage agglomerative clustering, on the same embeddings, BCubed F.

Each method is run over a grid of its threshold (DBSCAN also over min_samples), and the best
setting is reported for each, so the baselines get every chance; ocula's default threshold
(``DEFAULT_CLUSTER_THRESHOLD``) is reported too. DBSCAN and single linkage are implemented here
in NumPy (a neighbour graph plus connected components), as scikit-learn would compute them with
a precomputed distance of ``1 - similarity``. Usage::

    python benchmarks/face_clustering.py ../shared/data/faces/celeba-80/identities.csv \\
        --root ../shared/data/faces/celeba-80 [--descriptor sface]

``--split`` chooses ocula's threshold for the descriptor on identities it is then not checked
on: the identities (sorted, those the shipped SFace calibration lists as mixed left out) are cut
into halves; the threshold with the best BCubed F on one half is scored on the other, both ways
(this is how the registry's ``cluster_threshold`` of each descriptor was chosen)::

    python benchmarks/face_clustering.py ../shared/data/faces/celeba-80/identities.csv \\
        --root ../shared/data/faces/celeba-80 --descriptor sface --split
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ocula import Engine, Settings
from ocula.eval.identify import read_identities
from ocula.galleries.clustering import bcubed, cluster_faces, cluster_threshold
from ocula.models.registry import get_model
from ocula.pipelines.calibration import shipped_calibration
from ocula.pipelines.faces import DEFAULT_DETECTORS, DESCRIPTOR_MODELS, Descriptor, similarity

#: Thresholds tried per descriptor: dlib's ``1 - |a-b|^2/2`` sits higher than SFace's cosine,
#: and the fusion's (the mean of SFace's and of the cosine of unit dlib descriptors) in between.
GRIDS = {
    Descriptor.DLIB: np.arange(0.70, 0.965, 0.02),
    Descriptor.SFACE: np.arange(0.20, 0.705, 0.02),
    Descriptor.FUSED: np.arange(0.40, 0.905, 0.01),
}


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


def embed(csv: Path, root: Path, descriptor: Descriptor) -> tuple[np.ndarray, list[str]]:
    """The largest face's descriptor of every photo with a face, and its identity."""
    images, ids = read_identities(csv, root)
    emb, truth = [], []
    detector = DEFAULT_DETECTORS[descriptor].value
    with tempfile.TemporaryDirectory() as tmp, Engine(Settings(data_dir=tmp)) as engine:
        faces = engine.faces_many(images, largest_only=True, detector=detector, descriptor=descriptor.value)
        for i, r in enumerate(faces):
            if r.ok and len(r.faces):
                emb.append(r.faces.embeddings[0])
                truth.append(ids[i])
    return np.stack(emb), truth


def mixed_identities() -> set[str]:
    """The identities the shipped SFace calibration found mixing several people (left out)."""
    meta = shipped_calibration(DESCRIPTOR_MODELS[Descriptor.SFACE]).meta
    return set(meta.get("mixed_identities", {}).get("flagged", {}))


def _shipped(descriptor: Descriptor) -> float | None:
    """The registry's clustering threshold of ``descriptor`` (None: not chosen yet)."""
    return get_model(DESCRIPTOR_MODELS[descriptor]).cluster_threshold


def split(x: np.ndarray, truth: list[str], descriptor: Descriptor) -> None:
    """Tune on one half of the identities, score on the other, both ways."""
    mixed = mixed_identities()
    shipped = _shipped(descriptor)
    people = sorted(set(truth) - mixed)
    halves = (set(people[: len(people) // 2]), set(people[len(people) // 2 :]))
    print(
        f"left out as mixed: {sorted(mixed & set(truth))}; halves of {len(halves[0])} and {len(halves[1])} identities"
    )
    print(f"{'tuned on':>8} {'threshold':>9} {'tune F':>7} | {'held-out precision':>18} {'recall':>7} {'BCubed F':>8}"
          f" | at shipped {shipped}: P, R, F")
    for name, tune, check in (("A", *halves), ("B", *halves[::-1])):
        def part(members: set[str]) -> tuple[np.ndarray, list[str]]:
            keep = [i for i, t in enumerate(truth) if t in members]
            return x[keep], [truth[i] for i in keep]

        xt, tt = part(tune)
        xc, tc = part(check)
        scored = [(bcubed(cluster_faces(xt, threshold=float(t)), tt)[2], float(t)) for t in GRIDS[descriptor]]
        f_tune, best = max(scored)
        p, r, f = bcubed(cluster_faces(xc, threshold=best), tc)
        at_shipped = "-" if shipped is None else "{:.4f}, {:.4f}, {:.4f}".format(
            *bcubed(cluster_faces(xc, threshold=shipped), tc)
        )
        print(f"{name:>8} {best:9.2f} {f_tune:7.4f} | {p:18.4f} {r:7.4f} {f:8.4f} | {at_shipped}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", type=Path)
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--descriptor", type=Descriptor, default=Descriptor.DLIB, help="dlib, sface or sface+dlib")
    ap.add_argument(
        "--split", action="store_true", help="tune the threshold on half the identities, score on the other"
    )
    args = ap.parse_args()
    x, truth = embed(args.csv, args.root, args.descriptor)
    print(f"{args.descriptor.value}: {len(x)} faces of {len(set(truth))} people")
    if args.split:
        split(x, truth, args.descriptor)
        return
    sim = similarity(x[:, None, :], x[None, :, :])
    grid = np.round(GRIDS[args.descriptor], 2)
    results = {}
    for t in grid:
        start = time.perf_counter()
        labels = cluster_faces(x, threshold=float(t))
        results[("ocula average linkage + cannot-link", float(t))] = (
            bcubed(labels, truth),
            time.perf_counter() - start,
        )
        results[("single linkage", float(t))] = (bcubed(components(sim >= t), truth), 0.0)
        for min_samples in (2, 3, 5):
            results[(f"DBSCAN min_samples={min_samples}", float(t))] = (bcubed(dbscan(sim, t, min_samples), truth), 0.0)
    shipped = cluster_threshold(DESCRIPTOR_MODELS[args.descriptor])
    default = cluster_faces(x, threshold=shipped)
    print(f"{'method':40} {'threshold':>9} {'precision':>9} {'recall':>7} {'BCubed F':>8}")
    for method in dict.fromkeys(m for m, _ in results):
        (key, ((p, r, f), _)) = max(((k, v) for k, v in results.items() if k[0] == method), key=lambda kv: kv[1][0][2])
        print(f"{method:40} {key[1]:9.2f} {p:9.4f} {r:7.4f} {f:8.4f}  (best over the grid)")
    p, r, f = bcubed(default, truth)
    print(f"{'ocula default':40} {shipped:9.2f} {p:9.4f} {r:7.4f} {f:8.4f}  ({len(set(default))} clusters)")


if __name__ == "__main__":
    main()
