"""The face verification benchmark (benchmarks/faces_vs_face_recognition.py) stays runnable: its
--help works, and its faces v2 row scores real photos through the public API. The full run
(minutes, and the face_recognition package, which is not a dependency) is run by hand."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys

import numpy as np

from ocula.eval.pairs import read_pairs

from ..conftest import REPO_ROOT, shared

SCRIPT = REPO_ROOT / "benchmarks" / "faces_vs_face_recognition.py"


def test_face_benchmark_help():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for option in ("--cropped", "--limit", "--threads", "--json"):
        assert option in done.stdout
    assert "faces v2" in done.stdout


def test_face_benchmark_v2_row_scores_photos(engine, tmp_path):
    spec = importlib.util.spec_from_file_location("faces_vs_face_recognition", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    root = shared("faces/celeba-80")
    with open(root / "identities.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    two_people = [r for r in rows if r["identity"] == rows[0]["identity"]][:2] + [rows[-1]]  # 1 genuine, 2 impostor
    subset = tmp_path / "identities.csv"
    with open(subset, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["image_path", "identity"])
        writer.writeheader()
        writer.writerows(two_people)
    pairs = read_pairs(subset, root)
    report = bench.run_ocula_v2(engine, pairs, cropped=False)
    assert (report.n_genuine, report.n_impostor, report.failures_to_enrol) == (1, 2, 0)
    genuine, impostors = report.scores[report.same], report.scores[~report.same]
    assert np.all(np.isfinite(report.scores))
    assert genuine.min() > impostors.max()  # SFace tells these two people apart
