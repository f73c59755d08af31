"""Every script in benchmarks/ answers ``--help`` with its usage and does no work on import or
for ``--help`` (issue 18, item 9): the scripts are only run by hand, so nothing else notices
when one stops starting.

All the scripts run in ONE child interpreter, each as ``python SCRIPT --help`` would run it
(``runpy.run_path`` as ``__main__``, ``sys.argv[0]`` the script, its folder first on ``sys.path``):
the same check as a process per script, without starting Python and importing NumPy and ocula
24 times (38-47 s of CPU on the 2-core test machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO_ROOT, THREADS_ENV

pytestmark = pytest.mark.slow  # a Python process that imports every benchmark: left out of the quick tier

BENCHMARKS = REPO_ROOT / "benchmarks"
#: A hang (a script doing its work instead of printing the usage) is bounded by this, not timed.
HELP_TIMEOUT_S = 300

#: Runs in the child: ``argv[1]`` the JSON file to write, the rest the scripts. Each script's
#: answer (exit code, stdout, stderr) is written as soon as it is known, and the script about to
#: run is named on the real stderr first, so a hang or a crash of the interpreter still says which.
_RUN_EACH_FOR_HELP = r"""
import contextlib, io, json, os, runpy, sys, traceback

out, scripts = sys.argv[1], sys.argv[2:]
results, path0 = {}, list(sys.path)
for script in scripts:
    print(f"running {os.path.basename(script)} --help", file=sys.__stderr__, flush=True)
    sys.argv, sys.path[:] = [script, "--help"], [os.path.dirname(script), *path0]
    stdout, stderr, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exit:  # argparse's --help ends with SystemExit(0)
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        except BaseException:
            code, _ = 1, traceback.print_exc()
    results[script] = {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}
    with open(out, "w") as f:
        json.dump(results, f)
"""


def benchmark_scripts() -> list[Path]:
    """The runnable scripts: private helpers (``_child.py``) are imported by the others."""
    return sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


def help_of_each(scripts: list[Path], cwd: Path) -> tuple[dict[str, dict], str]:
    """Each script's ``--help`` answer ({path: code, stdout, stderr}) from one child interpreter,
    and what the child said on its own stderr (which script it was on, if it hung or crashed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCULA_")} | THREADS_ENV
    answers = cwd / "help.json"
    command = [sys.executable, "-c", _RUN_EACH_FOR_HELP, str(answers), *map(str, scripts)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=HELP_TIMEOUT_S)
        said = proc.stderr if proc.returncode == 0 else f"child exited {proc.returncode}:\n{proc.stderr[-2000:]}"
    except subprocess.TimeoutExpired as timeout:  # reported with the others, not instead of them
        last = (timeout.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
        said = f"no answer in {HELP_TIMEOUT_S} s, last {last}: running its work?"
    return (json.loads(answers.read_text()) if answers.exists() else {}), said


def test_every_benchmark_prints_its_usage_for_help(tmp_path):
    scripts = benchmark_scripts()
    assert len(scripts) >= 20, scripts  # the folder was found and holds the benchmarks
    answers, said = help_of_each(scripts, tmp_path)
    broken = [
        f"{script.name}: exit {a['code']}\n{a['stdout'][-500:]}{a['stderr'][-1500:]}"
        for script in scripts
        if (a := answers.get(str(script))) is not None
        and (a["code"] != 0 or not a["stdout"].startswith(f"usage: {script.name}"))
    ]
    unanswered = [script.name for script in scripts if str(script) not in answers]
    if unanswered:
        broken.append(f"no answer from {unanswered}: {said}")
    assert not broken, "\n\n".join(broken)
