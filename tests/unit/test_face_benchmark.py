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
    # 2 photos of one person, 1 of another (1 genuine, 2 impostor pairs), 1 of a third person
    photos = [*[r for r in rows if r["identity"] == rows[0]["identity"]][:2], rows[-1], rows[-20]]
    assert len({r["identity"] for r in photos}) == 3
    subset = tmp_path / "identities.csv"
    with open(subset, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["image_path", "identity"])
        writer.writeheader()
        writer.writerows(photos)
    pairs = read_pairs(subset, root)
    everyone = bench.run_ocula_v2(engine, pairs, cropped=False)
    assert (everyone.n_genuine, everyone.n_impostor, everyone.failures_to_enrol) == (1, 5, 0)
    assert everyone.embeddings is not None and everyone.embeddings.shape == (4, 128)
    # The third person left out (as a mixed identity would be): every pair with their photo goes.
    ids = bench.identities_of(subset, root, pairs)
    assert ids.tolist() == [r["identity"] for r in photos]
    report = bench.without_photos(pairs, everyone, ids == photos[-1]["identity"], None)
    assert (report.n_genuine, report.n_impostor, report.failures_to_enrol) == (1, 2, 0)
    genuine, impostors = report.scores[report.same], report.scores[~report.same]
    assert np.all(np.isfinite(report.scores))
    assert genuine.min() > impostors.max()  # SFace tells these two people apart
