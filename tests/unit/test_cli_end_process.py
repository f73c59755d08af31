"""How the ``ocula`` process ends (cli/__init__.py ``end_process``): without the interpreter's
teardown, but with its exit status, its atexit handlers and its buffered output; as usual where
a thread that is not a daemon still works, or with OCULA_DEBUG=1. Each case is a real process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PRELUDE = """
import atexit, sys, threading, time
from ocula.cli import end_process
atexit.register(lambda: print("atexit ran"))
print("buffered", end=" ")
"""


def _ended(body: str, stdout: int = subprocess.PIPE, **env: str) -> subprocess.CompletedProcess[str]:
    """``body`` after PRELUDE in a fresh process, its output buffered (as to a pipe or a file;
    PYTHONUNBUFFERED, common in CI, would hide a missing flush)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("OCULA_DEBUG", "PYTHONUNBUFFERED")}
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + body], env={**environment, **env},
        stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(("code", "status"), [("None", 0), ("0", 0), ("3", 3), ("130", 130)])
def test_the_status_output_and_atexit_handlers_are_kept(code, status):
    done = _ended(f"end_process({code})")
    assert done.returncode == status, done.stderr
    assert done.stdout == "buffered atexit ran\n"


def test_a_message_is_printed_with_status_1():
    done = _ended("end_process('error: stopped')")
    assert (done.returncode, done.stderr) == (1, "error: stopped\n")
    assert done.stdout == "buffered atexit ran\n"


def test_the_teardown_is_skipped():
    """A finalizer that runs only in the interpreter's teardown: not run by end_process, run
    by a normal exit (and with OCULA_DEBUG=1), so the check can tell the two apart."""
    body = (
        "class Torn:\n"
        "    def __del__(self):\n"
        "        sys.stdout.write('torn down\\n'); sys.stdout.flush()\n"
        "kept = Torn()\n"
    )
    assert _ended(body + "end_process(0)").stdout == "buffered atexit ran\n"
    assert "torn down" in _ended(body + "sys.exit(0)").stdout
    debug = _ended(body + "end_process(0)", OCULA_DEBUG="1")
    assert debug.returncode == 0 and "torn down" in debug.stdout


def test_a_working_thread_that_is_not_a_daemon_is_waited_for(tmp_path):
    marker = tmp_path / "written"
    body = (
        "def work():\n"
        "    time.sleep(0.5)\n"
        f"    open({str(marker)!r}, 'w').write('done')\n"
        "threading.Thread(target=work).start()\n"
        "end_process(4)\n"
    )
    done = _ended(body)
    assert done.returncode == 4, done.stderr
    assert marker.read_text() == "done"
    assert done.stdout == "buffered atexit ran\n"


def test_a_daemon_thread_does_not_hold_the_process():
    done = _ended("threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\nend_process(0)")
    assert done.returncode == 0 and done.stdout == "buffered atexit ran\n"


def test_what_a_c_library_wrote_to_its_stdout_is_flushed():
    body = "import ctypes\nctypes.CDLL(None).printf(b'from C\\n')\nend_process(0)\n"
    assert _ended(body).stdout.endswith("from C\n")


def test_closed_standard_streams_are_no_error():
    """Started with stdout closed (sys.stdout is None): the status stands."""
    code = "import sys; from ocula.cli import end_process; assert sys.stdout is None; end_process(6)"
    closed = subprocess.run(
        ["sh", "-c", '"$0" -c "$1" >&-', sys.executable, code], stderr=subprocess.PIPE, text=True, timeout=60
    )
    assert closed.returncode == 6, closed.stderr


@pytest.mark.parametrize("code", ["2**40 + 3", "-(2**40)"])
def test_a_status_beyond_a_c_int_exits_as_python_does(code):
    expected = subprocess.run([sys.executable, "-c", f"import sys; sys.exit({code})"], timeout=60).returncode
    assert _ended(f"end_process({code})").returncode == expected


def test_a_profiler_gets_its_output_written(tmp_path):
    out = tmp_path / "run.prof"
    script = tmp_path / "script.py"
    script.write_text("from ocula.cli import end_process\nend_process(0)\n")
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), str(script)], timeout=60)
    assert done.returncode == 0 and out.stat().st_size > 0
