"""EfficientNet-Lite0 on one thread, a batch of images run at once or in chunks of a few: CPU ms
an image for each chunk size (interleaved rounds, the median), and whether the outputs are the
same bits as the whole batch's. The search embedder's 288 px (a query's 10 parts, an indexing
batch of 16) and the fast tagger's 224 px.

    python benchmarks/network_chunks.py            # ~1 min
    python benchmarks/network_chunks.py --rounds 9 --threads 2

Small chunks keep a chunk's activations (96 channels at 144 x 144 after the first block: 8 MB an
image at 288 px) in the caches; the whole batch of 16 streams 128 MB through memory per layer.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ocula import Settings
from ocula.models.backends.onnx import OnnxRunner
from ocula.models.loading import onnx_graph
from ocula.models.registry import get_model

CHUNKS = (16, 8, 4, 2, 1)


def run_chunked(runner: OnnxRunner, x: np.ndarray, chunk: int) -> dict[str, np.ndarray]:
    parts = [runner.run({"input": x[i : i + chunk]}, ("head", "logits")) for i in range(0, len(x), chunk)]
    return {name: np.concatenate([p[name] for p in parts]) for name in ("head", "logits")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (the median is shown)")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    args = parser.parse_args()
    runner = OnnxRunner(onnx_graph(get_model("efficientnet_lite0"), Settings(offline=True)),
                        name="efficientnet_lite0", threads=args.threads)  # fmt: skip
    for size in (288, 224):
        x = np.random.default_rng(0).uniform(-2, 2, (16, 3, size, size)).astype(np.float32)
        whole = run_chunked(runner, x, len(x))
        same = all(
            np.array_equal(run_chunked(runner, x, chunk)[name], whole[name]) for chunk in CHUNKS for name in whole
        )
        times: dict[int, list[float]] = {chunk: [] for chunk in CHUNKS}
        for _ in range(args.rounds):
            for chunk in CHUNKS:
                start = time.process_time()
                run_chunked(runner, x, chunk)
                times[chunk].append(1000 * (time.process_time() - start) / len(x))
        row = "  ".join(f"{chunk:>2}: {statistics.median(t):5.1f}" for chunk, t in times.items())
        print(f"{size} px, {args.threads} thread(s), CPU ms an image by chunk size  {row}  same bits: {same}")


if __name__ == "__main__":
    main()
