"""Bounded fuzzing runs (atheris/libFuzzer) from the checked-in seed corpus, in subprocesses:
no crash, no hang (``-timeout``), bounded memory (``-rss_limit_mb``). Findings are written to a
temporary folder and named in the failure. The seeds are made by tools/make_fuzz_corpus.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
#: Inputs run per target in the test suite: a fixed amount of work, the same on a busy machine
#: as on a quiet one (a time budget of 15 s did less work the busier the machine, and more CPU
#: the quieter). On this 2-core machine under load (14 processes) 15 s ran 3,823 inputs of
#: fuzz_load_image.py and 697 of fuzz_upload.py; 10,000 of load_image took 45 s of CPU (the
#: inputs grow as the run goes on).
RUNS = {"fuzz_load_image.py": 4_000, "fuzz_upload.py": 700}
#: Longer runs by hand: FUZZ_SECONDS=600 fuzzes each target for that long instead.
SECONDS = int(os.environ.get("FUZZ_SECONDS", "0"))
#: Bounds a hang of the whole run, not its speed.
HANG_S = 300

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
    budget = f"-max_total_time={SECONDS}" if SECONDS else f"-runs={RUNS[target]}"
    fuzz = [sys.executable, str(HERE / target), str(work), budget, "-timeout=20",
            "-rss_limit_mb=3072", "-seed=1", f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"]  # fmt: skip
    # libFuzzer's memory limit reads the process's peak RSS (getrusage), and Linux carries the
    # peak over fork and exec: started straight from pytest (GBs of models by now) the target
    # would begin "over" the limit. A shell that forks it (not exec: a command follows) gives
    # it a fresh count; its own session lets a timeout stop both.
    proc = subprocess.Popen(["sh", "-c", '"$@"; exit $?', "sh", *fuzz], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=SECONDS + HANG_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
    tail = stderr[-3000:]
    findings = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-", "leak-"))]
    assert proc.returncode == 0 and not findings, f"{target}: exit {proc.returncode}, findings {findings}\n{tail}"
    runs = [line for line in stderr.splitlines() if "stat::number_of_executed_units" in line]
    assert runs and int(runs[0].split(":")[-1]) > 100, tail  # it really ran
