"""1:N identification in a gallery of 1,000,000 face templates: latency and rank-1 against exact search.

The gallery holds the real people of an identities CSV (the `ocula eval identify` protocol:
every second identity enrolled with its first 3 photos) plus synthetic distractors drawn from a
Gaussian fitted to the real descriptors (mean and covariance of all faces in the CSV), so they
sit where real faces do. It is stored as ocula stores galleries (SQLite + FAISS; IVF from 50,000
vectors) and reopened, so the index is built as a user's would be. The mated probes are then
identified with ``Gallery.identify_faces`` (search, FPIR threshold and candidates; the face is
already detected and described) and with exact NumPy search over all templates in the same
script. Printed: build time, identify latency p50/p99 for both, rank-1 of both and how often
ocula's rank-1 equals the exact one. Usage::

    python benchmarks/gallery_scale.py ../shared/data/faces/celeba-80/identities.csv \\
        --root ../shared/data/faces/celeba-80 [--size 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ocula import Engine, Settings
from ocula.collections import NewItem
from ocula.eval.identify import read_identities, split_protocol
from ocula.galleries import Gallery
from ocula.pipelines.faces import similarity


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", type=Path)
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--size", type=int, default=1_000_000, help="Templates in the gallery in all.")
    args = ap.parse_args()
    images, ids = read_identities(args.csv, args.root)
    gallery_ix, mated, _ = split_protocol(images, ids, 3)
    with tempfile.TemporaryDirectory() as tmp, Engine(Settings(data_dir=tmp)) as engine:
        faces = [
            r.faces[:1] if r.ok and len(r.faces) else None
            for r in engine.faces_many(images, largest_only=True, detector="hog+cnn")
        ]
        real = np.stack([f.embeddings[0] for f in faces if f is not None])
        with Gallery.open("big", engine=engine, create=True) as g:
            for person, members in gallery_ix.items():
                g.enroll(person, [faces[i] for i in members if faces[i] is not None])
            n_real = int(g._coll.info()["vectors"])
            rng = np.random.default_rng(0)
            mean, cov = real.mean(axis=0), np.cov(real, rowvar=False)
            start = time.perf_counter()
            chunk = 50_000
            for first in range(0, args.size - n_real, chunk):
                count = min(chunk, args.size - n_real - first)
                d = rng.multivariate_normal(mean, cov, size=count).astype(np.float32)
                g._coll.add(NewItem(f"distractor-{first + i:07d}", d[i : i + 1]) for i in range(count))
            print(f"stored {args.size:,} templates ({n_real} real) in {time.perf_counter() - start:.0f} s")
        start = time.perf_counter()
        with Gallery.open("big", engine=engine) as g:
            info = g._coll.info()
            print(f"reopened, index built from the store in {time.perf_counter() - start:.1f} s: {info['index']}")
            people_of = []
            all_desc = []
            for item in g._coll.items():
                v = g._coll.vectors(item.id)
                all_desc.append(v)
                people_of += [item.id] * len(v)
            all_desc = np.concatenate(all_desc)
            probes = [(faces[i], mate) for i, mate in mated if faces[i] is not None]
            g.identify_faces(probes[0][0], k=1)  # warm-up
            ours, exact, times, exact_times = [], [], [], []
            for probe, _mate in probes:
                t = time.perf_counter()
                found = g.identify_faces(probe, k=1)[0]
                times.append(time.perf_counter() - t)
                ours.append(found.candidates[0].person if found.candidates else None)
                t = time.perf_counter()
                best = int(np.argmax(similarity(probe.embeddings[0][None], all_desc)))
                exact_times.append(time.perf_counter() - t)
                exact.append(people_of[best])
    mates = [m for _, m in probes]
    ms, ems = np.array(times) * 1e3, np.array(exact_times) * 1e3
    print(f"{len(probes)} mated probes against {args.size:,} templates")
    print(
        f"ocula identify  p50 {np.percentile(ms, 50):6.2f} ms  p99 {np.percentile(ms, 99):6.2f} ms  rank-1 "
        f"{np.mean([a == b for a, b in zip(ours, mates, strict=False)]):.4f}"
    )
    print(
        f"exact (NumPy)   p50 {np.percentile(ems, 50):6.2f} ms  p99 {np.percentile(ems, 99):6.2f} ms  rank-1 "
        f"{np.mean([a == b for a, b in zip(exact, mates, strict=False)]):.4f}"
    )
    print(
        f"ocula's rank-1 = exact rank-1 for {np.mean([a == b for a, b in zip(ours, exact, strict=False)]):.4f} of "
        f"probes; "
        f"speed-up p50 {np.percentile(ems, 50) / np.percentile(ms, 50):.1f}x"
    )


if __name__ == "__main__":
    main()
