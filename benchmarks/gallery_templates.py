"""How to combine several enrolment photos of a person: measured on an identities CSV.

Runs the `ocula eval identify` protocol (every second identity not enrolled; the first
``--enroll`` photos by path as gallery, the rest as mated probes) on embeddings computed once,
and compares ways to turn a person's photos into what a probe is compared with:

- ``first``: only the first photo (one template per person);
- ``max``: every photo a template, a person scores as their best photo (ocula's gallery);
- ``mean``: one template, the mean descriptor of the photos;
- ``max+mean``: both, best of either.

Prints rank-1 and FNIR at FPIR 0.01 / 0.1 (thresholds set on the non-mated probes) for each,
and the FPIR / FNIR measured at the threshold ocula's calibration gives for FPIR 0.01 and that
many templates: a policy is only usable if that FPIR stays near 0.01. Usage::

    python benchmarks/gallery_templates.py ../shared/data/faces/celeba-80/identities.csv \\
        --root ../shared/data/faces/celeba-80 [--enroll 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from ocula import Engine, QualityGate, Settings
from ocula.eval.identify import fnir_at_fpir, read_identities, split_protocol
from ocula.galleries.fpir_thresholds import threshold_for_fpir
from ocula.pipelines.calibration import shipped_calibration
from ocula.pipelines.faces import EMBEDDER_MODEL, similarity


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", type=Path)
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--enroll", type=int, default=3)
    args = ap.parse_args()
    images, ids = read_identities(args.csv, args.root)
    gallery, mated, nonmated = split_protocol(images, ids, args.enroll)
    emb = np.full((len(images), 128), np.nan, np.float32)
    usable = np.zeros(len(images), bool)
    with tempfile.TemporaryDirectory() as tmp, Engine(Settings(data_dir=tmp)) as engine:
        for i, r in enumerate(engine.faces_many(images, largest_only=True, detector="hog+cnn")):
            if r.ok and len(r.faces):
                emb[i] = r.faces.embeddings[0]
                usable[i] = bool(r.faces.usable(QualityGate())[0])
    people = sorted(gallery)
    # Enrolment applies the quality gate, as Gallery.enroll does.
    photos = {p: [i for i in gallery[p] if usable[i]] for p in people}
    people = [p for p in people if photos[p]]
    policies = {
        "first": {p: emb[photos[p][:1]] for p in people},
        "max": {p: emb[photos[p]] for p in people},
        "mean": {p: emb[photos[p]].mean(axis=0, keepdims=True) for p in people},
        "max+mean": {p: np.vstack([emb[photos[p]], emb[photos[p]].mean(axis=0, keepdims=True)]) for p in people},
    }
    probes_m = np.array([i for i, _ in mated])
    mates = [m for _, m in mated]
    probes_n = np.array(nonmated)
    print(f"{len(people)} enrolled people, {len(probes_m)} mated, {len(probes_n)} non-mated probes")
    table = shipped_calibration(EMBEDDER_MODEL)
    print(
        f"{'policy':10} {'templates':>9} {'rank-1':>7} {'FNIR@0.01':>10} {'FNIR@0.1':>9}   calibrated for 0.01: "
        f"FPIR, FNIR"
    )
    for name, templates in policies.items():

        def best(probe_ix: np.ndarray, templates: dict = templates) -> tuple[list[str], np.ndarray]:
            scores = np.stack(
                [similarity(emb[probe_ix][:, None, :], t[None]).max(axis=1) for t in templates.values()], 1
            )
            scores = np.nan_to_num(scores, nan=-np.inf)
            top = scores.argmax(axis=1)
            return [people[j] for j in top], scores[np.arange(len(top)), top]

        who, score = best(probes_m)
        hit = np.array([w == m for w, m in zip(who, mates, strict=False)])
        _, nm = best(probes_n)
        f1, _ = fnir_at_fpir(hit, score, nm, 0.01)
        f10, _ = fnir_at_fpir(hit, score, nm, 0.1)
        n_t = sum(len(t) for t in templates.values())
        t = threshold_for_fpir(table, 0.01, n_t).threshold
        fpir, fnir = np.mean(nm >= t), 1 - np.mean(hit & (score >= t))
        print(
            f"{name:10} {n_t:9d} {hit.mean():7.4f} {f1:10.4f} {f10:9.4f}   {fpir:.4f}, {fnir:.4f} (threshold {t:.3f})"
        )


if __name__ == "__main__":
    main()
