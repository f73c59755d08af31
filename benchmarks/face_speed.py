"""Per-step face pipeline speed on 2 cores, against dlib itself in the same process.

Photos from shared/data/faces/celeba-80 are scaled to 640 px on the longer side. Printed, in ms
per photo or per face: HOG detection with 0 and 1 upsampling, the CNN (MMOD) detector, 5-point
landmarks, the aligned chip, and the 128-D descriptor two ways - dlib-bin's
``compute_face_descriptor`` and ocula's ONNX graph of the same weights (one face at a time and
in batches) - with the largest difference between their descriptors.

    python benchmarks/face_speed.py --photos 20 --cnn-photos 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ocula import Engine
from ocula.models.files import resolve_files
from ocula.models.registry import get_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "celeba-80" / "images"


def ms(fn, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) * 1000 / repeat


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--cnn-photos", type=int, default=3)
    args = parser.parse_args()
    import dlib

    photos = []
    for path in sorted(DATA.glob("*/*.jpg"))[::7][: args.photos]:
        im = Image.open(path).convert("RGB")
        im.thumbnail((640, 640), Image.Resampling.BILINEAR)
        photos.append(np.asarray(im))
    with Engine() as engine:
        hog = engine.dlib_model("dlib_hog_face")
        cnn = engine.dlib_model("dlib_mmod_face")
        shapes5 = engine.dlib_model("dlib_landmarks_5")
        analyzer = engine.face_analyzer("hog", descriptor="dlib")  # dlib's path, whatever the default
        weights = resolve_files(get_model("dlib_resnet_face"), engine.settings)["weights"]
        dlib_net = dlib.face_recognition_model_v1(str(weights))

        rows = []
        rows.append(
            ("HOG detection, upsample 0 (per photo)", np.mean([ms(lambda p=p: hog.detect(p, 0)) for p in photos]))
        )
        rows.append(
            ("HOG detection, upsample 1 (per photo)", np.mean([ms(lambda p=p: hog.detect(p, 1)) for p in photos]))
        )
        rows.append(
            (
                f"CNN (MMOD) detection, upsample 0 (per photo, {args.cnn_photos} photos)",
                np.mean([ms(lambda p=p: cnn.detect(p, 0)) for p in photos[: args.cnn_photos]]),
            )
        )
        rows.append(
            (
                "CNN (MMOD) detection, upsample 1 (per photo, 2 photos)",
                np.mean([ms(lambda p=p: cnn.detect(p, 1)) for p in photos[:2]]),
            )
        )
        faces = [(p, hog.detect(p, 1)[0][:1]) for p in photos]
        faces = [(p, b) for p, b in faces if len(b)]
        rows.append(
            ("5-point landmarks (per face)", np.mean([ms(lambda p=p, b=b: shapes5.predict(p, b), 5) for p, b in faces]))
        )
        shapes = [(p, shapes5.predict(p, b)[1]) for p, b in faces]
        rows.append(
            (
                "aligned 150 px chip (per face)",
                np.mean([ms(lambda p=p, s=s: dlib.get_face_chip(p, s[0], 150, 0.25), 5) for p, s in shapes]),
            )
        )
        rows.append(
            (
                "descriptor, dlib-bin compute_face_descriptor (per face)",
                np.mean([ms(lambda p=p, s=s: dlib_net.compute_face_descriptor(p, s[0])) for p, s in shapes]),
            )
        )
        chips = np.stack([np.asarray(dlib.get_face_chip(p, s[0], 150, 0.25)) for p, s in shapes]).astype(np.float32)
        runner = analyzer.embedder
        rows.append(
            (
                "descriptor, ocula ONNX, one face at a time (per face)",
                np.mean([ms(lambda c=c: runner.run({"chips": c[None]}), 5) for c in chips]),
            )
        )
        rows.append(
            (
                "descriptor, ocula ONNX, batch of all faces (per face)",
                ms(lambda: runner.run({"chips": chips}), 3) / len(chips),
            )
        )
        ours = runner.run({"chips": chips})["descriptor"]
        theirs = np.array([dlib_net.compute_face_descriptor(p, s[0]) for p, s in shapes])
        print(f"{len(photos)} photos at 640 px, {len(chips)} faces; threads: {engine.settings.effective_threads}")
        for label, value in rows:
            print(f"  {label:<66}{value:>9.2f} ms")
        d_dlib, d_onnx = rows[6][1], rows[7][1]
        print(
            f"  ONNX vs dlib-bin descriptor: {d_dlib / d_onnx:.1f}x faster one at a time; "
            f"max |difference| {np.abs(ours - theirs).max():.2e} (descriptor values up to {np.abs(theirs).max():.2f})"
        )


if __name__ == "__main__":
    main()
