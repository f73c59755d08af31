"""Which of YuNet's faces is face 0 (issue 17): a rule chosen on half of celeba-80's identities,
reported on the other half.

Every celeba-80 photo is searched by YuNet (score >= 0.6, the photo fitted into 640x640) and
every face it finds is described by SFace + mirror. Then each rule picks one face per photo
and all pairs are scored (the mixed identities of ``ocula.eval.calibrate`` left out; dlib's
descriptors for that come from the cache of ``benchmarks/calibration_disjoint.py``):

- ``largest``: the largest box (ocula before this benchmark);
- ``confident``: the highest detector score;
- ``score*area``: the largest score x box area;
- ``largest>=X``: the largest box among those scoring at least X, else the most confident;
- ``largest~D``: the largest box among those scoring within D of the best score.

The identities are split in two halves by their order in identities.csv (first half: tuning,
second half: report; ``--swap`` the other way round). X and D are chosen on the tuning half by
TAR at FAR 1e-4, then 1e-3; of values tied on both, the middle one (the farthest from where
the tuning half starts to lose); the rules are reported on the other half.

    python benchmarks/yunet_face0.py --cache /tmp/i17-face0/celeba80.npz \
        --dlib-cache /tmp/i17-calib/celeba80.npz
    (the first run describes every face, ~5 min on a loaded 2-core machine; then seconds)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from ocula.eval.calibrate import halves, load_or_describe, mixed_identities
from ocula.eval.identify import read_identities
from ocula.eval.verification import roc, tar_at_far
from ocula.io import load_image
from ocula.pipelines.faces import similarity

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "celeba-80"
CUTS = tuple(round(0.6 + 0.025 * i, 3) for i in range(14))  # 0.6 ... 0.925
DELTAS = (0.01, 0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.25, 0.3)


def describe_all_faces(images: list[Path], cache: Path) -> dict[str, np.ndarray]:
    """Per face found: photo index, box, score, SFace + mirror descriptor (one thread)."""
    if cache.is_file():
        with np.load(cache) as stored:
            return {k: stored[k] for k in stored.files}
    from ocula import Engine, Settings

    photo, boxes, scores, desc = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp, Engine(Settings(threads=1, data_dir=Path(tmp))) as engine:
        yunet, sface = engine.face_detector("yunet"), engine.face_descriptor("sface", flip=True)
        for i, path in enumerate(images):
            image = load_image(path)
            found = yunet.detect_faces(image, 0)
            if not len(found):
                continue
            photo += [i] * len(found)
            boxes.append(found.boxes)
            scores.append(found.scores)
            desc.append(sface.embed(sface.chips(image, found.landmarks)))
    out = {
        "photo": np.array(photo),
        "boxes": np.concatenate(boxes),
        "scores": np.concatenate(scores),
        "desc": np.concatenate(desc),
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def pick(faces: dict[str, np.ndarray], n_photos: int, rule: str, cut: float = 0.0) -> np.ndarray:
    """Descriptors (n_photos, 128) of the face each photo's rule picks (NaN: no face)."""
    out = np.full((n_photos, faces["desc"].shape[1]), np.nan, np.float32)
    area = (faces["boxes"][:, 2] - faces["boxes"][:, 0]) * (faces["boxes"][:, 3] - faces["boxes"][:, 1])
    for i in np.unique(faces["photo"]):
        rows = np.flatnonzero(faces["photo"] == i)
        s, a = faces["scores"][rows], area[rows]
        if rule == "largest":
            key = a
        elif rule == "confident":
            key = s
        elif rule == "score*area":
            key = s * a
        elif rule == "delta":
            key = np.where(s >= s.max() - cut, a, -np.inf)
        else:  # largest>=cut
            key = np.where(s >= cut, a, -np.inf) if (s >= cut).any() else s
        out[i] = faces["desc"][rows[int(np.argmax(key))]]
    return out


def tars(desc: np.ndarray, ids: np.ndarray, keep: np.ndarray) -> tuple[float, float, int]:
    """TAR at FAR 1e-4 and 1e-3 over all pairs of the kept photos (no face: rejected), FTE."""
    idx = np.flatnonzero(keep)
    a, b = np.triu_indices(len(idx), 1)
    a, b = idx[a], idx[b]
    same = ids[a] == ids[b]
    ok = np.isfinite(desc).all(axis=1)
    safe = np.where(ok[:, None], desc, 0)
    scores = similarity(safe[a], safe[b])
    scores[~(ok[a] & ok[b])] = -np.inf
    curve = roc(scores, same)
    return tar_at_far(curve, 1e-4), tar_at_far(curve, 1e-3), int((~ok[idx]).sum())


def choose(faces: dict[str, np.ndarray], n: int, ids: np.ndarray, on: np.ndarray, rule: str, values) -> float:
    """The value of ``rule``'s parameter with the best (TAR@1e-4, TAR@1e-3) on the photos
    ``on``; of tied values, the middle one."""
    measured = [tars(pick(faces, n, rule, v), ids, on)[:2] for v in values]
    best = max(measured)
    tied = [v for v, m in zip(values, measured, strict=False) if m == best]
    return tied[(len(tied) - 1) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True, help="every face's descriptors (.npz, written if missing)")
    parser.add_argument("--dlib-cache", type=Path, required=True, help="calibration_disjoint.py's cache (mixed ids)")
    parser.add_argument("--swap", action="store_true", help="tune on the second half, report on the first")
    args = parser.parse_args()
    images, id_list = read_identities(DATA / "identities.csv", DATA)
    ids = np.array(id_list)
    faces = describe_all_faces(images, args.cache)
    cached = load_or_describe(DATA, args.dlib_cache)
    largest = pick(faces, len(images), "largest")
    mixed = mixed_identities({"dlib_resnet_face": cached["dlib_resnet_face"], "sface_face": largest}, ids).flagged
    first, second = halves(ids, mixed)
    tune, report = (second, first) if args.swap else (first, second)
    print(
        f"mixed identities left out: {', '.join(mixed)}; tuning on {len(tune)} identities, reporting on {len(report)}"
    )
    on_tune, on_report = np.isin(ids, tune), np.isin(ids, report)
    chosen = {rule: choose(faces, len(images), ids, on_tune, rule, values) for rule, values in
              (("cut", CUTS), ("delta", DELTAS))}  # fmt: skip
    print(f"chosen on the tuning half: X = {chosen['cut']}, D = {chosen['delta']}")
    print(f"{'rule':<16}{'tune @1e-4':>11}{'@1e-3':>8}{'report @1e-4':>13}{'@1e-3':>8}{'all @1e-4':>10}{'@1e-3':>8}")
    rules = [("largest", 0.0), ("confident", 0.0), ("score*area", 0.0)]
    rules += [("cut", c) for c in CUTS] + [("delta", d) for d in DELTAS]
    kept = on_tune | on_report
    for rule, cut in rules:
        desc = pick(faces, len(images), rule, cut)
        t4, t3, _ = tars(desc, ids, on_tune)
        r4, r3, _ = tars(desc, ids, on_report)
        a4, a3, _ = tars(desc, ids, kept)
        name = {"cut": f"largest>={cut:g}", "delta": f"largest~{cut:g}"}.get(rule, rule)
        mark = "  <- chosen" if chosen.get(rule) == cut else ""
        print(f"{name:<16}{t4:>11.4f}{t3:>8.4f}{r4:>13.4f}{r3:>8.4f}{a4:>10.4f}{a3:>8.4f}{mark}")


if __name__ == "__main__":
    main()
