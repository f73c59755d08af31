"""How ``ocula dedupe``'s default threshold was chosen.

For ImageNet sample-334: the search embeddings of every photo, and of ``ocula eval retrieval``'s
seven edits of every third photo. For each threshold: the share of original-edit pairs that reach
it (by edit) and how many pairs of *different* photos do.

    python benchmarks/dedupe_threshold.py ../shared/data/imagenet/sample-334/images
"""

from __future__ import annotations

import argparse

import numpy as np

from ocula import Engine
from ocula.eval.retrieval import TRANSFORMS, transform
from ocula.io import iter_image_paths, load_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", default="../shared/data/imagenet/sample-334/images", help="photos")
    folder = parser.parse_args().folder
    paths = sorted(iter_image_paths([folder]))
    with Engine() as engine:
        v = np.stack([e.vector for e in engine.embed_images(paths)])
        different = (v @ v.T)[np.triu_indices(len(v), 1)]
        embedder = engine.image_embedder()
        sims: dict[str, list[float]] = {t: [] for t in TRANSFORMS}
        for i in range(0, len(paths), 3):
            image = load_image(paths[i])
            q = embedder.embed([embedder.prepare(transform(image, t)) for t in TRANSFORMS])
            for t, row in zip(TRANSFORMS, q, strict=False):
                sims[t].append(float(row @ v[i]))
    edits = np.concatenate([np.array(s) for s in sims.values()])
    print(f"{len(paths)} photos, {len(different):,} different-photo pairs, {len(edits)} original-edit pairs")
    for t in (0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        by_edit = ", ".join(f"{k} {np.mean(np.array(s) >= t):.2f}" for k, s in sims.items())
        print(
            f"threshold {t:.2f}: edits found {np.mean(edits >= t):.3f} ({by_edit}); "
            f"different-photo pairs at or above: {int((different >= t).sum())}"
        )


if __name__ == "__main__":
    main()
