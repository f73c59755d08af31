"""Faces v2's models against ocula's dlib path on celeba-80 (issue 17), one thread.

1. Detection: share of the photos where a face is found, and the median ms per photo (decoding
   excluded), for dlib's HOG (no upsampling; one upsampling) and YuNet (the photo fitted into
   640x640, shrunk only; enlarged up to 2x).
2. Verification over all pairs of photos: TAR at FAR 1e-3 and 1e-4 for
   - dlib: ocula's dlib path (HOG on the largest face, native scale then one upsampling when
     nothing is found, as ``verify`` does without the CNN fallback; dlib 5 points, 150 px chip,
     ResNet descriptor with its mirror, ``1 - |a-b|^2/2``),
   - SFace and SFace + mirror on YuNet's largest face (ArcFace chip, RGB, cosine).
   A photo where a pipeline finds no face fails to enrol: its pairs score -inf for that
   pipeline (non-matches). The same figures are also given on the photos where both found a
   face (the same photos for every descriptor).
   Note: not identity-disjoint and not cleaned of mixed CelebA identities; for comparing models
   on the same photos, not for choosing thresholds.

    python benchmarks/faces_v2_models.py            # about 11 minutes on a loaded 2-core machine
    python benchmarks/faces_v2_models.py --limit 200
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from ocula import Engine, Settings
from ocula.eval.verification import roc, tar_at_far
from ocula.io import load_image
from ocula.models.backends.dlib import face_chips
from ocula.pipelines.faces import FaceOptions, similarity

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "celeba-80"
FARS = (1e-3, 1e-4)


def celeba(limit: int | None) -> tuple[list[Path], np.ndarray]:
    with open(DATA / "identities.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:limit]
    return [DATA / r["image_path"] for r in rows], np.array([r["identity"] for r in rows])


def _largest(boxes: np.ndarray) -> int:
    return int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))


def _timed(fn, *args):
    started = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - started) * 1000


def measure(engine: Engine, paths: list[Path]) -> dict:
    hog, yunet = engine.face_detector("hog"), engine.face_detector("yunet")
    analyzer = engine.face_analyzer("hog", descriptor="dlib")  # dlib's path, whatever the default
    sface = engine.face_descriptor("sface", flip=False)
    n = len(paths)
    found = {k: np.zeros(n, bool) for k in ("hog u0", "hog u1", "yunet", "yunet up to 2x")}
    ms = {k: np.zeros(n) for k in found}
    dlib_desc = np.full((n, 128), np.nan, np.float32)
    sface_plain, sface_flip = dlib_desc.copy(), dlib_desc.copy()
    for i, path in enumerate(paths):
        image = load_image(path)
        (b0, _), ms["hog u0"][i] = _timed(hog.detect, image, 0)
        (b1, _), ms["hog u1"][i] = _timed(hog.detect, image, 1)
        faces, ms["yunet"][i] = _timed(yunet.detect_faces, image, 0)
        up, ms["yunet up to 2x"][i] = _timed(yunet.detect_faces, image, 1)
        found["hog u0"][i], found["hog u1"][i] = len(b0) > 0, len(b1) > 0
        found["yunet"][i], found["yunet up to 2x"][i] = len(faces) > 0, len(up) > 0
        boxes = b0 if len(b0) else b1  # verify's policy: native scale, one upsampling if nothing
        if len(boxes):
            box = boxes[_largest(boxes)][None]
            h, w = image.shape[:2]
            box = np.clip(box, 0, [w, h, w, h]).astype(np.float32)
            _, shapes = analyzer.landmarks5.predict(image, box)
            align = analyzer.alignment
            chips = face_chips(image, shapes, size=align.chip_size, padding=align.padding)
            dlib_desc[i] = analyzer.embed(chips)[0]
        if len(faces):
            chip = sface.chips(image, faces.landmarks[_largest(faces.boxes)][None])
            raw = sface.raw(np.concatenate([chip, chip[:, :, ::-1]]))
            unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
            sface_plain[i] = unit[0]
            both = unit[0] + unit[1]
            sface_flip[i] = both / np.linalg.norm(both)
        if (i + 1) % 100 == 0:
            print(f"   {i + 1}/{n} photos", flush=True)
    return {"found": found, "ms": ms, "dlib + mirror": dlib_desc, "SFace": sface_plain, "SFace + mirror": sface_flip}


def tar_row(desc: np.ndarray, ids: np.ndarray, keep: np.ndarray) -> tuple[list[float | None], int, int]:
    ia, ib = np.triu_indices(len(ids), 1)
    pair_kept = keep[ia] & keep[ib]
    ia, ib = ia[pair_kept], ib[pair_kept]
    same = ids[ia] == ids[ib]
    scores = similarity(desc[ia], desc[ib])
    scores = np.where(np.isfinite(scores), scores, -np.inf)  # failure to enrol: a non-match
    curve = roc(scores, same)
    return [tar_at_far(curve, far) for far in FARS], int(same.sum()), int((~same).sum())


def _fmt(tar: float | None) -> str:
    return "  n/a" if tar is None else f"{tar:.3f}"  # n/a: too few impostor pairs for this FAR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos")
    args = parser.parse_args()
    paths, ids = celeba(args.limit)
    with tempfile.TemporaryDirectory() as tmp, Engine(Settings(threads=1, data_dir=Path(tmp))) as engine:
        FaceOptions()  # the dlib defaults stay as they are
        started = time.perf_counter()
        m = measure(engine, paths)
        took = time.perf_counter() - started
    print(f"celeba-80: {len(paths)} photos, 1 thread, {took:.0f} s in all")
    print(f"1. {'detector':<18}{'photos with a face':>20}{'median ms/photo':>17}")
    for k in m["found"]:
        print(f"   {k:<18}{m['found'][k].mean():>19.1%} {np.median(m['ms'][k]):>16.1f}")
    every = np.ones(len(paths), bool)
    both = np.isfinite(m["dlib + mirror"][:, 0]) & np.isfinite(m["SFace"][:, 0])
    for label, keep in (("all photos (FTE = non-match)", every), (f"the {both.sum()} photos both enrol", both)):
        print(f"2. {label}")
        for name in ("dlib + mirror", "SFace", "SFace + mirror"):
            (t3, t4), gen, imp = tar_row(m[name], ids, keep)
            fte = int((~np.isfinite(m[name][keep, 0])).sum())
            print(f"   {name:<16} TAR@1e-3 {_fmt(t3)}  TAR@1e-4 {_fmt(t4)}  FTE {fte:>3}  "
                  f"({gen:,} genuine / {imp:,} impostor)")


if __name__ == "__main__":
    main()
