"""SFace's graph with its PRelus as ONNX Runtime runs them, against the graph ocula caches (each
PRelu rewritten so that the convolutions stay in ONNX Runtime's blocked layout,
``models.convert.onnx_dequantize``): CPU ms a chip on one thread, interleaved rounds, and whether
the descriptors are the same bits.

    python benchmarks/sface_speed.py               # ~20 s
    python benchmarks/sface_speed.py --chips 64 --rounds 5

Measured 2026-12-02 on this 2-core machine while other jobs ran (load ~3-5): converter v2
(``Relu(x) + slope * Min(x, 0)``) 40.3 -> 26.8 ms a chip (1.5x); converter v3 (``Relu(x) +
(-slope) * Relu(-x)`` with the scalings as BatchNormalization, run as 1x1 depthwise convolutions
in the blocked layout) 31.8 -> 17.1 and 33.1 -> 16.4 ms (1.9-2.0x; v2 on the same runs: ~25 ms),
descriptors identical bit for bit. ONNX Runtime's profiler put 58% of the shipped graph's time in
PRelu and another 9% in the layout reorders PRelu forces around each convolution.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ocula import Settings
from ocula.models.backends.onnx import OnnxRunner
from ocula.models.convert.onnx_dequantize import fold_dequantized_weights
from ocula.models.files import resolve_files
from ocula.models.registry import get_model


def cpu_ms_per_chip(runner: OnnxRunner, chips: np.ndarray) -> float:
    start = time.process_time()
    for chip in chips:
        runner.run({"data": chip[None]})
    return 1000 * (time.process_time() - start) / len(chips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=32, help="random 112x112 chips per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the median is shown)")
    args = parser.parse_args()
    settings = Settings(offline=True)
    shipped = resolve_files(get_model("sface_face"), settings)["weights"].read_bytes()
    runners = {}
    with tempfile.TemporaryDirectory(prefix="ocula-sface-speed-") as folder:
        for split in (False, True):
            path = Path(folder) / f"sface_split_prelu_{split}.onnx"
            graph = fold_dequantized_weights(shipped, name="sface_face", split_prelu=split)
            path.write_bytes(graph.SerializeToString())
            runners[split] = OnnxRunner(path, name=f"sface (split_prelu={split})", threads=1)
    chips = np.random.default_rng(0).uniform(0, 255, (args.chips, 3, 112, 112)).astype(np.float32)
    outputs = {split: np.concatenate([r.run({"data": c[None]})["fc1"] for c in chips]) for split, r in runners.items()}
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for split, runner in runners.items():
            times[split].append(cpu_ms_per_chip(runner, chips))
    before, after = statistics.median(times[False]), statistics.median(times[True])
    print(f"{'graph':<28} {'CPU ms a chip':>14}")
    print(f"{'PRelu (as shipped)':<28} {before:>14.1f}")
    print(f"{'rewritten (cached)':<28} {after:>14.1f}")
    print(f"speed-up {before / after:.2f}x; descriptors identical: {np.array_equal(outputs[False], outputs[True])}")


if __name__ == "__main__":
    main()
