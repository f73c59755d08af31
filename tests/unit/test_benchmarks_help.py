"""Every script in benchmarks/ answers ``--help`` with its usage and does no work on import or
for ``--help`` (issue 18, item 9): the scripts are only run by hand, so nothing else notices
when one stops starting."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ..conftest import REPO_ROOT, THREADS_ENV

pytestmark = pytest.mark.slow  # ~24 Python processes that import ocula and NumPy: left out of the quick tier

BENCHMARKS = REPO_ROOT / "benchmarks"
#: A hang (a script doing its work instead of printing the usage) is bounded by this, not timed.
HELP_TIMEOUT_S = 120


def benchmark_scripts() -> list[Path]:
    """The runnable scripts: private helpers (``_child.py``) are imported by the others."""
    return sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


def _help(script: Path, cwd: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCULA_")} | THREADS_ENV
    command = [sys.executable, str(script), "--help"]
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=cwd, timeout=HELP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:  # reported with the others, not instead of them
        proc = subprocess.CompletedProcess(command, -1, "", f"no answer in {HELP_TIMEOUT_S} s: running its work?")
    return script, proc


def test_every_benchmark_prints_its_usage_for_help(tmp_path):
    scripts = benchmark_scripts()
    assert len(scripts) >= 20, scripts  # the folder was found and holds the benchmarks
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = list(pool.map(lambda s: _help(s, tmp_path), scripts))
    broken = [
        f"{script.name}: exit {proc.returncode}\n{proc.stdout[-500:]}{proc.stderr[-1500:]}"
        for script, proc in results
        if proc.returncode != 0 or not proc.stdout.startswith(f"usage: {script.name}")
    ]
    assert not broken, "\n\n".join(broken)
