"""Calibration that holds on new people: mixed identities, the bootstrap margin, and the
effective comparisons of a person's templates (``ocula.eval.calibrate``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ocula.eval.calibrate import (
    bootstrap_thresholds,
    build_table,
    check_fold,
    halves,
    impostor_pairs,
    mixed_identities,
    passing_band,
)
from ocula.galleries.fpir_thresholds import threshold_for_fpir
from ocula.pipelines.calibration import CalibrationTable


def _people(rng: np.random.Generator, n_people: int, photos: int, spread: float = 0.35) -> tuple[np.ndarray, list[str]]:
    """Unit descriptors: each person a random direction, each photo that plus noise."""
    centres = rng.normal(size=(n_people, 32))
    desc = np.repeat(centres, photos, axis=0) + spread * rng.normal(size=(n_people * photos, 32))
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    return desc.astype(np.float32), [f"p{i:02d}" for i in range(n_people) for _ in range(photos)]


def _mix(desc: np.ndarray, ids: list[str], into: str, source: str) -> np.ndarray:
    """Half of ``into``'s photos replaced by photos of ``source`` (labelled ``into``)."""
    out = desc.copy()
    target = [i for i, x in enumerate(ids) if x == into]
    donor = [i for i, x in enumerate(ids) if x == source]
    out[target[: len(target) // 2]] = desc[donor[: len(target) // 2]]
    return out


def test_an_identity_is_flagged_as_mixed_only_when_both_descriptors_agree():
    rng = np.random.default_rng(0)
    a, ids = _people(rng, 30, 8)
    b, _ = _people(np.random.default_rng(1), 30, 8)
    a_mixed = _mix(a, ids, "p03", "p20")
    both = mixed_identities({"a": a_mixed, "b": _mix(b, ids, "p03", "p20")}, ids)
    assert both.flagged == ["p03"]
    assert both.z["a"]["p03"] < both.cut and both.z["b"]["p03"] < both.cut
    assert "p03" in both.to_dict()["flagged"] and f"{both.cut:g}" in str(both.to_dict()["rule"])
    # Mixed under one descriptor only (e.g. a pose it handles badly): not a labelling error.
    assert mixed_identities({"a": a_mixed, "b": b}, ids).flagged == []
    # A photo without a face (NaN row) is left out of its identity's pairs.
    a_mixed[0] = np.nan
    assert mixed_identities({"a": a_mixed, "b": _mix(b, ids, "p03", "p20")}, ids).flagged == ["p03"]


def test_halves_follow_first_appearance_and_leave_the_mixed_out():
    ids = ["x", "x", "b", "a", "c", "b", "d"]
    assert halves(ids) == (["x", "b"], ["a", "c", "d"]) or halves(ids) == (["x", "b", "a"], ["c", "d"])
    assert halves(ids, ["b"]) == (["x", "a"], ["c", "d"])


def test_the_bootstrap_bound_is_stricter_than_the_point_and_honest_on_new_people():
    rng = np.random.default_rng(2)
    desc, ids = _people(rng, 60, 6, spread=0.5)
    labels = np.array(ids)
    calib, test = labels < "p30", labels >= "p30"
    scores, ca, cb = impostor_pairs(desc[calib], labels[calib])
    bounds = bootstrap_thresholds(scores, ca, cb, [1e-2, 1e-3], draws=100)
    for point, bound in bounds.values():
        assert bound >= point
    table = build_table(desc[calib], labels[calib], rule="margin")
    held_out, _, _ = impostor_pairs(desc[test], labels[test])
    assert len(held_out) > 10_000
    assert np.mean(held_out >= table.threshold_for(1e-2)) <= 1.5e-2
    assert table.meta["templates_exponent"] <= 1.0 and "bootstrap" in table.meta["margin"]
    assert set(table.meta["point_thresholds"]) == {f"{f:g}" for f in table.fmr}
    again = CalibrationTable.from_json(table.to_json())  # the file format stays readable
    assert again.meta["templates_exponent"] == table.meta["templates_exponent"]
    with pytest.raises(ValueError, match="rule"):
        build_table(desc, ids, rule="guess")


def test_templates_count_as_fewer_comparisons_only_when_the_table_says_so():
    rows = (np.array([1e-1, 1e-2, 1e-3, 1e-4]), np.array([0.5, 0.6, 0.7, 0.8]), np.full(4, np.nan))
    old = CalibrationTable(*rows)
    measured = CalibrationTable(*rows, meta={"templates_exponent": 0.5})
    # Without an exponent (tables shipped before): every template counts, people or not.
    assert threshold_for_fpir(old, 0.01, 30, people=10) == threshold_for_fpir(old, 0.01, 30)
    assert threshold_for_fpir(old, 0.01, 30).effective_comparisons == 30
    # 10 people of 3 templates with exponent 0.5: 10**0.5 * 30**0.5 comparisons.
    limit = threshold_for_fpir(measured, 0.01, 30, people=10)
    assert limit.effective_comparisons == pytest.approx(math.sqrt(300))
    assert limit.threshold < threshold_for_fpir(measured, 0.01, 30).threshold
    assert limit.comparisons == 30
    # One template per person: the exponent changes nothing.
    assert threshold_for_fpir(measured, 0.01, 10, people=10).effective_comparisons == pytest.approx(10)


def test_the_identity_disjoint_check_measures_what_it_reports():
    rng = np.random.default_rng(3)
    desc, ids = _people(rng, 40, 6, spread=0.5)
    labels = np.array(ids)
    paths = np.array([f"{i}/{n}.jpg" for n, i in enumerate(ids)])
    first, second = halves(labels)
    row = check_fold(desc, labels, paths, first, second, rule="margin")
    test = np.isin(labels, second)
    held_out, _, _ = impostor_pairs(desc[test], labels[test])
    assert row["impostor_pairs"] == len(held_out) > 0
    assert row["fmr_achieved"]["0.001"] == np.mean(held_out >= row["threshold_fmr_1e-3"])
    assert row["nonmated_probes"] == 10 * 6 and row["mated_probes"] == 10 * 3  # 10 strangers, 10 enrolled
    assert row["fnir_ratio"] >= 0 and isinstance(row["pass"], bool)
    band = passing_band(desc, labels, paths, second)
    assert band["fpir_from"] <= band["empirical"] + 1e-6 <= band["fnir_up_to"] + 2e-6
    assert band["fmr_from"] <= row["threshold_fmr_1e-3"] or row["fmr_achieved"]["0.001"] > 1.5e-3
