"""The arithmetic of 1:N face search: exact face similarity from an inner-product index, and
the threshold that keeps the false-positive identification rate (FPIR) at a chosen value.

Face similarity is ``1 - |a - b|^2 / 2`` on descriptors whose length matters (see
:func:`ocula.pipelines.faces.similarity`), while vector indexes (FAISS, Milvus) rank by inner
product. With a stored template ``b' = [b, -|b|^2 / 2]`` and a query ``a' = [a, 1]``,
``a'.b' = a.b - |b|^2 / 2``, and adding ``1 - |a|^2 / 2`` gives the similarity exactly: the index
ranks by the true similarity, not an approximation of it.

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

import numpy as np

from ..errors import InputError
from ..pipelines.calibration import CalibrationTable

__all__ = ["GalleryThreshold", "as_query", "as_template", "similarity_from_score", "threshold_for_fpir"]


def as_template(descriptors: np.ndarray) -> np.ndarray:
    """(n, d) descriptors → (n, d + 1) stored templates ``[b, -|b|^2 / 2]``."""
    b = np.atleast_2d(np.asarray(descriptors, np.float32))
    return np.hstack([b, -0.5 * np.einsum("ij,ij->i", b, b)[:, None]]).astype(np.float32)


def as_query(descriptors: np.ndarray) -> np.ndarray:
    """(n, d) descriptors → (n, d + 1) queries ``[a, 1]``."""
    a = np.atleast_2d(np.asarray(descriptors, np.float32))
    return np.hstack([a, np.ones((len(a), 1), np.float32)])


def similarity_from_score(score: float | np.ndarray, descriptor: np.ndarray) -> float | np.ndarray:
    """The face similarity of a query ``descriptor`` (d,) to a template, from their index score."""
    a = np.asarray(descriptor, np.float64)
    return score + 1.0 - 0.5 * float(a @ a)


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
