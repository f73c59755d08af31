"""Search by words through a collection, end to end, on sample-334.

1. ``ocula index`` of the 334 photos into a fresh collection (vectors and concept scores from
   one forward pass): photos/s (the model's first load included), and the stored concept
   scores' bytes per item.
2. ``ocula eval text-search``'s queries (every concept covering >= 3 photos, by its first lemma)
   answered through the collection (``Engine.search_words``, all matches ranked): mAP and
   precision@10, as ocula.eval.text_search scores them.
3. The cost of a collection's first search by words after opening (or after any change): the
   concept index is rebuilt from the store's rows, timed at 10,000 items (the 334 items' real
   concept scores repeated) and at the 334.

    python benchmarks/text_search_collection.py ../shared/data
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from ocula import Engine, Settings
from ocula.collections import Collection, NewItem
from ocula.concepts import concept_space
from ocula.eval.imagenet import read_labels
from ocula.eval.text_search import MIN_PHOTOS, average_precision
from ocula.text_query import parse_query

SYNTHETIC_ITEMS = 10_000


def word_map(engine: Engine, collection: str, labels: dict[str, int]) -> dict[str, float]:
    space = concept_space()
    label_classes = np.array(list(labels.values()))
    counts = np.bincount(label_classes, minlength=len(space.taxonomy.classes))
    aps, p10s = [], []
    for concept in range(len(space)):
        members = space.classes_of(concept)
        if counts[members].sum() < MIN_PHOTOS:
            continue
        wnid = space.wnids[concept]
        matches = engine.search_words(space.taxonomy.lemmas[wnid][0], collection, k=len(labels))
        relevant = np.array([labels[m.id] in members for m in matches], bool)
        n_relevant = int(np.isin(label_classes, members).sum())
        aps.append(average_precision(relevant, n_relevant))
        p10s.append(float(relevant[:10].sum() / min(10, n_relevant)))
    return {"n_queries": len(aps), "map": round(float(np.mean(aps)), 4),
            "precision_at_10": round(float(np.mean(p10s)), 4)}  # fmt: skip


def open_cost(settings: Settings, source: str, n_items: int) -> dict[str, float]:
    """Seconds to build the concept index of ``n_items`` items (real scores, repeated)."""
    with Collection.open(source, settings=settings) as coll:
        blobs = [coll.concept_scores(i.id) for i in coll.items()]
    name = f"synthetic-{n_items}"
    space = concept_space()
    rng = np.random.default_rng(0)
    with Collection.open(name, settings=settings, embedder="synthetic", dim=8, create=True,
                         concepts=space.fingerprint) as coll:  # fmt: skip
        vectors = rng.normal(size=(n_items, 8)).astype(np.float32)
        items = [NewItem(f"item-{i}", vectors[i : i + 1], concepts=blobs[i % len(blobs)]) for i in range(n_items)]
        for start in range(0, n_items, 1000):
            coll.add(items[start : start + 1000])
    with Collection.open(name, settings=settings) as coll:
        start = time.perf_counter()
        coll.text_index(space)
        first = time.perf_counter() - start
        start = time.perf_counter()
        coll.text_index(space).search(parse_query("dog"), 10)
        again = time.perf_counter() - start
    return {"items": n_items, "first_search_build_s": round(first, 4), "unchanged_store_query_s": round(again, 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    args = parser.parse_args()
    root = args.data / "imagenet" / "sample-334"
    labels = {p.name: c for p, c in read_labels(root / "labels.csv", root)}
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        with Engine(settings) as engine:
            start = time.perf_counter()
            done = engine.index_folder(root / "images", "sample")
            seconds = time.perf_counter() - start
            report["index"] = done.to_dict() | {"photos_per_s": round(done.added / seconds, 1)}
            with Collection.open("sample", settings=settings) as coll:
                sizes = [len(coll.concept_scores(i.id).to_bytes()) for i in coll.items()]
            report["concept_bytes_per_item"] = round(float(np.mean(sizes)), 1)
            report["words"] = word_map(engine, "sample", labels)
        report["open_cost"] = [open_cost(settings, "sample", n) for n in (334, SYNTHETIC_ITEMS)]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
