"""Run a child process and measure it: wall seconds, its own CPU and peak RSS (``os.wait4``),
exit code and (optionally) stdout. Shared by the benchmarks that time whole processes."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ChildRun:
    wall: float  # seconds; inf when the child was killed at the timeout
    cpu: float  # user + sys seconds of the child alone
    peak_mb: float  # the child's own peak RSS
    code: int  # exit code; -9 when killed at the timeout
    stdout: str


def run_child(args: list[str], *, timeout: float, env: dict[str, str] | None = None) -> ChildRun:
    """``args`` run to completion (killed after ``timeout`` seconds), polled with ``os.wait4`` so
    the figures are the child's, not the parent's (Linux keeps a peak RSS across fork and exec)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.DEVNULL, text=True)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                return ChildRun(float("inf"), usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, -9, "")
            time.sleep(0.002)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return ChildRun(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, out.read())
