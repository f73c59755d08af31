"""Verification metrics from pair similarities: ROC, AUC, EER, TAR at FAR, protocol accuracy.

Scores are similarities (higher = more alike); a pair whose face could not be found or read
("failure to enrol") carries ``-inf``, so it is rejected at every threshold: a false non-match
for a genuine pair, a correct rejection for an impostor pair (ISO/IEC 19795-1's convention for
a system that must decide).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Roc", "best_threshold", "cross_validated_accuracy", "roc", "tar_at_far"]


@dataclass(frozen=True)
class Roc:
    """Operating points at every distinct threshold, strictest first."""

    far: np.ndarray  # false accept (match) rate, impostors at or above the threshold
    tar: np.ndarray  # true accept rate, genuine pairs at or above the threshold
    thresholds: np.ndarray
    n_genuine: int
    n_impostor: int

    @property
    def auc(self) -> float:
        # Trapezoids by hand: np.trapezoid needs NumPy 2, np.trapz is gone from it.
        return float(np.sum(np.diff(self.far) * (self.tar[1:] + self.tar[:-1]) / 2))

    @property
    def eer(self) -> float:
        """Equal error rate: where FAR equals FRR = 1 - TAR (interpolated)."""
        frr = 1 - self.tar
        diff = self.far - frr  # increases from -1 to +1 along the curve
        i = int(np.searchsorted(diff, 0.0))
        if i == 0:
            return float(self.far[0])
        if i >= len(diff):
            return float(frr[-1])
        d0, d1 = diff[i - 1], diff[i]
        w = 0.0 if d1 == d0 else -d0 / (d1 - d0)
        return float(self.far[i - 1] + w * (self.far[i] - self.far[i - 1]))


def roc(scores: np.ndarray, same: np.ndarray) -> Roc:
    scores = np.asarray(scores, np.float64)
    same = np.asarray(same, bool)
    n_gen, n_imp = int(same.sum()), int((~same).sum())
    if n_gen == 0 or n_imp == 0:
        raise ValueError("a ROC needs both genuine and impostor pairs")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], same[order]
    # One point per distinct finite score (ties move together), plus the (0,0) start and (1,1) end.
    last = np.r_[s[1:] != s[:-1], True] & np.isfinite(s)
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    tar = np.r_[0.0, tp / n_gen, 1.0]
    far = np.r_[0.0, fp / n_imp, 1.0]
    thresholds = np.r_[np.inf, s[last], -np.inf]
    return Roc(far, tar, thresholds, n_gen, n_imp)


def tar_at_far(curve: Roc, far: float) -> float | None:
    """The highest TAR whose FAR does not exceed ``far``; None when the impostor pairs are too
    few to measure it (fewer than 1/far of them)."""
    if curve.n_impostor * far < 1:
        return None
    ok = curve.far <= far + 1e-12
    return float(curve.tar[ok].max())


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (midpoint between neighbouring distinct scores) that maximises accuracy
    of ``score >= threshold`` as the "same" decision. Vectorised: O(n log n)."""
    finite = np.isfinite(scores)
    s, y = scores[finite], same[finite]
    if len(s) == 0:
        return math.inf
    order = np.argsort(s, kind="stable")
    s, y = s[order], y[order]
    distinct = np.r_[s[1:] != s[:-1], True]  # last index of each run of equal scores
    # Threshold just above run j's value: rejects everything up to that run's end.
    imp_rejected = np.cumsum(~y)[distinct]
    gen_rejected = np.cumsum(y)[distinct]
    values = s[distinct]
    # Candidate k = 0 accepts all finite scores; candidate k >= 1 rejects runs 0..k-1.
    correct = np.r_[0, imp_rejected] + (int(y.sum()) - np.r_[0, gen_rejected]) + int((~same[~finite]).sum())
    k = int(np.argmax(correct))
    if k == 0:
        return float(values[0] - 1e-6)
    if k == len(values):
        return float(values[-1] + 1e-6)
    return float((values[k - 1] + values[k]) / 2)


def cross_validated_accuracy(
    scores: np.ndarray, same: np.ndarray, folds: np.ndarray | None
) -> tuple[float, float, int]:
    """(mean accuracy, its standard deviation, number of folds).

    With ``folds`` (LFW protocol): for each fold, the threshold that is best on the other folds
    is applied to it. Without: a fixed pseudo-random half chooses the threshold, the other half
    is scored (and the reverse), averaged.
    """
    scores = np.asarray(scores, np.float64)
    same = np.asarray(same, bool)
    if folds is None:
        rng = np.random.default_rng(0)
        folds = (rng.permutation(len(scores)) % 2).astype(np.int64)
    folds = np.asarray(folds)
    accs = []
    for f in np.unique(folds):
        test = folds == f
        if test.all():
            raise ValueError("cross-validation needs at least two folds")
        t = best_threshold(scores[~test], same[~test])
        accs.append(float(np.mean((scores[test] >= t) == same[test])))
    return float(np.mean(accs)), float(np.std(accs)), len(accs)
