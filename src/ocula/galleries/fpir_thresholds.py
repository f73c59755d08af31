"""The threshold of 1:N face search that keeps the false-positive identification rate (FPIR)
at a chosen value.

An unknown face is compared with every template; it is falsely identified when any of them
reaches the threshold. With per-comparison false-match rate ``f`` and ``n`` templates, FPIR is
``1 - (1 - f)^n``, so the threshold is read off the calibration table at
``f = 1 - (1 - FPIR)^(1/n)``: the bigger the gallery, the stricter the threshold. Below the table's
smallest calibrated FMR the threshold is capped there, and the FPIR that cap actually gives is
reported rather than claimed.

A person's templates are photos of one face, so a stranger's false matches with them come
together: ``n`` counts a person of ``T`` templates as ``T ** b`` comparisons, with ``b`` the
table's measured ``templates_exponent`` (1 when the table does not state one: every template an
independent comparison, the strictest reading). With ``P`` people and ``N`` templates ocula
uses ``n = P ** (1 - b) * N ** b``, the count for people of equal size; for unequal sizes it
is the larger (stricter) side, as ``T ** b`` is concave.
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
        effective_comparisons: the independent comparisons those templates count as.
    """

    threshold: float
    fpir: float
    fpir_expected: float
    comparisons: int
    capped: bool
    effective_comparisons: float = math.nan


def effective_comparisons(table: CalibrationTable, templates: int, people: int | None) -> float:
    """``P ** (1 - b) * N ** b`` for ``people`` P and ``templates`` N (N when P is unknown)."""
    n = max(1, int(templates))
    exponent = float(table.meta.get("templates_exponent", 1.0))
    if people is None or not 0.0 <= exponent < 1.0:
        return float(n)
    p = min(max(1, int(people)), n)
    return float(p ** (1.0 - exponent) * n**exponent)


def threshold_for_fpir(
    table: CalibrationTable, fpir: float, comparisons: int, *, people: int | None = None
) -> GalleryThreshold:
    """The threshold for ``fpir`` in a gallery of ``comparisons`` templates of ``people``."""
    if isinstance(fpir, bool) or not isinstance(fpir, (int, float)) or not 0 < float(fpir) < 1:
        raise InputError(f"fpir must be a number between 0 and 1, not {fpir!r}")
    fpir, n = float(fpir), effective_comparisons(table, comparisons, people)
    per_comparison = -math.expm1(math.log1p(-fpir) / n)  # 1 - (1 - fpir)^(1/n), without cancellation
    low, high = table.fmr_range
    capped = per_comparison < low
    threshold = table.threshold_for(min(high, max(low, per_comparison)))
    expected = -math.expm1(n * math.log1p(-table.fmr_at(threshold))) if capped else fpir
    return GalleryThreshold(threshold, fpir, expected, max(1, int(comparisons)), capped, n)
