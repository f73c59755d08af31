"""Calibration of face similarity: false-match rate (FMR) ↔ similarity threshold.

A threshold is chosen so that at most a fraction ``fmr`` of real different-person (impostor)
pairs reach it. A table is measured once on real pairs (``ocula eval pairs --calibration``) and
shipped with the package; lookups between its rows interpolate linearly in log(FMR). FMRs
outside the measured range are refused rather than extrapolated: a threshold for 1e-6 cannot be
read off 500,000 impostor pairs.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError, NotCalibrated
from ..text_file import MAX_TABLE_BYTES, read_text_file

__all__ = ["DEFAULT_FMRS", "CalibrationTable", "shipped_calibration"]

DEFAULT_FMRS = (1e-1, 5e-2, 2e-2, 1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4, 5e-5, 2e-5, 1e-5, 5e-6, 2e-6, 1e-6)
MIN_IMPOSTORS_ABOVE = 5  # a row needs at least this many impostor pairs above its threshold


@dataclass(frozen=True)
class CalibrationTable:
    """Rows of (fmr, threshold[, fnmr]) with FMR strictly decreasing and thresholds increasing.

    Attributes:
        fmr: (n,) false-match rates, largest first.
        threshold: (n,) similarity thresholds; ``similarity >= threshold`` is a match.
        fnmr: (n,) false non-match rate at each threshold on the same data's genuine pairs
            whose faces were both found (NaN when the data had none).
        meta: where the table comes from: model, data, pair counts, date, command.
    """

    fmr: np.ndarray
    threshold: np.ndarray
    fnmr: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (len(self.fmr) == len(self.threshold) == len(self.fnmr)) or len(self.fmr) < 2:
            raise ConfigError("a calibration table needs at least two rows of fmr, threshold and fnmr")
        # Every comparison with NaN is false: a NaN row would pass the order check below and give
        # NaN thresholds (a "no match" for every pair) or a math error at lookup.
        if not (np.all(np.isfinite(self.fmr)) and np.all((self.fmr > 0) & (self.fmr <= 1))):
            raise ConfigError("calibration rows need an fmr in (0, 1]")
        if not np.all(np.isfinite(self.threshold)):
            raise ConfigError("calibration rows need a finite threshold")
        known = self.fnmr[~np.isnan(self.fnmr)]
        if not np.all((known >= 0) & (known <= 1)):
            raise ConfigError("a calibration row's fnmr must lie in [0, 1] (or be null)")
        if np.any(np.diff(self.fmr) >= 0) or np.any(np.diff(self.threshold) < 0):
            raise ConfigError("calibration rows must have decreasing fmr and non-decreasing thresholds")

    @classmethod
    def from_scores(
        cls,
        impostor: np.ndarray,
        genuine: np.ndarray | None = None,
        *,
        fmrs: tuple[float, ...] = DEFAULT_FMRS,
        meta: dict[str, Any] | None = None,
    ) -> CalibrationTable:
        """Thresholds from impostor similarities: for each ``fmr`` with enough impostors above it,
        the threshold halfway between the k-th and (k+1)-th highest impostor score, k = floor(fmr·n),
        so exactly k impostor pairs (a fraction ≤ fmr) reach it. When those two scores tie, the
        threshold is just above the tie, so fewer than k reach it: never more than ``fmr``."""
        imp = np.sort(np.asarray(impostor, np.float64)[np.isfinite(impostor)])[::-1]
        gen = None if genuine is None else np.asarray(genuine, np.float64)
        if gen is not None:
            gen = gen[np.isfinite(gen)]  # failures to enrol say nothing about thresholds
        n = len(imp)
        rows = []
        for f in sorted(fmrs, reverse=True):
            k = math.floor(f * n)
            if k < MIN_IMPOSTORS_ABOVE or k >= n:
                continue
            t = (imp[k - 1] + imp[k]) / 2 if imp[k - 1] > imp[k] else float(np.nextafter(imp[k], np.inf))
            fnmr = float(np.mean(~(gen >= t))) if gen is not None and len(gen) else math.nan
            rows.append((f, t, fnmr))
        if len(rows) < 2:
            raise InputError(
                f"{n} impostor pairs are too few to calibrate (at least {MIN_IMPOSTORS_ABOVE * 20} are needed)"
            )
        fmr, thr, fnmr = (np.array(c) for c in zip(*rows, strict=False))
        thr = np.maximum.accumulate(thr)  # ties can make neighbours equal, never decreasing
        info = dict(meta or {})
        info.update(n_impostor=n, n_genuine=0 if gen is None else len(gen))
        return cls(fmr, thr, fnmr, info)

    @property
    def fmr_range(self) -> tuple[float, float]:
        return float(self.fmr[-1]), float(self.fmr[0])

    def threshold_for(self, fmr: float) -> float:
        """The similarity threshold giving ``fmr`` (log-linear between rows)."""
        low, high = self.fmr_range
        if isinstance(fmr, (bool, str)) or not isinstance(fmr, numbers.Real):
            raise InputError(f"fmr must be a number, not {type(fmr).__name__}")
        fmr = float(fmr)
        if not math.isfinite(fmr) or not low <= fmr <= high:
            raise InputError(f"fmr {fmr!r} is outside the calibrated range [{low:g}, {high:g}]")
        x = np.log(self.fmr[::-1])
        return float(np.interp(math.log(fmr), x, self.threshold[::-1]))

    def fmr_at(self, similarity: float) -> float:
        """The calibrated FMR at ``similarity``, clipped to the table's range."""
        x = np.log(self.fmr)  # decreasing with increasing threshold
        return float(math.exp(np.interp(similarity, self.threshold, x)))

    # -- files ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "rows": [
                {
                    "fmr": float(f),
                    "threshold": round(float(t), 6),
                    "fnmr": None if math.isnan(r) else round(float(r), 6),
                }
                for f, t, r in zip(self.fmr, self.threshold, self.fnmr, strict=True)
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CalibrationTable:
        try:
            rows = data["rows"]
            fmr = np.array([float(r["fmr"]) for r in rows])
            thr = np.array([float(r["threshold"]) for r in rows])
            fnmr = np.array([math.nan if r.get("fnmr") is None else float(r["fnmr"]) for r in rows])
            meta = dict(data.get("meta", {}))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"malformed calibration table ({exc})") from None
        return cls(fmr, thr, fnmr, meta)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> CalibrationTable:
        try:
            text = read_text_file(path, max_bytes=MAX_TABLE_BYTES, what="calibration table")
            data = json.loads(text)
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"cannot read calibration table {path} ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"calibration table {path}: a JSON object with rows is expected")
        return cls.from_json(data)


def shipped_calibration(model: str) -> CalibrationTable:
    """The table shipped in ``ocula/data`` for the face-embedding ``model``;
    :class:`~ocula.errors.NotCalibrated` (naming the missing file) when none ships."""
    name = f"calibration_{model}.json"
    try:
        text = resources.files("ocula").joinpath("data", name).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        raise NotCalibrated(model, f"ocula/data/{name}") from None
    return CalibrationTable.from_json(json.loads(text))
