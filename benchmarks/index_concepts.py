"""Where a collection's concept scores come from: measured before choosing.

(a) a separate ``fast`` tagging pass per photo (EfficientNet-Lite0 at 224 px) beside the search
    embedding (the same network at 288 px): a second forward pass;
(b) the classifier head of the search embedder's own forward pass at 288 px (outputs ``head`` and
    ``logits`` of one run): no second pass.

For each: ``ocula eval text-search``'s mAP on sample-334 (ocula.eval.text_search.score_text_search,
the stored floor) and photos/s of decoding + the model work of indexing (decode once, then the
forward passes; the SQLite writes are the same for both and left out). The plain embedding
(no concepts) is timed as the "before".

    python benchmarks/index_concepts.py ../shared/data [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ocula import Engine
from ocula.eval.imagenet import read_labels
from ocula.eval.text_search import score_text_search
from ocula.io import load_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each variant (the best is kept)")
    args = parser.parse_args()
    root = args.data / "imagenet" / "sample-334"
    rows = read_labels(root / "labels.csv", root)
    labels = np.array([c for _, c in rows])
    with Engine() as engine:
        embedder = engine.search_service.image_embedder()
        tagger = engine.tagger("fast")
        settings = engine.settings
        images = [load_image(p, settings=settings) for p, _ in rows]
        bs = settings.batch_size

        def plain() -> None:
            for i in range(0, len(images), bs):
                embedder.embed([embedder.prepare(im) for im in images[i : i + bs]])

        def separate() -> np.ndarray:
            out = []
            for i in range(0, len(images), bs):
                chunk = images[i : i + bs]
                embedder.embed([embedder.prepare(im) for im in chunk])
                out.append(tagger.probabilities([tagger.prepare(im) for im in chunk]))
            return np.concatenate(out)

        def same_pass() -> np.ndarray:
            out = []
            for i in range(0, len(images), bs):
                out.append(embedder.embed_and_classify([embedder.prepare(im) for im in images[i : i + bs]])[1])
            return np.concatenate(out)

        variants = {"embed only (before)": plain, "(a) separate fast pass": separate,
                    "(b) same pass, 288 px logits": same_pass}  # fmt: skip
        best = dict.fromkeys(variants, float("inf"))
        probs: dict[str, np.ndarray | None] = {}
        for _ in range(args.repeat):  # interleaved, so a busy spell of the machine hits every variant
            for name, run in variants.items():
                start = time.perf_counter()
                probs[name] = run()
                best[name] = min(best[name], time.perf_counter() - start)
        report = {}
        for name in variants:
            seconds = best[name]
            entry = {"photos_per_s": round(len(images) / seconds, 1),
                     "ms_per_photo": round(1000 * seconds / len(images), 2)}  # fmt: skip
            if probs[name] is not None:
                result = score_text_search(probs[name], labels)
                entry.update(map=round(result.map, 4), precision_at_10=round(result.precision_at_10, 4),
                             baseline_map=round(result.baseline_map, 4),
                             bytes_per_item=round(result.bytes_per_item, 1))  # fmt: skip
            report[name] = entry
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
