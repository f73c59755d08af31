"""ROC, AUC, EER, TAR@FAR and cross-validated accuracy, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ocula.eval.verification import best_threshold, cross_validated_accuracy, roc, tar_at_far


def test_roc_on_a_small_example():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    same = np.array([1, 1, 0, 1, 0, 0], bool)
    c = roc(scores, same)
    assert c.n_genuine == 3 and c.n_impostor == 3
    assert c.tar.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1, 1])
    assert c.far.tolist() == pytest.approx([0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1, 1])
    assert c.auc == pytest.approx(8 / 9)  # 8 of 9 genuine/impostor orderings are right
    assert c.eer == pytest.approx(1 / 3)
    assert tar_at_far(c, 0.0 + 1e-9) is None  # 3 impostors cannot measure FAR 1e-9
    assert tar_at_far(c, 0.34) == pytest.approx(1.0)


def test_failures_to_enrol_are_rejected_everywhere():
    scores = np.array([0.9, -math.inf, 0.1, -math.inf])
    same = np.array([1, 1, 0, 0], bool)
    c = roc(scores, same)
    assert c.tar.max() == 1.0 and c.tar[-2] == 0.5  # the -inf genuine pair is only accepted at "accept all"
    # Fold 1 holds the genuine pairs, fold 2 the impostors. Scoring fold 1 with a threshold just
    # above 0.1 (learnt on fold 2) accepts 0.9 but can never accept -inf: 1/2. Scoring fold 2
    # with a threshold just below 0.9 (learnt on fold 1) rejects both impostors: 2/2.
    acc, std, folds = cross_validated_accuracy(scores, same, np.array([1, 1, 2, 2]))
    assert (acc, std, folds) == (0.75, 0.25, 2)


def test_best_threshold_matches_brute_force():
    rng = np.random.default_rng(3)
    scores = np.r_[rng.normal(1, 1, 300), rng.normal(-1, 1, 900)]
    same = np.r_[np.ones(300, bool), np.zeros(900, bool)]
    t = best_threshold(scores, same)
    grid = np.sort(scores)
    brute = max(np.mean((scores >= g) == same) for g in grid)
    assert np.mean((scores >= t) == same) == pytest.approx(brute)


def test_cross_validation_uses_the_folds_given():
    scores = np.array([0.9, 0.2, 0.8, 0.3, 0.7, 0.1])
    same = np.array([1, 0, 1, 0, 1, 0], bool)
    acc, std, folds = cross_validated_accuracy(scores, same, np.array([1, 1, 2, 2, 3, 3]))
    assert (acc, std, folds) == (1.0, 0.0, 3)
    acc, _, folds = cross_validated_accuracy(scores, same, None)
    assert folds == 2 and acc == 1.0
    with pytest.raises(ValueError):
        cross_validated_accuracy(scores, same, np.ones(6))


def test_roc_det_plot_of_a_small_perfectly_separated_set(tmp_path):
    """`ocula eval pairs --plot` on a few pairs with no error at any threshold: nothing to draw on
    the DET's log-log axes, and still a plot (it used to fail: "Data cannot be log-scaled")."""
    from PIL import Image

    from ocula.eval.plots import plot_roc_det

    scores = np.array([0.9, 0.95, 0.97, 0.1, 0.2, 0.3, 0.25])
    same = np.array([True, True, True, False, False, False, False])
    path = plot_roc_det({"dlib": (scores, same)}, tmp_path / "roc.png")
    assert Image.open(path).format == "PNG"
