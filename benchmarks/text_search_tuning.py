"""Choose the floor below which concept scores are not stored (ocula.concepts.DEFAULT_FLOOR).

Each item stores its concepts scoring at least the floor (4 bytes each: uint16 id, float16
score). A higher floor stores less and loses the photos whose score for a queried concept falls
below it. The measure is ``ocula eval text-search``'s mAP (ocula.eval.text_search), with the
full vector (every concept, 7,440 bytes an item) as the reference. A fixed number of concepts an
item (the best K) is reported beside it, for the comparison.

sample-334 is split in two halves by photo (alternate rows of its labels CSV). The rule, fixed
before looking: on the tuning half (even rows), the highest candidate floor whose mAP is within
0.001 of the full vector's. Both halves are reported, and the whole sample.

    python benchmarks/text_search_tuning.py ../shared/data [--preset fast] [--probs CACHE.npz]

``--probs`` caches the (334, 1000) class probabilities (written on the first run, read after).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ocula.eval.text_search import score_text_search

CANDIDATES = (0.001, 0.003, 0.01, 0.02, 0.03, 0.05, 0.1)
TOP_K = (8, 16, 24, 32)
MAX_MAP_LOSS = 0.001  # against the full vector, on the tuning half


def probabilities(data: Path, preset: str, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    if cache is not None and cache.exists():
        with np.load(cache) as saved:
            return saved["probs"], saved["labels"]
    from ocula import Engine
    from ocula.eval.imagenet import read_labels

    root = data / "imagenet" / "sample-334"
    rows = read_labels(root / "labels.csv", root)
    with Engine() as engine:
        out = list(engine.class_probabilities([p for p, _ in rows], preset=preset))
    failed = [name for name, _, error in out if error is not None]
    if failed:
        raise SystemExit(f"unreadable photos: {failed}")
    probs, labels = np.stack([p for _, p, _ in out]), np.array([c for _, c in rows])
    if cache is not None:
        np.savez(cache, probs=probs, labels=labels)
    return probs, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the shared data root (../shared/data)")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--probs", type=Path, help="cache file for the class probabilities")
    args = parser.parse_args()
    probs, labels = probabilities(args.data, args.preset, args.probs)
    halves = {"tune (even rows)": slice(0, None, 2), "held out (odd rows)": slice(1, None, 2), "all": slice(None)}
    table = {}
    for name, rows in halves.items():
        full = score_text_search(probs[rows], labels[rows], floor=0.0)
        table[name] = {0.0: full, **{f: score_text_search(probs[rows], labels[rows], floor=f) for f in CANDIDATES}}
    tune = table["tune (even rows)"]
    chosen = max(f for f in CANDIDATES if tune[f].map >= tune[0.0].map - MAX_MAP_LOSS)
    print(f"preset {args.preset}; rule: highest floor within {MAX_MAP_LOSS} mAP of the full vector on the tuning half")
    print(f"{'floor':>6} " + " ".join(f"{name:>36}" for name in halves))
    print(f"{'':>6} " + " ".join(f"{'mAP':>8} {'P@10':>7} {'base':>7} {'bytes':>7}    " for _ in halves))
    for floor in (0.0, *CANDIDATES):
        cells = [table[name][floor] for name in halves]
        mark = " <- chosen" if floor == chosen else (" (full vector)" if floor == 0.0 else "")
        print(f"{floor:>6} " + " ".join(
            f"{r.map:8.4f} {r.precision_at_10:7.4f} {r.baseline_map:7.4f} {r.bytes_per_item:7.1f}    " for r in cells
        ) + mark)  # fmt: skip
    print("\nthe alternative, a fixed number of concepts an item (the best K, no floor):")
    for top_k in TOP_K:
        cells = [score_text_search(probs[rows], labels[rows], floor=0.0, top_k=top_k) for rows in halves.values()]
        print(f"{'K=' + str(top_k):>6} " + " ".join(
            f"{r.map:8.4f} {r.precision_at_10:7.4f} {r.baseline_map:7.4f} {r.bytes_per_item:7.1f}    " for r in cells
        ))  # fmt: skip
    for name in halves:
        r = table[name][chosen]
        print(f"{name}: {r.n_items} photos, {r.n_queries} queries, floor {chosen}: mAP {r.map:.4f} "
              f"(full vector {table[name][0.0].map:.4f}), baseline {r.baseline_map:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
