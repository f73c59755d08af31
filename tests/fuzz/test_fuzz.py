"""Bounded fuzzing runs (atheris/libFuzzer) from the checked-in seed corpus, in subprocesses:
no crash, no hang (``-timeout``), bounded memory (``-rss_limit_mb``). Findings are written to a
temporary folder and named in the failure. The seeds are made by tools/make_fuzz_corpus.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
#: Seconds of fuzzing per target in the test suite (longer runs: set FUZZ_SECONDS).
SECONDS = int(os.environ.get("FUZZ_SECONDS", "45"))

atheris = pytest.importorskip("atheris", reason="atheris (the test extra) is not installed")


@pytest.mark.parametrize("target", ["fuzz_load_image.py", "fuzz_upload.py"])
def test_fuzz_target_finds_nothing(target, tmp_path):
    work = tmp_path / "corpus"
    work.mkdir()
    for seed in CORPUS.iterdir():  # libFuzzer adds new inputs to its first corpus folder: a copy
        (work / seed.name).write_bytes(seed.read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCULA_")}
    env["OCULA_CACHE_DIR"] = str(tmp_path / "cache")
    env["OCULA_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.run(
        [sys.executable, str(HERE / target), str(work), f"-max_total_time={SECONDS}", "-timeout=20",
         "-rss_limit_mb=3072", "-seed=1", f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"],
        capture_output=True, text=True, env=env, timeout=SECONDS + 300,
    )  # fmt: skip
    tail = proc.stderr[-3000:]
    findings = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-", "leak-"))]
    assert proc.returncode == 0 and not findings, f"{target}: exit {proc.returncode}, findings {findings}\n{tail}"
    runs = [line for line in proc.stderr.splitlines() if "stat::number_of_executed_units" in line]
    assert runs and int(runs[0].split(":")[-1]) > 100, tail  # it really ran
