"""The threshold of 1:N face search that keeps the false-positive identification rate (FPIR)
at a chosen value.

An unknown face is compared with every template; it is falsely identified when any of them
reaches the threshold. With per-comparison false-match rate ``f`` and ``n`` templates, FPIR is
``1 - (1 - f)^n``, so the threshold is read off the calibration table at
``f = 1 - (1 - FPIR)^(1/n)``: the bigger the gallery, the stricter the threshold. Below the table's
smallest calibrated FMR the threshold is capped there, and the FPIR that cap actually gives is
reported rather than claimed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError
from ..pipelines.calibration import CalibrationTable

__all__ = ["GalleryThreshold", "threshold_for_fpir"]


@dataclass(frozen=True)
class GalleryThreshold:
    """The decision threshold for one gallery size.

    Attributes:
        threshold: similarity a candidate must reach to be named.
        fpir: the FPIR asked for.
        fpir_expected: the FPIR the threshold gives by the calibration (equal to ``fpir`` unless
            the gallery is so large that the threshold is capped at the table's end).
        comparisons: templates an unknown face is compared with.
        capped: the threshold is the table's strictest.
    """

    threshold: float
    fpir: float
    fpir_expected: float
    comparisons: int
    capped: bool


def threshold_for_fpir(table: CalibrationTable, fpir: float, comparisons: int) -> GalleryThreshold:
    if isinstance(fpir, bool) or not isinstance(fpir, (int, float)) or not 0 < float(fpir) < 1:
        raise InputError(f"fpir must be a number between 0 and 1, not {fpir!r}")
    fpir, n = float(fpir), max(1, int(comparisons))
    per_comparison = -math.expm1(math.log1p(-fpir) / n)  # 1 - (1 - fpir)^(1/n), without cancellation
    low, high = table.fmr_range
    capped = per_comparison < low
    threshold = table.threshold_for(min(high, max(low, per_comparison)))
    expected = -math.expm1(n * math.log1p(-table.fmr_at(threshold))) if capped else fpir
    return GalleryThreshold(threshold, fpir, expected, n, capped)
