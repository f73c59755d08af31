"""The measurements behind ocula's face defaults, on the shared dev data.

1. Similarity and test-time augmentation: Euclidean (``1 - d^2/2`` of raw descriptors) against
   the cosine of L2-normalised ones; no augmentation, the mirrored chip, and dlib's random
   jitter (``dlib.jitter_image``, 10 copies, what ``num_jitters=10`` averages), on every pair of
   celeba-80; for two detection policies: "largest only" (native scale first, upsample only if
   nothing is found - ocula's verify/eval) and always one upsampling (face_recognition's).
2. The border added around ``--cropped`` inputs (LFW folds 1-2 tight crops).
3. The quality gate (verification's hog+cnn detector): false non-match rate at the FMR 1e-3
   threshold for genuine pairs whose faces both pass ``QualityGate()`` against pairs where one
   fails.

    python benchmarks/face_choices.py            # ~4 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

import ocula.pipelines.faces as face_pipeline
from ocula import Engine, QualityGate
from ocula.eval.pairs import evaluate_pairs, read_pairs
from ocula.eval.verification import roc, tar_at_far
from ocula.pipelines.faces import FaceOptions, similarity

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"


def celeba() -> tuple[list[Path], np.ndarray]:
    with open(DATA / "celeba-80" / "identities.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [DATA / "celeba-80" / r["image_path"] for r in rows], np.array([r["identity"] for r in rows])


def similarity_and_tta(engine: Engine) -> None:
    paths, ids = celeba()
    ia, ib = np.triu_indices(len(paths), 1)
    same = ids[ia] == ids[ib]
    analyzer = engine.face_analyzer("hog", descriptor="dlib")  # dlib's path, whatever the default
    print(f"1. celeba-80: {len(paths)} photos, {same.sum():,} genuine / {(~same).sum():,} impostor pairs")
    print(f"   {'detection':<22}{'TTA':<10}{'score':<10}{'FTE':>5}{'TAR@1e-4':>10}{'TAR@1e-3':>10}{'TAR@1e-2':>10}")
    import dlib

    for label, upsample in (("largest only (ocula)", None), ("always upsample 1", 1)):
        plain = np.full((len(paths), 128), np.nan, np.float32)
        flipped, jittered = plain.copy(), plain.copy()
        for i, (_, image, error) in enumerate(engine.decoded(paths)):
            if error is not None:
                continue
            faces = analyzer.analyze(image, FaceOptions(largest_only=True, embed=False, upsample=upsample))
            if not len(faces):
                continue
            chips = analyzer.chips(image, faces)
            x = chips.astype(np.float32)
            raw = analyzer.embedder.run({"chips": np.concatenate([x, x[:, :, ::-1]])})["descriptor"]
            plain[i], flipped[i] = raw[0], (raw[0] + raw[1]) / 2
            if upsample is None:
                jitter = np.stack([np.asarray(j) for j in dlib.jitter_image(chips[0], 10)]).astype(np.float32)
                jittered[i] = analyzer.embedder.run({"chips": jitter})["descriptor"].mean(axis=0)
        variants = [("none", plain), ("flip", flipped)] + ([("jitter10", jittered)] if upsample is None else [])
        for tta, emb in variants:
            for score in ("euclidean", "cosine"):
                e = emb if score == "euclidean" else emb / np.linalg.norm(emb, axis=1, keepdims=True)
                s = similarity(e[ia], e[ib])
                s[np.isnan(s)] = -np.inf
                c = roc(s, same)
                tars = "".join(f"{tar_at_far(c, far):>10.4f}" for far in (1e-4, 1e-3, 1e-2))
                print(f"   {label:<22}{tta:<10}{score:<10}{int(np.isnan(emb[:, 0]).sum()):>5}{tars}")


def cropped_border(engine: Engine) -> None:
    pairs = read_pairs(DATA / "lfw-folds-1-2" / "pairs.csv", DATA / "lfw-folds-1-2" / "images")
    print(f"2. lfw-folds-1-2 --cropped: {len(pairs)} pairs; border around the crop -> accuracy (folds 1, 2)")
    default = face_pipeline.CROPPED_BORDER
    try:
        for border in (0.0, 0.1, 0.25, 0.4):
            face_pipeline.CROPPED_BORDER = border
            r = evaluate_pairs(engine, pairs, cropped=True)
            print(
                f"   border {border:<5} accuracy {r.accuracy:.4f}  EER "
                f"{r.eer:.4f}{'  (default)' if border == default else ''}"
            )
    finally:
        face_pipeline.CROPPED_BORDER = default


def quality_gate(engine: Engine) -> None:
    paths, ids = celeba()
    threshold = engine.calibration().threshold_for(1e-3)
    emb = np.full((len(paths), 128), np.nan, np.float32)
    usable = np.zeros(len(paths), bool)
    for i, result in enumerate(engine.faces_many(paths, largest_only=True, detector="hog+cnn")):
        if result.ok and len(result.faces):
            emb[i] = result.faces.embeddings[0]
            usable[i] = bool(result.faces.usable(QualityGate())[0])
    found = ~np.isnan(emb[:, 0])
    ia, ib = np.triu_indices(len(paths), 1)
    genuine = (ids[ia] == ids[ib]) & found[ia] & found[ib]
    a, b = ia[genuine], ib[genuine]
    rejected = similarity(emb[a], emb[b]) < threshold
    both = usable[a] & usable[b]
    print(f"3. quality gate {QualityGate()}: {usable[found].mean():.1%} of found faces pass")
    print(
        f"   FNMR at FMR 1e-3: both pass {rejected[both].mean():.3f} ({both.sum()} pairs), "
        f"one fails {rejected[~both].mean():.3f} ({(~both).sum()} pairs)"
    )


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    with Engine() as engine:
        similarity_and_tta(engine)
        cropped_border(engine)
        quality_gate(engine)


if __name__ == "__main__":
    main()
