"""``ocula eval report`` embeds a catalog once per run: the retrieval evaluation and the speed
section ask for the same photos, and the second asks get the first's vectors, in their own order,
with the same failures, as ``Engine.embed_all`` gives them. (A fake engine: this tests the
report's bookkeeping, a layer above the embedder.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ocula.errors import ImageError
from ocula.eval.report import CatalogVectors


class CountingEngine:
    """``embed_all`` as the engine answers it; a photo named ``bad*`` cannot be read."""

    def __init__(self):
        self.embedded: list[str] = []

    def embed_all(self, sources):
        kept, vectors, failed = [], [], []
        for i, path in enumerate(sources):
            self.embedded.append(str(path))
            if Path(path).name.startswith("bad"):
                failed.append((str(path), ImageError(f"{path}: cannot read")))
            else:
                kept.append(i)
                vectors.append(
                    np.full(1280, len(str(path)) + i % 3, np.float32)
                )  # depends on the batch: must not matter
        return kept, np.stack(vectors), failed


def test_each_photo_is_embedded_once_per_run_and_answers_keep_the_asked_order():
    engine = CountingEngine()
    catalog = CatalogVectors(engine)
    photos = [Path(f"/data/{name}.jpg") for name in ("a", "bad1", "bb", "ccc")]
    kept, vectors, failed = catalog.embed_all(iter(photos))  # a generator, as the retrieval passes it
    assert kept == [0, 2, 3] and vectors.shape == (3, 1280) and [name for name, _ in failed] == ["/data/bad1.jpg"]
    first = {photos[i]: v for i, v in zip(kept, vectors, strict=True)}
    again = [photos[3], photos[1], photos[0], photos[2]]  # the speed section's order (labels.csv)
    kept2, vectors2, failed2 = catalog.embed_all(again)
    assert engine.embedded == [str(p) for p in photos]  # nothing embedded the second time
    assert kept2 == [0, 2, 3] and [name for name, _ in failed2] == ["/data/bad1.jpg"]
    for i, v in zip(kept2, vectors2, strict=True):
        assert np.array_equal(v, first[again[i]])
    catalog.embed_all([Path("/data/new.jpg"), photos[0]])
    assert engine.embedded[-1:] == ["/data/new.jpg"]  # only what was missing
