"""Face-verification benchmark on pairs of photos (LFW-style), each photo embedded once.

Two input forms:

- a pairs file with columns ``image_a,image_b,same`` (1/0) and optionally ``fold`` (LFW View 2);
- an identities file with columns ``image_path,identity``: every pair of its images is used,
  genuine when the identities match (CelebA-style), which gives hundreds of thousands of
  impostor pairs, enough to measure low false-match rates.

Paths are relative to ``root``. A photo with no usable face (or that cannot be read) is a
failure to enrol; its pairs score ``-inf`` (see :mod:`ocula.eval.verification`).
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DatasetError
from ..pipelines.calibration import CalibrationTable
from ..pipelines.faces import similarity
from ..text_file import MAX_CSV_BYTES, check_text_file
from .verification import cross_validated_accuracy, roc, tar_at_far

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["FARS", "PairSet", "PairsReport", "evaluate_pairs", "read_pairs"]

FARS = (1e-4, 1e-3, 1e-2)
# An identities file yields n(n-1)/2 pairs, held in memory (about 25 bytes each with scores).
MAX_IDENTITY_PAIRS = 50_000_000


@dataclass(frozen=True)
class PairSet:
    images: list[Path]  # unique, in first-seen order
    index_a: np.ndarray  # (n,) int64 into images
    index_b: np.ndarray
    same: np.ndarray  # (n,) bool
    folds: np.ndarray | None  # (n,) int64 or None
    kind: str  # "pairs" or "identities"

    def __len__(self) -> int:
        return len(self.same)


def _open_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Columns and rows, with names stripped of spaces and a spreadsheet's byte-order mark."""
    check_text_file(path, max_bytes=MAX_CSV_BYTES, what="CSV", error=DatasetError)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [c.strip() for c in next(reader, [])]
            rows = [
                dict(zip(header, (v.strip() for v in row), strict=False))
                for row in reader
                if any(v.strip() for v in row)
            ]
            return header, rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path} ({exc})") from None


class _ImageIndex:
    """The images a CSV names, numbered in first-seen order (a repeated path keeps its number)."""

    def __init__(self, path: Path):
        self.path = path
        self.index: dict[str, int] = {}

    def __call__(self, rel: str | None, line: int) -> int:
        if not rel:
            raise DatasetError(f"{self.path}:{line}: empty image path")
        return self.index.setdefault(rel.strip(), len(self.index))


def _same_value(path: Path, line: int, row: dict[str, str]) -> bool:
    value = (row.get("same") or "").lower()
    if value not in ("0", "1", "true", "false"):
        raise DatasetError(f"{path}:{line}: same must be 1 or 0, got {row['same']!r}")
    return value in ("1", "true")


def _fold_value(path: Path, line: int, row: dict[str, str]) -> int:
    try:
        return int(row.get("fold", ""))
    except (TypeError, ValueError):
        raise DatasetError(f"{path}:{line}: fold must be an integer, got {row.get('fold')!r}") from None


def _listed_pairs(path: Path, columns: list[str], rows: list[dict[str, str]], image: _ImageIndex) -> PairSet:
    """A pairs file: image_a,image_b,same[,fold], one pair a row."""
    ia, ib, same, folds = [], [], [], []
    for line, row in enumerate(rows, start=2):
        ia.append(image(row.get("image_a"), line))
        ib.append(image(row.get("image_b"), line))
        same.append(_same_value(path, line, row))
        if "fold" in columns:
            folds.append(_fold_value(path, line, row))
    if folds and len(set(folds)) < 2:
        raise DatasetError(f"{path}: cross-validation needs at least two folds, found only fold {folds[0]}")
    return PairSet(
        [],
        np.array(ia, np.int64),
        np.array(ib, np.int64),
        np.array(same, bool),
        np.array(folds, np.int64) if folds else None,
        "pairs",
    )


def _identity_pairs(path: Path, rows: list[dict[str, str]], image: _ImageIndex) -> PairSet:
    """An identities file: image_path,identity; every two photos make a pair."""
    ids = []
    for line, row in enumerate(rows, start=2):
        image(row.get("image_path"), line)
        identity = row.get("identity") or ""
        if not identity:
            raise DatasetError(f"{path}:{line}: empty identity")
        ids.append(identity)
    if len(image.index) != len(rows):
        raise DatasetError(f"{path}: an image is listed twice")
    n_pairs = len(rows) * (len(rows) - 1) // 2
    if n_pairs > MAX_IDENTITY_PAIRS:
        raise DatasetError(
            f"{path}: {len(rows):,} photos make {n_pairs:,} pairs, more than {MAX_IDENTITY_PAIRS:,}; "
            "list the pairs to score in a pairs file (image_a,image_b,same) instead"
        )
    labels = np.array(ids)
    ia, ib = np.triu_indices(len(labels), 1)
    return PairSet([], ia.astype(np.int64), ib.astype(np.int64), labels[ia] == labels[ib], None, "identities")


def _check_images_exist(path: Path, root: Path, images: list[Path]) -> None:
    missing = [str(p) for p in images if not p.is_file()]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise DatasetError(f"{len(missing)} images of {path} are missing under {root}: {', '.join(missing[:3])}{more}")


def read_pairs(path: Path, root: Path) -> PairSet:
    """Read a pairs or identities CSV; check that every image it names exists under ``root``."""
    path, root = Path(path), Path(root)
    columns, rows = _open_csv(path)
    if not rows:
        raise DatasetError(f"{path} has no rows")
    image = _ImageIndex(path)
    if {"image_a", "image_b", "same"} <= set(columns):
        pairs = _listed_pairs(path, columns, rows, image)
    elif {"image_path", "identity"} <= set(columns):
        pairs = _identity_pairs(path, rows, image)
    else:
        raise DatasetError(
            f"{path}: expected columns image_a,image_b,same[,fold] (pairs) or image_path,identity "
            f"(identities), found {','.join(columns)}"
        )
    images = [root / rel for rel in image.index]
    _check_images_exist(path, root, images)
    if pairs.same.all() or not pairs.same.any():
        raise DatasetError(f"{path}: needs both same-person and different-person pairs")
    return PairSet(images, pairs.index_a, pairs.index_b, pairs.same, pairs.folds, pairs.kind)


@dataclass
class PairsReport:
    n_pairs: int
    n_genuine: int
    n_impostor: int
    n_images: int
    failures_to_enrol: int
    accuracy: float
    accuracy_std: float
    folds: int
    auc: float
    eer: float
    tar_at_far: dict[str, float | None]
    pairs_per_second: float
    images_per_second: float
    seconds: float
    scores: np.ndarray = field(repr=False)
    same: np.ndarray = field(repr=False)
    failed_images: list[str] = field(default_factory=list, repr=False)
    # asked FMR -> {threshold, fmr_asked, fmr (achieved), fnmr} at ocula's calibrated thresholds
    calibrated: dict[str, dict[str, float]] = field(default_factory=dict)
    descriptor: str = "dlib"  # the face descriptor the scores are similarities of
    detector: str = "hog+cnn"  # the face detector ("given (cropped)" for crops)
    # (n_images, d) descriptor of each image's face (NaN rows: failures to enrol), when kept
    embeddings: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "descriptor": self.descriptor,
            "detector": self.detector,
            "n_pairs": self.n_pairs,
            "n_genuine": self.n_genuine,
            "n_impostor": self.n_impostor,
            "n_images": self.n_images,
            "failures_to_enrol": self.failures_to_enrol,
            "accuracy": _round6(self.accuracy),
            "accuracy_std": _round6(self.accuracy_std),
            "folds": self.folds,
            "auc": _round6(self.auc),
            "eer": _round6(self.eer),
            "tar_at_far": {k: _round6(v) for k, v in self.tar_at_far.items()},
            "pairs_per_second": round(self.pairs_per_second, 1),
            "images_per_second": round(self.images_per_second, 2),
            "calibrated": {k: {m: _round6(x) for m, x in v.items()} for k, v in self.calibrated.items()},
        }


def _round6(value: float | None) -> float | None:
    """``value`` rounded to 6 decimals for a report (None stays None)."""
    return None if value is None else round(float(value), 6)


def pair_scores(pairs: PairSet, embeddings: np.ndarray) -> np.ndarray:
    """Face similarity per pair; NaN rows (failures to enrol) give -inf."""
    ok = ~np.isnan(embeddings).any(axis=1)
    safe = np.where(ok[:, None], embeddings, 0.0).astype(np.float32)
    scores = np.empty(len(pairs), np.float64)
    for start in range(0, len(pairs), 1 << 16):  # no (pairs x dim) temporaries
        part = slice(start, start + (1 << 16))
        scores[part] = similarity(safe[pairs.index_a[part]], safe[pairs.index_b[part]])
    scores[~(ok[pairs.index_a] & ok[pairs.index_b])] = -math.inf
    return scores


def at_calibrated_thresholds(
    table: CalibrationTable, scores: np.ndarray, same: np.ndarray, fmrs: tuple[float, ...] = FARS
) -> dict[str, dict[str, float]]:
    """For each asked FMR the table calibrates: ocula's threshold, and the FMR and FNMR those
    pairs achieve at it (impostor pairs with a failure to enrol score -inf: no false match)."""
    low, high = table.fmr_range
    impostor, genuine = scores[~same], scores[same]
    out = {}
    for fmr in fmrs:
        if not low <= fmr <= high or not len(impostor):
            continue
        t = table.threshold_for(fmr)
        fnmr = float(np.mean(~(genuine >= t))) if len(genuine) else math.nan
        out[f"{fmr:g}"] = {"threshold": t, "fmr_asked": fmr, "fmr": float(np.mean(impostor >= t)), "fnmr": fnmr}
    return out


def report_from_scores(
    pairs: PairSet,
    scores: np.ndarray,
    *,
    failed: list[str],
    seconds: float,
    calibration: CalibrationTable | None = None,
    embeddings: np.ndarray | None = None,
) -> PairsReport:
    """The report of scored pairs; with ``calibration`` also the FMR achieved at its thresholds
    (``embeddings``: the images' descriptors, kept on the report)."""
    curve = roc(scores, pairs.same)
    acc, std, nfolds = cross_validated_accuracy(scores, pairs.same, pairs.folds)
    seconds = max(seconds, 1e-9)
    return PairsReport(
        n_pairs=len(pairs),
        n_genuine=curve.n_genuine,
        n_impostor=curve.n_impostor,
        n_images=len(pairs.images),
        failures_to_enrol=len(failed),
        accuracy=acc,
        accuracy_std=std,
        folds=nfolds,
        auc=curve.auc,
        eer=curve.eer,
        tar_at_far={f"{far:g}": tar_at_far(curve, far) for far in FARS},
        pairs_per_second=len(pairs) / seconds,
        images_per_second=len(pairs.images) / seconds,
        seconds=seconds,
        scores=scores,
        same=pairs.same,
        failed_images=failed,
        calibrated={} if calibration is None else at_calibrated_thresholds(calibration, scores, pairs.same),
        embeddings=embeddings,
    )


def evaluate_pairs(
    engine: Engine,
    pairs: PairSet,
    *,
    cropped: bool = False,
    detector: str | None = None,
    descriptor: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> PairsReport:
    """Embed each image once (largest face) with ``engine`` and score every pair; the FMR
    achieved at the engine's calibrated thresholds for ``descriptor`` is reported next to the
    one asked for (when a table ships for it); ``descriptor`` defaults to ``DEFAULT_DESCRIPTOR``,
    ``detector`` to the descriptor's own (``DEFAULT_DETECTORS``)."""
    from ..errors import NotCalibrated
    from ..models.registry import get_model
    from ..pipelines.faces import DEFAULT_DESCRIPTOR, DEFAULT_DETECTORS, DESCRIPTOR_MODELS, as_descriptor, as_detector

    chosen = as_descriptor(descriptor) if descriptor is not None else DEFAULT_DESCRIPTOR
    if detector is None:  # crops skip detection, and take dlib's landmarks (not YuNet's)
        detector = "hog" if cropped else DEFAULT_DETECTORS[chosen].value
    detector = as_detector(detector).value
    start = time.perf_counter()
    dim = int(get_model(DESCRIPTOR_MODELS[chosen]).architecture["dim"])
    embeddings = np.full((len(pairs.images), dim), np.nan, np.float32)
    failed: list[str] = []
    stream = engine.faces_many(
        pairs.images, largest_only=True, face_expected=True, cropped=cropped, detector=detector, descriptor=chosen.value
    )
    for i, result in enumerate(stream):
        if result.ok and len(result.faces):
            embeddings[i] = result.faces.embeddings[0]
        else:
            failed.append(result.source)
        if progress:
            progress(1)
    scores = pair_scores(pairs, embeddings)
    seconds = time.perf_counter() - start
    try:
        table = engine.calibration(chosen.value)
    except NotCalibrated:
        table = None
    report = report_from_scores(pairs, scores, failed=failed, seconds=seconds, calibration=table, embeddings=embeddings)
    report.descriptor, report.detector = chosen.value, "given (cropped)" if cropped else detector
    return report
