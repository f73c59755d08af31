"""The abuse benchmark (benchmarks/service_abuse.py) stays runnable: its --help works without
starting a server. The benchmark itself is run by hand (minutes, 1,000 connections)."""

from __future__ import annotations

import subprocess
import sys

from ..conftest import REPO_ROOT


def test_service_abuse_help():
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "service_abuse.py"), "--help"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for option in ("--seconds", "--clients", "--idle", "--time-limit"):
        assert option in done.stdout
    assert "PASS/FAIL" in done.stdout
