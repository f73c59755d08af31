"""The ``ocula`` command line. Each command translates its options into the public Python API.

Importing this package imports nothing. :func:`run` is the process's entry point (the ``ocula``
script and ``python -m ocula``): it runs :func:`main`, which first starts decoding the first photo
of ``faces verify`` (cli/_ahead.py), then imports Typer and the table of commands (cli/root.py),
whose modules are imported only when one of their commands runs; then it ends the process
without the interpreter's teardown (:func:`end_process`). ``app`` and ``cli_command`` are
cli/root.py's, imported on first use.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
import threading
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from .root import COMMANDS, FACES_COMMANDS, app, cli_command

__all__ = ["COMMANDS", "FACES_COMMANDS", "app", "cli_command", "end_process", "main", "run"]

#: The exit status of a successful command whose standard output could not be flushed at its
#: end (Python's own in that case; a failing command keeps its status).
EXIT_UNFLUSHED = 120


def run() -> NoReturn:
    """The ``ocula`` command: :func:`main`, then :func:`end_process` with its exit status."""
    try:
        main()
    except SystemExit as exc:
        end_process(exc.code)
    end_process(0)


def end_process(code: object) -> NoReturn:
    """End the process with ``code`` (as ``SystemExit`` takes it) the way the interpreter's exit
    would, less its teardown: the ``atexit`` handlers run and standard output and error are
    flushed, then ``os._exit``. What is skipped is freeing every module and the C++ libraries'
    static objects one by one (ONNX Runtime, OpenCV, numpy): 30-40 ms of every command on 2 cores
    (2026-12-02: a process with those modules loaded took 47 ms from its atexit handlers to its
    end, 13-21 ms with ``os._exit``; ``faces verify`` of a small photo, median of 9, 0.68 s
    against 0.72 s for the code before, which also wrote ONNX Runtime's telemetry), for memory
    the system takes back at once anyway. Commands close what they open (``with``
    blocks), so no file is left unwritten. Where a thread that is not a daemon still runs (its
    work would be cut off), or with OCULA_DEBUG=1, the interpreter ends the process as usual."""
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    usual = (
        os.environ.get("OCULA_DEBUG") == "1"
        or any(t.is_alive() for t in others)  # its work would be cut off
        or sys.getprofile() is not None  # a profiler (cProfile) writes its output at exit
        or sys.gettrace() is not None  # so may a tracer (coverage)
        or (isinstance(code, int) and not -(2**31) <= code < 2**31)  # os._exit takes a C int
    )
    if usual:
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1
        if sys.stderr is not None:
            sys.stderr.write(f"{code}\n")
        status = 1
    atexit._run_exitfuncs()  # what the interpreter itself calls at exit (logging, temporary files...)
    if not _flushed(sys.stdout, sys.__stdout__):
        status = status or EXIT_UNFLUSHED
    _flushed(sys.stderr, sys.__stderr__)
    _flush_c_streams()
    os._exit(status)


def _flushed(*streams: object) -> bool:
    """Flush each stream that is there (None when its file descriptor was closed at start);
    False if one could not be (a closed pipe: ``ocula ... | head``)."""
    done = True
    for stream in dict.fromkeys(s for s in streams if s is not None):  # each once
        try:
            stream.flush()  # type: ignore[attr-defined]
        except (OSError, ValueError, AttributeError):
            done = False
    return done


def _flush_c_streams() -> None:
    """What C libraries wrote through their own buffered stdout, flushed as exit() would."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to call (not a POSIX system)
        pass


def main() -> None:
    """The command line, ending in ``SystemExit`` (:func:`run` is the process's entry point): no
    traceback for users unless OCULA_DEBUG=1."""
    try:
        from ._ahead import start

        ahead = start(sys.argv[1:])  # `faces verify`'s first photo decodes while the rest starts up
        from .root import cli_command

        cli_command()(prog_name="ocula", obj=ahead)  # also under `python -m ocula`
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last line of defence for the CLI
        if os.environ.get("OCULA_DEBUG") == "1":
            raise
        # Plain write, no Rich: this must work whatever the message contains.
        sys.stderr.write(f"error: internal error: {type(exc).__name__}: {exc} (set OCULA_DEBUG=1 for the traceback)\n")
        sys.exit(1)  # EXIT_FAILED of cli/_common.py, not imported here: a failing import may be why we are here
    finally:
        # The process ends here: what the command created is freed by its exit. Frozen, the
        # collector does not walk every object of numpy, ONNX Runtime, Typer... once more where
        # the interpreter shuts down as usual (see end_process; about 0.1 s of every command).
        # Whatever the command opened it closed itself (with blocks), and atexit handlers run.
        gc.freeze()


def __getattr__(name: str) -> object:
    if name in ("COMMANDS", "FACES_COMMANDS", "app", "cli_command"):
        return getattr(importlib.import_module(".root", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
