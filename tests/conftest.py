"""Shared fixtures. Paths are resolved from this file, never from the working directory."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# Before any test imports ONNX Runtime directly (test_converter.py does at collection): its
# telemetry off in this process and the processes it starts, as ocula imports it
# (models/backends/onnx.py).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from ocula import Engine, Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SAMPLES = REPO_ROOT / "src" / "ocula" / "data" / "samples"


def shared(relative: str) -> Path:
    """A path under ../shared/data; skips the test (with the reason) if that data is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"shared data {path} is not present on this machine")
    return path


#: Folders whose tests are end-to-end (real weights, ../shared/data, browsers, fuzzers).
E2E_FOLDERS = ("e2e", "browser", "fuzz")


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: two workers more than the CPUs (``--maxprocesses`` still caps it). About a fifth
    of a 2-worker run on 2 cores was idle (workers waiting for the CLIs, servers, Ray and
    Chromium they start: 17 min of CPU in 10.5 min); extra workers use that time (clean clone,
    2 cores: 2 workers 10 min 27 s, 3 workers 8 min 39 s)."""
    from ocula.config import available_cpus

    return available_cpus() + 2


def pytest_collection_modifyitems(config, items):
    """The tiers, from where a test lives and how it is marked: every test under tests/e2e,
    browser or fuzz is ``e2e``; ``quick`` (``python -m pytest -m quick``, the development loop) is
    every unit and service test not marked ``slow``, plus the e2e tests marked ``quick``."""
    tests_root = Path(__file__).resolve().parent
    for item in items:
        folder = Path(item.path).resolve().relative_to(tests_root).parts[0]
        if folder in E2E_FOLDERS:
            item.add_marker(pytest.mark.e2e)
        elif item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.quick)


@pytest.fixture(autouse=True)
def _no_ocula_environment(monkeypatch):
    """Tests must not depend on the developer's OCULA_* variables (e.g. OCULA_OFFLINE=0)."""
    import os

    for name in list(os.environ):
        if name.startswith("OCULA_"):
            monkeypatch.delenv(name)


# Ctrl-C must stop a test run at once: no library may leave its own SIGINT/SIGTERM handler in the
# pytest process (issue 16: Ray's driver did; two Ctrl-C were ignored). Checked at both levels:
# Python's (signal.getsignal) and the process's (sigaction), as C extensions install them there.
GUARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_SIGACTION_SIZE = 256  # bytes, more than any platform's struct sigaction; the handler comes first


def _os_handler(signum: int) -> bytes | None:
    """The raw ``struct sigaction`` the process holds for ``signum`` (None where there is no sigaction)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "sigaction"):
        return None
    raw = ctypes.create_string_buffer(_SIGACTION_SIZE)
    if libc.sigaction(signum, None, raw) != 0:
        return None
    return raw.raw


def _handler_address(raw: bytes | None) -> int | None:
    return None if raw is None else int.from_bytes(raw[: ctypes.sizeof(ctypes.c_void_p)], sys.byteorder)


def _signal_handlers() -> dict[int, tuple[object, bytes | None]]:
    return {signum: (signal.getsignal(signum), _os_handler(signum)) for signum in GUARDED_SIGNALS}


def _changed_handlers(before: dict, after: dict) -> list[str]:
    changes = []
    for signum, (python_before, os_before) in before.items():
        python_after, os_after = after[signum]
        if python_after != python_before:
            changes.append(f"{signal.Signals(signum).name}: Python handler {python_before!r} -> {python_after!r}")
        elif _handler_address(os_after) != _handler_address(os_before):
            changes.append(f"{signal.Signals(signum).name}: process (sigaction) handler replaced by a C extension")
    return changes


def _restore_handlers(saved: dict) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for signum, (python_handler, os_raw) in saved.items():
        if os_raw is not None:
            libc.sigaction(signum, ctypes.create_string_buffer(os_raw, _SIGACTION_SIZE), None)
        if python_handler is not None:  # None: set from C before Python started; the raw one is back
            signal.signal(signum, python_handler)


@pytest.fixture(scope="session", autouse=True)
def _session_signal_handlers() -> dict:
    """The SIGINT/SIGTERM handlers pytest started with (before any session fixture ran)."""
    return _signal_handlers()


@pytest.fixture(autouse=True)
def _no_signal_handler_left_behind(_session_signal_handlers):
    """Fails the test (and puts pytest's handlers back) if it, or a fixture it set up, left a
    SIGINT/SIGTERM handler in this process."""
    yield
    changes = _changed_handlers(_session_signal_handlers, _signal_handlers())
    if changes:
        _restore_handlers(_session_signal_handlers)
        pytest.fail("a signal handler was left in the pytest process: " + "; ".join(changes), pytrace=False)


def worker_threads() -> int:
    """Inference threads for each test process: the CPUs shared out among pytest-xdist's workers
    (0, all CPUs, without xdist). Two workers each running two-thread ONNX Runtime sessions on
    two cores cost ~20% more CPU for the same work (measured on the search embedder: 28.7 against
    23 ms of CPU an image); the outputs are identical with 1 or 2 threads."""
    from ocula.config import available_cpus

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    return max(1, available_cpus() // workers) if workers > 1 else 0


#: ``OCULA_THREADS`` for the CLIs the tests start (``run_cli``, the session's report).
THREADS_ENV = {"OCULA_THREADS": str(worker_threads())} if worker_threads() else {}


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One converted-graph cache for the whole run (conversion is tested separately)."""
    return tmp_path_factory.mktemp("ocula-cache")


@pytest.fixture
def settings(tmp_path, cache_dir) -> Settings:
    return Settings(data_dir=tmp_path / "data", cache_dir=cache_dir, offline=True, threads=worker_threads())


@pytest.fixture
def erase_waits_briefly(monkeypatch):
    """For the in-process tests that keep an erasure from finishing on purpose (a reader holds
    the write-ahead log): erase retries the checkpoint twice (~2 s) before it gives up and notes
    the erasure pending, instead of the shipped five times (~6.5 s of waiting, per test). The path
    taken is the same: retry, give up, warn, note it pending."""
    from ocula.collections import collection

    monkeypatch.setattr(collection, "ERASE_CHECKPOINT_ATTEMPTS", 2)


@pytest.fixture(scope="session")
def engine(tmp_path_factory, cache_dir):
    """A real Engine on the installed weights, shared by the end-to-end tests."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("ocula-data"), cache_dir=cache_dir, threads=worker_threads())
    with Engine(settings) as e:
        yield e


def run_cli(*args: str, env_extra: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 600):
    """Run the real CLI in a subprocess (``python -m ocula``)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("OCULA_")} | THREADS_ENV
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "ocula", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or REPO_ROOT,
        timeout=timeout,
    )


def _logger_settings() -> dict[logging.Logger, tuple[int, list[logging.Handler]]]:
    """The level and handlers of the root logger and of every ``ocula`` logger."""
    named = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict) if n.split(".")[0] == "ocula"]
    return {logger: (logger.level, list(logger.handlers)) for logger in [logging.getLogger(), *named]}


def _restore_loggers(saved: dict[logging.Logger, tuple[int, list[logging.Handler]]]) -> None:
    for logger, (level, handlers) in saved.items():
        logger.setLevel(level)
        logger.handlers[:] = handlers


def invoke_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI's Typer app in this process (``typer.testing.CliRunner``) and answer as
    ``run_cli`` does: the same command, options, messages and exit codes, without starting Python
    and importing ocula again (~1 s of CPU a call). An exception the command let escape is printed
    on ``stderr`` as a process would print it (``Traceback ...``) and gives exit code 1. ``run_cli``
    is for what only a process shows: its exit status, that nothing but the output reaches stdout,
    signals, and commands that start workers (``--ray``)."""
    import traceback

    from typer.testing import CliRunner

    from ocula.cli import app

    loggers = _logger_settings()  # the CLI shows its progress notes on stderr: for its run only
    try:
        result = CliRunner().invoke(app, list(args), env=THREADS_ENV | (env_extra or {}))
    finally:
        _restore_loggers(loggers)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["ocula", *args], result.exit_code, result.stdout, stderr)


#: ``ocula eval report`` on all of ../shared/data takes minutes; this bounds a hang, not the speed.
#: It needs 7-8 min of CPU on one thread: on a 2-core machine shared with a dozen busy processes
#: (load 13) it got 15% of a core and 20 min ran out in its visual-search section.
REPORT_TIMEOUT_S = 3600


def _tail(text: str | bytes | None, lines: int = 40) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").splitlines()[-lines:])


@pytest.fixture(scope="session")
def eval_report(tmp_path_factory, cache_dir) -> Path:
    """The folder of one full ``ocula eval report --data ../shared/data`` run (all of it: every
    evaluation the README states), built once for the session and read by every test that checks
    a README figure on the full data (the CLI tests of each ``ocula eval`` command run it on a few
    photos instead: the work is done once). A failure says why: the exit code or the timeout, with
    the end of what the command printed."""
    shared("imagenet/sample-334")
    out = tmp_path_factory.mktemp("report")
    env = {"OCULA_CACHE_DIR": str(cache_dir), "OCULA_DATA_DIR": str(out / "data")}
    command = ("eval", "report", "--data", str(SHARED_DATA), "--out", str(out / "r"))
    try:
        proc = run_cli(*command, env_extra=env, timeout=REPORT_TIMEOUT_S)
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(f"ocula {' '.join(command)} did not finish in {REPORT_TIMEOUT_S} s; it printed:\n"
                    f"{_tail(timeout.stderr)}", pytrace=False)  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"ocula {' '.join(command)} exited {proc.returncode}:\n{_tail(proc.stderr)}", pytrace=False)
    return out / "r"
