"""Tagging speed: ocula (ONNX Runtime) against the same weights in eager PyTorch, same process.

For each preset it times
- end to end: ``Engine.tag_many`` on image files (decode, resize, inference, tags), images/s;
- inference only: the preset's (model, view) batches, on identical input tensors, through
  ocula's runners and through eager PyTorch with the same thread count: our plain module
  (``tools/torch_efficientnet_lite.py``) and, when installed, the weights publisher's own
  ``efficientnet_lite_pytorch``. The ratio is against the faster of the two.

PyTorch is only used when importable (``pip install torch==2.13.0``, the CPU build, in a venv that
also has ocula); ocula itself never needs it.

    python benchmarks/tag_speed.py ../shared/data/imagenet/sample-334/images --limit 128
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ocula import Engine, Settings
from ocula.io import iter_image_paths, load_image
from ocula.models.files import resolve_files
from ocula.models.registry import get_model
from ocula.pipelines.preprocess import to_tensor
from ocula.pipelines.tag import PRESETS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))


def view_batches(engine: Engine, preset: str, images: list[np.ndarray], batch: int):
    """[(model, input tensor)] exactly as the preset's Tagger would feed its runners."""
    tagger = engine.tagger(preset)
    prepared = [tagger.prepare(im) for im in images]
    out = []
    for member in PRESETS[preset].members:
        pre = get_model(member.model).preprocess
        for view in member.views:
            size, crop, flip = view.resolve(pre)
            for i in range(0, len(prepared), batch):
                crops = np.stack([p[(size, crop)] for p in prepared[i : i + batch]])
                out.append((member.model, to_tensor(crops[:, :, ::-1] if flip else crops, pre)))
    return out


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", type=Path)
    ap.add_argument("--limit", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0, help="0 = all CPUs")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    paths = list(iter_image_paths([args.images]))[: args.limit]
    images = [load_image(p) for p in paths]
    settings = Settings(threads=args.threads, batch_size=args.batch)
    threads = settings.effective_threads
    try:
        import torch
        import torch_efficientnet_lite as peer

        torch.set_num_threads(threads)
        weights = {v: str(resolve_files(get_model(f"efficientnet_lite{v}"), settings)["weights"]) for v in (0, 1, 2)}
        peers = {
            "tools/torch_efficientnet_lite": {f"efficientnet_lite{v}": peer.load(v, w) for v, w in weights.items()}
        }
        try:
            from efficientnet_lite_pytorch import EfficientNet

            def publisher(v: int):
                # Its static "SAME" padding is computed for the native size, so it only serves
                # the native views; the larger TTA views fall back to the plain module.
                m = EfficientNet.from_name(f"efficientnet-lite{v}")
                m.load_state_dict(torch.load(weights[v], map_location="cpu"))
                return m.eval()

            peers["efficientnet_lite_pytorch"] = {f"efficientnet_lite{v}": publisher(v) for v in (0, 1, 2)}
        except ImportError:
            pass
        torch_note = f"torch {torch.__version__}; peers: {', '.join(peers)}"
    except ImportError:
        peers, torch_note = {}, "torch not installed: no peer"

    print(f"{len(paths)} images from {args.images}, batch {args.batch}, {threads} threads; {torch_note}")
    print(f"{'preset':9} {'end-to-end img/s':>17} {'ocula infer img/s':>18} {'best torch img/s':>17} {'ratio':>6}")
    with Engine(settings) as engine:
        for preset in PRESETS:
            list(engine.tag_many(paths[:4], preset=preset))  # load models, warm up
            e2e = best_of(args.repeats, lambda preset=preset: list(engine.tag_many(paths, preset=preset)))
            batches = view_batches(engine, preset, images, args.batch)
            runners = {m: engine.runner(m) for m in PRESETS[preset].models}
            ort_t = best_of(
                args.repeats,
                lambda runners=runners, batches=batches: [
                    runners[m].run({"input": x}, ("logits",)) for m, x in batches
                ],
            )
            line = f"{preset:9} {len(paths) / e2e:17.1f} {len(paths) / ort_t:18.1f}"
            if peers:
                native = {m: get_model(m).preprocess.input_size for m in runners}
                tensors = [(m, torch.from_numpy(x)) for m, x in batches]
                times, worst = {}, 0.0
                with torch.inference_mode():
                    for peer_name, models in peers.items():

                        def pick(m, x, models=models, peer_name=peer_name, native=native):
                            fallback = peer_name != "tools/torch_efficientnet_lite" and x.shape[-1] != native[m]
                            return (peers["tools/torch_efficientnet_lite"] if fallback else models)[m]

                        for m, x in tensors[:2]:
                            pick(m, x)(x)  # warm-up
                        times[peer_name] = best_of(
                            args.repeats, lambda pick=pick, tensors=tensors: [pick(m, x)(x) for m, x in tensors]
                        )
                        for m, x in tensors[:3]:
                            got = runners[m].run({"input": x.numpy()}, ("logits",))["logits"]
                            worst = max(worst, float(np.abs(pick(m, x)(x).numpy() - got).max()))
                best = min(times, key=times.get)
                line += f" {len(paths) / times[best]:17.1f} {times[best] / ort_t:5.2f}x  (vs {best}; "
                line += ", ".join(f"{k} {len(paths) / t:.1f}" for k, t in times.items())
                line += f" img/s; max |logit diff| {worst:.1e})"
            print(line, flush=True)


if __name__ == "__main__":
    main()
