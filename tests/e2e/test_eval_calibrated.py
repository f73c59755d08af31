"""``ocula eval pairs`` / ``ocula eval identify`` report the FMR / FPIR achieved at ocula's own
calibrated thresholds next to the one asked for (issue 17), on a few real celeba-80 photos."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from ocula.eval.identify import evaluate_identify
from ocula.eval.pairs import evaluate_pairs, read_pairs

from ..conftest import invoke_cli, run_cli, shared

ROOT = shared("faces/celeba-80")


def _subset(path, people: int, photos: int):
    """``photos`` photos each of the first ``people`` identities of celeba-80, as a CSV."""
    with open(ROOT / "identities.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    by_id: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_id.setdefault(row["identity"], []).append(row)
    chosen = [r for members in list(by_id.values())[:people] for r in members[:photos]]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["image_path", "identity"])
        writer.writeheader()
        writer.writerows(chosen)
    return path


@pytest.fixture
def few_people(tmp_path):
    return _subset(tmp_path / "few.csv", 4, 4)


def test_eval_pairs_reports_the_achieved_fmr_at_ocula_thresholds(engine, few_people):
    report = evaluate_pairs(engine, read_pairs(few_people, ROOT))
    table = engine.calibration()
    impostor = report.scores[~report.same]
    assert report.n_impostor == len(impostor) == 96 and report.failures_to_enrol == 0
    assert set(report.calibrated) == {"0.0001", "0.001", "0.01"}
    for asked, point in report.calibrated.items():
        assert point["fmr_asked"] == float(asked)
        assert point["threshold"] == pytest.approx(table.threshold_for(float(asked)))
        assert point["fmr"] == np.mean(impostor >= point["threshold"])  # achieved on these pairs
        assert point["fnmr"] == np.mean(report.scores[report.same] < point["threshold"])
    assert report.to_dict()["calibrated"]["0.001"]["fmr_asked"] == 0.001


def test_eval_identify_reports_the_achieved_fpir_next_to_the_asked(engine, few_people):
    report = evaluate_identify(engine, few_people, ROOT, enroll=2)
    assert report.nonmated_probes == 8 and report.mated_probes == 4
    assert set(report.calibrated) == {"0.01", "0.1"}
    for asked, point in report.calibrated.items():
        assert point["fpir_asked"] == float(asked) and point["fpir_expected"] >= float(asked)
        assert point["fpir"] == np.mean(report.nonmated_score >= point["threshold"])
    assert report.to_dict()["calibrated"]["0.01"]["fpir_asked"] == 0.01


def test_the_cli_prints_asked_and_achieved(cache_dir, tmp_path):
    two = _subset(tmp_path / "two.csv", 2, 4)  # one enrolled person, one stranger
    env = {"OCULA_CACHE_DIR": str(cache_dir), "OCULA_DATA_DIR": str(tmp_path / "data")}
    pairs = run_cli("eval", "pairs", str(two), "--root", str(ROOT), env_extra=env)
    assert pairs.returncode == 0, pairs.stderr
    assert "ocula's threshold for FMR 0.001:" in pairs.stdout and "(asked 0.001)" in pairs.stdout
    identify = invoke_cli("eval", "identify", str(two), "--root", str(ROOT), "--enroll", "2", env_extra=env)
    assert identify.returncode == 0, identify.stderr
    assert "achieved FPIR" in identify.stdout and "(asked 0.01)" in identify.stdout


def test_eval_with_the_sface_descriptor_records_it_and_its_thresholds(engine, few_people, cache_dir, tmp_path):
    """``descriptor="sface"``: faces found by its own detector (YuNet), SFace's shipped table as
    the calibrated thresholds, and both named in the report (and in the CLI's JSON)."""
    report = evaluate_pairs(engine, read_pairs(few_people, ROOT), descriptor="sface")
    assert (report.descriptor, report.detector, report.failures_to_enrol) == ("sface", "yunet", 0)
    genuine, impostor = report.scores[report.same], report.scores[~report.same]
    assert len(genuine) and np.all(np.abs(report.scores) <= 1.0 + 1e-6)  # cosines of unit vectors
    table = engine.calibration("sface")
    assert report.calibrated["0.001"]["threshold"] == pytest.approx(table.threshold_for(1e-3))
    assert report.to_dict()["descriptor"] == "sface" and report.to_dict()["detector"] == "yunet"
    assert genuine.mean() > impostor.mean()
    identify = evaluate_identify(engine, few_people, ROOT, enroll=2, descriptor="sface")
    assert identify.to_dict()["descriptor"] == "sface" and identify.detector == "yunet"
    assert identify.mated_probes == 4 and identify.rank1 == 1.0
    env = {"OCULA_CACHE_DIR": str(cache_dir), "OCULA_DATA_DIR": str(tmp_path / "data")}
    cli = invoke_cli(
        "eval", "pairs", str(few_people), "--root", str(ROOT), "--descriptor", "sface", "--json", env_extra=env
    )
    assert cli.returncode == 0, cli.stderr
    out = json.loads(cli.stdout)
    assert (out["descriptor"], out["detector"]) == ("sface", "yunet")
    assert out["calibrated"]["0.001"]["threshold"] == pytest.approx(table.threshold_for(1e-3), abs=1e-6)
