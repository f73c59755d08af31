"""Gallery arithmetic: FPIR thresholds by gallery size, the identification protocol split and
FNIR at FPIR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ocula import InputError
from ocula.eval.identify import fnir_at_fpir, split_protocol
from ocula.galleries.fpir_thresholds import threshold_for_fpir
from ocula.pipelines.calibration import shipped_calibration
from ocula.pipelines.faces import EMBEDDER_MODEL


def test_fpir_threshold_grows_with_gallery_size_and_is_capped_honestly():
    table = shipped_calibration(EMBEDDER_MODEL)
    small, large = threshold_for_fpir(table, 0.01, 10), threshold_for_fpir(table, 0.01, 1000)
    assert small.threshold < large.threshold and not small.capped and not large.capped
    assert small.fpir_expected == 0.01
    # One comparison: the per-comparison FMR is the FPIR itself.
    assert threshold_for_fpir(table, 0.01, 1).threshold == pytest.approx(table.threshold_for(0.01))
    huge = threshold_for_fpir(table, 0.01, 10_000_000)  # needs FMR 1e-9: beyond the table
    assert huge.capped and huge.threshold == pytest.approx(table.threshold_for(table.fmr_range[0]))
    assert huge.fpir_expected > 0.01  # reported, not claimed
    for bad in (0, 1, -0.1, "0.01", True, float("nan")):
        with pytest.raises(InputError):
            threshold_for_fpir(table, bad, 10)


def test_protocol_split_alternates_identities_and_takes_the_first_photos_by_path():
    images = [Path(p) for p in ["b/2.jpg", "b/1.jpg", "a/3.jpg", "a/1.jpg", "a/2.jpg", "c/1.jpg", "d/1.jpg"]]
    ids = ["b", "b", "a", "a", "a", "c", "d"]
    gallery, mated, nonmated = split_protocol(images, ids, enroll=2)
    assert gallery == {"a": [3, 4], "c": [5]}  # a, c enrolled; b, d not
    assert mated == [(2, "a")] and sorted(nonmated) == [0, 1, 6]


def test_fnir_at_fpir_keeps_false_positives_within_the_rate():
    nonmated = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    hit = np.array([True, True, True, False])
    score = np.array([0.95, 0.85, 0.75, 0.99])
    fnir, t = fnir_at_fpir(hit, score, nonmated, 0.1)  # one of ten may pass: threshold just above 0.8
    assert 0.8 < t <= 0.9 and np.mean(nonmated >= t) <= 0.1
    assert fnir == pytest.approx(0.5)  # 0.95 and 0.85 found; 0.75 is below; the last is a wrong rank 1
    fnir0, t0 = fnir_at_fpir(hit, score, nonmated, 0.0)
    assert t0 > 0.9 and fnir0 == pytest.approx(0.75)
