"""Measure test-time augmentation and ensemble options for the ``accurate`` tagging preset.

Runs every candidate (model, view) once per image, then scores every combination by averaging
probabilities: top-1/top-5 error, negative log-likelihood (finer-grained than error counts on a
few hundred images) and relative cost (published FLOPs x pixels).

Rule used for the ``accurate`` preset in ``ocula/pipelines/tag.py``: among ensembles of all three
Lite models with test-time augmentation (two views or more), the lowest top-5 error, then the
lowest top-1 error. On a few hundred images most candidates differ by one or two images, so the
rule is stated before looking, not tuned after.

    python benchmarks/choose_accurate_preset.py ../shared/data/imagenet/sample-334
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from ocula import Engine
from ocula.eval.imagenet import read_labels
from ocula.eval.metrics import topk_correct
from ocula.io import load_image
from ocula.models.registry import get_model
from ocula.pipelines.preprocess import resize_center_crop, to_tensor
from ocula.pipelines.tag import softmax

GFLOPS = {"efficientnet_lite0": 0.407, "efficientnet_lite1": 0.631, "efficientnet_lite2": 0.899}


def candidate_views(size: int, crop: float) -> dict[str, tuple[int, float, bool]]:
    up = int(round(size * 1.143 / 8) * 8)
    return {
        "native": (size, crop, False),
        "flip": (size, crop, True),
        "full": (size, 1.0, False),
        "full_flip": (size, 1.0, True),
        "up": (up, crop, False),
        "up_flip": (up, crop, True),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--labels", type=Path)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--save", type=Path, help="also write every (model, view)'s probabilities to this .npz")
    args = ap.parse_args()
    rows = read_labels(args.labels or args.root / "labels.csv", args.root)
    y = np.array([label for _, label in rows])
    images = [load_image(p) for p, _ in rows]

    probs: dict[tuple[str, str], np.ndarray] = {}
    cost: dict[tuple[str, str], float] = {}
    with Engine() as engine:
        for model in GFLOPS:
            spec = get_model(model)
            pre = spec.preprocess
            runner = engine.runner(model)
            for view, (size, crop, flip) in candidate_views(pre.input_size, pre.crop_fraction).items():
                out = []
                for i in range(0, len(images), 16):
                    crops = np.stack([resize_center_crop(im, size, crop, pre.resample) for im in images[i : i + 16]])
                    if flip:
                        crops = crops[:, :, ::-1]
                    out.append(
                        softmax(runner.run({"input": to_tensor(crops, pre)}, ("logits",))["logits"].astype(np.float64))
                    )
                probs[(model, view)] = np.concatenate(out)
                cost[(model, view)] = GFLOPS[model] * (size / pre.input_size) ** 2 / GFLOPS["efficientnet_lite0"]
                p = probs[(model, view)]
                print(f"{model:20s} {view:10s} top1_err={1 - topk_correct(p, y, 1).mean():.4f} "
                      f"top5_err={1 - topk_correct(p, y, 5).mean():.4f}", flush=True)

    if args.save:
        np.savez_compressed(args.save, labels=y, **{f"{m}:{v}": p for (m, v), p in probs.items()})

    view_sets = [("native",), ("native", "flip"), ("native", "full"), ("native", "up"), ("up",),
                 ("native", "flip", "up", "up_flip"), ("native", "flip", "full", "full_flip")]
    models = list(GFLOPS)
    results = []
    for r in range(1, 4):
        for subset in itertools.combinations(models, r):
            for views in view_sets:
                keys = [(m, v) for m in subset for v in views]
                p = np.mean([probs[k] for k in keys], axis=0)
                nll = float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1)).mean())
                results.append((1 - topk_correct(p, y, 5).mean(), 1 - topk_correct(p, y, 1).mean(), nll,
                                sum(cost[k] for k in keys), "+".join(m[-1] for m in subset), ",".join(views)))
    results.sort()
    print(f"\nn={len(y)}; best {args.top} by top-5 error, then top-1, then NLL (cost: Lite0 native = 1.0)")
    print(f"{'top5_err':>9} {'top1_err':>9} {'nll':>7} {'cost':>6}  models  views")
    for t5, t1, nll, c, ms, vs in results[: args.top]:
        print(f"{t5:9.4f} {t1:9.4f} {nll:7.4f} {c:6.2f}  lite{ms:5s} {vs}")


if __name__ == "__main__":
    main()
