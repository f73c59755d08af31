"""Face verification: ocula against the ``face_recognition`` package, same dlib weights, one run.

Both sides embed every image once (the largest face) and score every pair of the data set;
failures to enrol reject their pairs on both sides. Printed: accuracy (threshold chosen on one
half, scored on the other, or LFW folds), TAR at FAR 1e-4/1e-3/1e-2, failures to enrol, wall
time, and the speed ratio.

- face_recognition (1.3.0): ``face_locations`` (HOG, one upsampling, its default), the largest
  box, then ``face_encodings`` for that box (5-point landmarks, dlib's descriptor in dlib-bin,
  one jitter); similarity = minus the Euclidean distance, as its ``compare_faces`` uses.
- ocula (dlib): ``ocula.eval.pairs.evaluate_pairs`` - the code behind ``ocula eval pairs`` - with
  ``--descriptor dlib``: its detector (HOG, and the CNN on photos where HOG finds no face) and HOG only.
- ocula sface+dlib (ocula's default): as faces v2 below, with ``descriptor="sface+dlib"``: SFace
  and dlib's descriptor (on dlib's 150 px chip from its 5 points on YuNet's box, mirror pass)
  of the same face fused into one vector whose cosine is the mean of SFace's and dlib's.
- ocula faces v2: ``Engine.faces_many(..., descriptor="sface")`` with SFace's own detector
  (YuNet, its five landmarks align the chip) and the mirror pass, largest face of each photo,
  scored as ``evaluate_pairs`` scores (cosine of the unit descriptors). With ``--cropped`` there
  is no detection (YuNet cannot take a crop): the whole crop, with the 25% edge-replicated border
  ocula gives every crop, is aligned on dlib's 68-point landmarks (eye centres, nose tip, mouth
  corners), as ``ocula faces ... --cropped --descriptor sface`` does. Like ``ocula faces verify``
  and ``ocula eval pairs``, it takes every photo to show a face (``face_expected``): a photo with
  no face upright is searched a quarter turn either way, and a face found turned is kept when
  ``yunet.EXPECTED_TURNED_FACE`` accepts it (score >= 0.8, landmarks in a face's order).
  ``ocula v2 --turned``: the same with ``turned=True`` (every turn, upside down too, every face
  found turned; off by default: it finds false faces on face-free photos too).

``--threads N`` runs every side on N threads (ONNX Runtime's, and OpenMP/BLAS for dlib-bin and
NumPy); the default uses all CPUs, as ocula does.

Mixed identities: with an identities CSV, the identities whose genuine pairs are an outlier low
under both ocula's dlib descriptors and faces v2's (``ocula.eval.calibrate.mixed_identities``,
the rule the shipped calibration uses; CelebA's labels mix different people under one identity)
are listed and every pair touching one of their photos is left out of every row (the same
remaining photos for every side). The table over all identities follows, so nothing is hidden.

Models are loaded before the clocks start on both sides. face_recognition is not a dependency
of ocula; install it without its source-built dlib (dlib-bin provides the module):

    pip install --no-deps face_recognition
    python benchmarks/faces_vs_face_recognition.py ../shared/data/faces/celeba-80/identities.csv --threads 1

Measured 2026-12-02 with the sface+dlib row (the whole script, --threads 1; mixed left out,
535,095 pairs): TAR at FAR 1e-4 / 1e-3 / 1e-2, FTE: sface+dlib 0.9150 / 0.9475 / 0.9674, 0;
faces v2 (sface) 0.8997 / 0.9354 / 0.9583, 0; ocula dlib 0.7727 / 0.9102 / 0.9637, 0;
face_recognition 0.7346 / 0.8698 / 0.9269, 31. All identities: sface+dlib 0.9099 / 0.9428,
sface 0.8952 / 0.9315. Photos/s on the loaded machine (other benchmarks ran beside it): 5.6
sface+dlib, 8.3 sface, 4.2 dlib (hog+cnn), 1.8 face_recognition.

Measured 2026-12-02, celeba-80, mixed 7202/7208/7214/7219 left out (535,095 pairs): TAR at FAR
1e-4 / 1e-3, FTE: ocula dlib 0.7727 / 0.9102, 0; faces v2 0.9010 / 0.9350, 1 (7245/185156, a
steeply tilted head); faces v2 --turned 0.9010 / 0.9350, 0; face_recognition 0.7346 / 0.8698,
31. All identities: dlib 0.7726 / 0.9077, v2 0.8967 / 0.9312. (Times were taken on a machine
loaded by other jobs: compare them only within one run.)

Since then the v2 row takes every photo to show a face (``face_expected``), as verify does.
Re-measured for that row alone (``run_ocula_v2``, --threads 1, the same descriptors scored with
7245/185156 as an FTE and with the face now found turned; 2026-12-02): FTE 1 -> 0; mixed left
out (535,095 pairs) TAR at FAR 1e-4 / 1e-3 / 1e-2 0.8997 / 0.9354 / 0.9583 both ways; all
identities 0.8952 / 0.9319 -> 0.9315 / 0.9539 (at 1e-3, 3 of 7,660 genuine pairs: the photo's
impostor pairs now carry scores instead of a free rejection; its genuine pairs score 0.18, so
they are missed either way). The whole script was not re-run (face_recognition and the dlib CNN
took over 20 minutes on the loaded machine).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from ocula import Engine, Settings
from ocula.eval.calibrate import mixed_identities
from ocula.eval.identify import read_identities
from ocula.eval.pairs import PairSet, PairsReport, evaluate_pairs, pair_scores, read_pairs, report_from_scores
from ocula.models.registry import get_model
from ocula.pipelines.calibration import CalibrationTable
from ocula.pipelines.faces import DESCRIPTOR_MODELS, Descriptor

#: The rows of faces v2 (photos; crops; photos, turned when no face is found upright), and its descriptor.
V2_ROW, V2_CROPPED_ROW, V2_TURNED_ROW = "ocula v2 (yunet+sface)", "ocula v2 (sface, crop)", "ocula v2 --turned"
V2_DESCRIPTOR = "sface"
#: The row of ocula's default descriptor (SFace and dlib fused, on YuNet's faces), and its name.
DEFAULT_ROW, DEFAULT_CROPPED_ROW, DEFAULT_DESCRIPTOR = "ocula sface+dlib", "ocula sface+dlib (crop)", "sface+dlib"


def run_face_recognition(pairs: PairSet, cropped: bool):
    import face_recognition

    start = time.perf_counter()
    encodings: list[np.ndarray | None] = []
    for path in pairs.images:
        image = face_recognition.load_image_file(str(path))
        if cropped:
            boxes = [(0, image.shape[1], image.shape[0], 0)]  # (top, right, bottom, left)
        else:
            boxes = face_recognition.face_locations(image)  # HOG, number_of_times_to_upsample=1
        if not boxes:
            encodings.append(None)
            continue
        largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        encodings.append(face_recognition.face_encodings(image, [largest])[0])
    failed = [str(p) for p, e in zip(pairs.images, encodings, strict=False) if e is None]
    matrix = np.stack([e if e is not None else np.full(128, np.nan) for e in encodings])
    a, b = matrix[pairs.index_a], matrix[pairs.index_b]
    scores = -np.linalg.norm(a - b, axis=1)
    scores[np.isnan(scores)] = -math.inf
    return report_from_scores(pairs, scores, failed=failed, seconds=time.perf_counter() - start)


def run_ocula_v2(
    engine: Engine, pairs: PairSet, cropped: bool, turned: bool = False, descriptor: str = V2_DESCRIPTOR
) -> PairsReport:
    """Faces v2 through the public API: face 0 of each photo described by SFace (its mirror
    pass included; ``descriptor`` "sface+dlib": SFace and dlib fused, ocula's default), every
    pair scored; FTE rejects the pairs, as for the other rows."""
    start = time.perf_counter()
    # face_expected: every photo of a pairs set shows a face, as ``ocula verify`` and
    # ``ocula eval pairs`` take it (a photo with no upright face is searched a quarter turn either
    # way under yunet.EXPECTED_TURNED_FACE's rule); turned: every turn, every face found turned.
    detection = {"cropped": True} if cropped else {"detector": "yunet", "turned": turned, "face_expected": True}
    dim = int(get_model(DESCRIPTOR_MODELS[Descriptor(descriptor)]).architecture["dim"])
    embeddings = np.full((len(pairs.images), dim), np.nan, np.float32)
    failed: list[str] = []
    stream = engine.faces_many(pairs.images, largest_only=True, descriptor=descriptor, **detection)
    for i, result in enumerate(stream):
        if result.ok and len(result.faces):
            embeddings[i] = result.faces.embeddings[0]
        else:
            failed.append(result.source)
    scores = pair_scores(pairs, embeddings)
    seconds = time.perf_counter() - start
    return report_from_scores(
        pairs, scores, failed=failed, seconds=seconds, calibration=engine.calibration(descriptor),
        embeddings=embeddings,
    )


def identities_of(csv: Path, root: Path, pairs: PairSet) -> np.ndarray | None:
    """The identity of each of ``pairs.images`` (None for a pairs CSV: no identities)."""
    if pairs.kind != "identities":
        return None
    images, ids = read_identities(csv, root)
    where = {str(p): i for p, i in zip(images, ids, strict=False)}
    return np.array([where[str(p)] for p in pairs.images])


def find_mixed(reports: dict[str, PairsReport], ids: np.ndarray) -> list[str]:
    """The mixed identities by ocula's rule, from ocula's dlib and faces v2 descriptors."""
    described = {name: r.embeddings for name, r in reports.items() if r.embeddings is not None}
    return mixed_identities(described, ids.tolist()).flagged


def without_photos(
    pairs: PairSet, report: PairsReport, left_out: np.ndarray, calibration: CalibrationTable | None
) -> PairsReport:
    """``report`` rescored on the pairs none of whose photos is in ``left_out`` (bool per
    image); its time and images/s stay those of the whole run."""
    keep = ~(left_out[pairs.index_a] | left_out[pairs.index_b])
    folds = None if pairs.folds is None else pairs.folds[keep]
    kept = PairSet(pairs.images, pairs.index_a[keep], pairs.index_b[keep], pairs.same[keep], folds, pairs.kind)
    dropped = {str(p) for p, out in zip(pairs.images, left_out, strict=False) if out}
    failed = [f for f in report.failed_images if str(f) not in dropped]
    return report_from_scores(kept, report.scores[keep], failed=failed, seconds=report.seconds, calibration=calibration)


def print_table(reports: dict[str, PairsReport]) -> None:
    rows = {name: r.to_dict() for name, r in reports.items()}
    print(
        f"{'':22}{'accuracy':>9}{'TAR@1e-4':>10}{'TAR@1e-3':>10}{'TAR@1e-2':>10}{'EER':>8}{'FTE':>5}{'seconds':>9}{'img/s':>7}"
    )
    for name, r in rows.items():
        seconds = reports[name].seconds
        tar = [
            ("-" if r["tar_at_far"][k] is None else f"{r['tar_at_far'][k]:.4f}") for k in ("0.0001", "0.001", "0.01")
        ]
        print(
            f"{name:22}{r['accuracy']:>9.4f}{tar[0]:>10}{tar[1]:>10}{tar[2]:>10}{r['eer']:>8.4f}"
            f"{r['failures_to_enrol']:>5}{seconds:>9.1f}{r['images_per_second']:>7.1f}"
        )


def limit_threads(threads: int) -> Settings:
    """ocula's settings for ``threads`` (0: all CPUs); also caps OpenMP/BLAS threads, which
    dlib-bin and NumPy read when first loaded (so before face_recognition is imported)."""
    if threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    return Settings(threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", type=Path, help="pairs CSV (image_a,image_b,same[,fold]) or identities CSV")
    parser.add_argument("--root", type=Path, help="image folder (default: the CSV's folder)")
    parser.add_argument("--cropped", action="store_true", help="images are tight face crops")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N identities rows (quick runs)")
    parser.add_argument("--threads", type=int, default=0, help="threads for every side (default: all CPUs)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = limit_threads(args.threads)
    pairs = read_pairs(args.pairs, args.root or args.pairs.parent)
    if args.limit:
        keep = (pairs.index_a < args.limit) & (pairs.index_b < args.limit)
        pairs = PairSet(
            pairs.images[: args.limit],
            pairs.index_a[keep],
            pairs.index_b[keep],
            pairs.same[keep],
            None if pairs.folds is None else pairs.folds[keep],
            pairs.kind,
        )

    import face_recognition  # noqa: F401  (loads its models now, outside the clock)

    with Engine(settings) as engine:
        engine.face_analyzer(
            "hog+cnn", descriptor="dlib"
        )  # load (and on first use convert) the models outside the clock
        engine.face_analyzer("hog" if args.cropped else "yunet", descriptor=V2_DESCRIPTOR)
        engine.face_analyzer("hog" if args.cropped else "yunet", descriptor=DEFAULT_DESCRIPTOR)
        ours = evaluate_pairs(engine, pairs, cropped=args.cropped, descriptor="dlib")  # its detector: hog+cnn
        hog_only = ours if args.cropped else evaluate_pairs(engine, pairs, detector="hog", descriptor="dlib")
        v2 = run_ocula_v2(engine, pairs, args.cropped)
        v2_turned = None if args.cropped else run_ocula_v2(engine, pairs, False, turned=True)
        fused = run_ocula_v2(engine, pairs, args.cropped, descriptor=DEFAULT_DESCRIPTOR)
        tables = {"ocula": engine.calibration("dlib"), "v2": engine.calibration(V2_DESCRIPTOR),
                  "default": engine.calibration(DEFAULT_DESCRIPTOR)}  # fmt: skip
    theirs = run_face_recognition(pairs, args.cropped)

    v2_row = V2_CROPPED_ROW if args.cropped else V2_ROW
    default_row = DEFAULT_CROPPED_ROW if args.cropped else DEFAULT_ROW
    everyone = {"ocula": ours, "ocula --detector hog": hog_only, v2_row: v2}
    if args.cropped:  # no detection: the two ocula rows are the same computation
        del everyone["ocula --detector hog"]
    else:
        everyone[V2_TURNED_ROW] = v2_turned
    everyone |= {default_row: fused, "face_recognition": theirs}
    calibration_of = {"ocula": tables["ocula"], "ocula --detector hog": tables["ocula"], v2_row: tables["v2"],
                      V2_TURNED_ROW: tables["v2"], default_row: tables["default"]}
    ids = identities_of(args.pairs, args.root or args.pairs.parent, pairs)
    mixed = [] if ids is None else find_mixed({"ocula": ours, v2_row: v2}, ids)
    left_out = np.zeros(len(pairs.images), bool) if ids is None else np.isin(ids, mixed)
    reports = {name: without_photos(pairs, r, left_out, calibration_of.get(name)) for name, r in everyone.items()}
    ratio = theirs.seconds / ours.seconds
    v2_ratio = theirs.seconds / v2.seconds
    if args.json:
        rows = {name: r.to_dict() for name, r in reports.items()}
        all_rows = {name: r.to_dict() for name, r in everyone.items()}
        print(json.dumps({**rows, "mixed_identities_left_out": mixed, "all_identities": all_rows,
                          "speed_ratio": round(ratio, 2), "speed_ratio_v2": round(v2_ratio, 2),
                          "speed_ratio_default": round(theirs.seconds / fused.seconds, 2)}))  # fmt: skip
        return
    if ids is None:
        print("pairs CSV: no identities, none left out as mixed")
    else:
        print(f"mixed identities left out (ocula.eval.calibrate.mixed_identities): {', '.join(mixed) or 'none'} "
              f"({int(left_out.sum())} photos)")  # fmt: skip
    first = reports["ocula"]
    print(
        f"{first.n_pairs:,} pairs ({first.n_genuine:,} genuine, {first.n_impostor:,} impostor), "
        f"{int((~left_out).sum())} images"
    )
    print_table(reports)
    if mixed:
        print(f"all identities, mixed included: {len(pairs):,} pairs ({ours.n_genuine:,} genuine, "
              f"{ours.n_impostor:,} impostor), {len(pairs.images)} images")  # fmt: skip
        print_table(everyone)
    print(
        f"speed ratio (face_recognition time / ocula time): {ratio:.2f}x default, "
        f"{theirs.seconds / hog_only.seconds:.2f}x with --detector hog, {v2_ratio:.2f}x faces v2, "
        f"{theirs.seconds / fused.seconds:.2f}x sface+dlib"
    )
    if v2.failed_images:
        print(f"{v2_row}: no face in " + ", ".join(Path(p).name for p in v2.failed_images))


if __name__ == "__main__":
    main()
