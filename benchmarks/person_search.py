"""Search a photo collection by person (``ocula search --person``): precision, recall, erasure, speed.

For each data set, a few people are enrolled into a gallery (up to 3 photos each), ALL the other
photos of the folder are indexed as one collection (``Engine.index_folder``: each photo's
embedding and its faces, YuNet + SFace), and each person is searched with
:func:`ocula.galleries.search_person` at the default FPIR (0.01, as ``ocula faces identify``).
A returned photo is right when the identities list the person in it. Then one person is
forgotten (``Gallery.forget``) and searched again: UnknownName, and no other person's search
returns more than before.

Data and labels:

- ``face-recognition-examples``: the people of ``knn_examples/train/<person>/`` (their train
  photos enrolled, 1–2 each: the folder has no more), labels of the other photos from their
  names (``EXAMPLE_LABELS``, checked by eye: ``two_people.jpg`` is Obama and Biden,
  ``tests/test_images/32bit.png`` is Obama). Photos byte-identical to an enrolled one are not
  indexed (they would be found at similarity 1).
- ``celeba-80``: 10 identities (the first by id among those with >= 6 photos, leaving out the 4
  the calibration flagged as mixed), their first 3 photos enrolled; the other 1,027 photos of
  all 80 people indexed; truth from ``identities.csv`` (one identity per photo: another person
  in the photo is not labelled, so a right match on them counts as wrong).

No threshold is tuned here: the threshold is the gallery's FPIR threshold from the shipped
SFace calibration. That calibration was measured on celeba-80's pairs, so the celeba-80 figures
are on the calibration's own data; the face_recognition examples are held out from it.

``--scale N`` also times a search over a synthetic collection of N items with 2 faces each
(random unit descriptors, written straight into the store), cold (faces read from SQLite) and
warm; ``--speed N`` times ``index_folder`` on N celeba-80 photos with and without faces. Usage::

    python benchmarks/person_search.py [--data ../shared/data] [--scale 10000] [--speed 40]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from ocula import Engine, Settings
from ocula.collections import Collection, ItemFaces, NewItem
from ocula.engine.search import item_faces_stamp
from ocula.errors import UnknownName
from ocula.galleries import Gallery, search_person
from ocula.galleries.enrolment import store_templates

EXAMPLES = "faces/face-recognition-examples"
CELEBA = "faces/celeba-80"
#: The identities the calibration flagged as mixed (tools/build_face_calibration.py): not chosen.
MIXED = {"7214", "7208", "7219", "7202"}
CELEBA_PEOPLE = 10
ENROL = 3
#: Who each photo of face-recognition-examples shows (by path); train photos by their folder.
EXAMPLE_LABELS = {
    "examples/biden.jpg": {"biden"},
    "examples/obama-1080p.jpg": {"obama"},
    "examples/obama-240p.jpg": {"obama"},
    "examples/obama-480p.jpg": {"obama"},
    "examples/obama-720p.jpg": {"obama"},
    "examples/obama.jpg": {"obama"},
    "examples/obama2.jpg": {"obama"},
    "examples/obama_small.jpg": {"obama"},
    "examples/two_people.jpg": {"obama", "biden"},
    "examples/knn_examples/test/alex_lacamoire1.jpg": {"alex_lacamoire"},
    "examples/knn_examples/test/johnsnow_test1.jpg": {"kit_harington"},
    "examples/knn_examples/test/kit_with_rose.jpg": {"kit_harington", "rose_leslie"},
    "examples/knn_examples/test/obama1.jpg": {"obama"},
    "examples/knn_examples/test/obama_and_biden.jpg": {"obama", "biden"},
    "tests/test_images/32bit.png": {"obama"},
    "tests/test_images/biden.jpg": {"biden"},
    "tests/test_images/obama.jpg": {"obama"},
    "tests/test_images/obama2.jpg": {"obama"},
    "tests/test_images/obama3.jpg": {"obama"},
    "tests/test_images/obama_partial_face.jpg": {"obama"},
    "tests/test_images/obama_partial_face2.jpg": {"obama"},
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def examples_task(root: Path) -> tuple[dict[str, list[Path]], dict[Path, set[str]]]:
    """(person -> enrolment photos, indexed photo -> people shown) of face-recognition-examples."""
    train = root / "examples/knn_examples/train"
    enrol = {d.name: sorted(d.iterdir())[:ENROL] for d in sorted(train.iterdir()) if d.is_dir()}
    enrolled = {sha256(p) for photos in enrol.values() for p in photos}
    truth = {root / rel: people for rel, people in EXAMPLE_LABELS.items() if sha256(root / rel) not in enrolled}
    return enrol, truth


def celeba_task(root: Path) -> tuple[dict[str, list[Path]], dict[Path, set[str]]]:
    """(person -> their first 3 photos, every other photo -> its identity) of celeba-80."""
    lines = (root / "identities.csv").read_text().splitlines()[1:]
    by_person: dict[str, list[Path]] = defaultdict(list)
    for line in lines:
        rel, identity = line.rsplit(",", 1)
        by_person[identity].append(root / rel)
    chosen = [p for p in sorted(by_person) if p not in MIXED and len(by_person[p]) >= 6][:CELEBA_PEOPLE]
    enrol = {p: sorted(by_person[p])[:ENROL] for p in chosen}
    enrolled = {x for photos in enrol.values() for x in photos}
    truth = {x: {p} for p, photos in by_person.items() for x in photos if x not in enrolled}
    return enrol, truth


def run_task(engine: Engine, name: str, enrol: dict[str, list[Path]], truth: dict[Path, set[str]]) -> None:
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    ids = {}
    for i, path in enumerate(sorted(truth)):
        link = folder / f"{i:04d}{path.suffix}"
        link.symlink_to(path)
        ids[link.name] = path
    start = time.perf_counter()
    report = engine.index_folder(folder, name)
    took = time.perf_counter() - start
    print(f"\n{name}: indexed {report.added} photos ({len(report.failed)} failed) in {took:.0f} s "
          f"({report.added / took:.2f} photos/s, faces stored)")  # fmt: skip
    with Gallery.open(name, engine=engine, create=True) as g, Collection.open(name, settings=engine.settings) as coll:
        for person, photos in enrol.items():
            done = g.enroll(person, photos)
            if done.refused:
                print(f"  {person}: {len(done.refused)} enrolment photo(s) refused ({done.refused[0][1]})")
        tp_all = fp_all = fn_all = 0
        header = ("person", "enrolled", "relevant", "found", "right", "precision", "recall")
        print("  {:<16} {:>8} {:>8} {:>6} {:>6} {:>9} {:>7}".format(*header))
        counts = {}
        for person in enrol:
            if person not in g:
                continue
            found = search_person(g, coll, person, k=100_000)
            got = {ids[m.id] for m in found.matches}
            relevant = {p for p, people in truth.items() if person in people}
            tp, fp, fn = len(got & relevant), len(got - relevant), len(relevant - got)
            tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
            counts[person] = len(got)
            precision = tp / (tp + fp) if tp + fp else float("nan")
            recall = tp / (tp + fn) if tp + fn else float("nan")
            n_enrolled = len(g.templates(person)[0])
            row = (person, n_enrolled, len(relevant), len(got), tp)
            wrong = sorted("+".join(sorted(truth[p])) for p in got - relevant)
            shown = f"  wrong: {', '.join(wrong)}" if wrong else ""
            print("  {:<16} {:>8} {:>8} {:>6} {:>6}".format(*row), f"{precision:>9.3f} {recall:>7.3f}{shown}")
        print(f"  {'all (micro)':<16} {'':>8} {tp_all + fn_all:>8} {tp_all + fp_all:>6} {tp_all:>6} "
              f"{tp_all / max(1, tp_all + fp_all):>9.3f} {tp_all / max(1, tp_all + fn_all):>7.3f}"
              f"   (threshold {found.threshold:.3f} at FPIR {found.fpir})")  # fmt: skip
        victim = next(iter(counts))
        g.forget(victim)
        try:
            search_person(g, coll, victim)
            print(f"  FORGET FAILED: {victim} is still searchable")
        except UnknownName as exc:
            print(f"  after forgetting {victim}: {exc}")
        after = {p: search_person(g, coll, p, k=100_000) for p in counts if p != victim}
        changed = {p: len(a.matches) - counts[p] for p, a in after.items() if len(a.matches) != counts[p]}
        threshold = next(iter(after.values())).threshold
        print(f"  the others' searches after the forget: {changed or 'unchanged'} (the threshold follows the "
              f"gallery's size: {found.threshold:.4f} -> {threshold:.4f})")


def scale(engine: Engine, n_items: int, repeats: int = 20) -> None:
    """A person search over ``n_items`` synthetic items of 2 faces each: cold and warm latency."""
    rng = np.random.default_rng(0)
    embedder = engine.image_embedder()
    stamp = item_faces_stamp()
    with Collection.open("scale", settings=engine.settings, embedder=embedder.stamp, dim=embedder.dim,
                         create=True) as coll:  # fmt: skip
        start = time.perf_counter()
        vector = np.eye(1, embedder.dim, dtype=np.float32)
        for first in range(0, n_items, 1000):
            d = rng.normal(size=(2000, 128)).astype(np.float32)
            d /= np.linalg.norm(d, axis=1, keepdims=True)
            boxes = np.tile([10.0, 10.0, 110.0, 130.0], (2, 1))
            coll.add(
                NewItem(
                    f"item-{first + i:07d}",
                    vector,
                    metadata={"year": 2000 + (first + i) % 25},
                    faces=ItemFaces(stamp, boxes, d[2 * i : 2 * i + 2]),
                )
                for i in range(min(1000, n_items - first))
            )
        print(f"\nscale: stored {n_items:,} items x 2 faces in {time.perf_counter() - start:.0f} s")
    with (
        Gallery.open("scale", engine=engine, create=True) as g,
        Collection.open("scale", settings=engine.settings) as coll,
    ):
        t = rng.normal(size=(3, 128)).astype(np.float32)
        store_templates(g._coll, "someone", t / np.linalg.norm(t, axis=1, keepdims=True), [{}, {}, {}])
        start = time.perf_counter()
        search_person(g, coll, "someone")
        cold = time.perf_counter() - start
        warm = []
        for _ in range(repeats):
            start = time.perf_counter()
            search_person(g, coll, "someone")
            warm.append(time.perf_counter() - start)
        start = time.perf_counter()
        search_person(g, coll, "someone", where="year >= 2020")
        filtered = time.perf_counter() - start
        print(f"scale: search --person over {n_items:,} items ({2 * n_items:,} faces): cold {cold * 1000:.0f} ms "
              f"(faces read from SQLite), warm p50 {statistics.median(warm) * 1000:.1f} ms, "
              f"with --where {filtered * 1000:.0f} ms")  # fmt: skip


def speed(engine: Engine, root: Path, n: int) -> None:
    """``index_folder`` photos/s on ``n`` celeba-80 photos, without and with faces."""
    photos = sorted((root / "images").rglob("*.jpg"))[:n]
    folder = Path(tempfile.mkdtemp(prefix="speed-"))
    for p in photos:
        (folder / f"{p.parent.name}-{p.name}").symlink_to(p)
    engine.index_folder(folder, "speed-warm")  # models loaded, files in the page cache
    for faces in (False, True):
        start = time.perf_counter()
        engine.index_folder(folder, f"speed-{faces}", faces=faces)
        took = time.perf_counter() - start
        print(f"\nspeed: index {n} celeba-80 photos {'with' if faces else 'without'} faces: {n / took:.2f} photos/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--scale", type=int, default=10_000, help="Synthetic items for the latency part (0: skip).")
    ap.add_argument("--speed", type=int, default=40, help="celeba-80 photos for the index speed part (0: skip).")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Engine(Settings(data_dir=tmp)) as engine:
        if args.speed:
            speed(engine, args.data / CELEBA, args.speed)
        run_task(engine, "examples", *examples_task(args.data / EXAMPLES))
        run_task(engine, "celeba80", *celeba_task(args.data / CELEBA))
        if args.scale:
            scale(engine, args.scale)


if __name__ == "__main__":
    main()
