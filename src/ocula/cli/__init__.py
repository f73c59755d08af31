"""The ``ocula`` command line. Each command translates its options into the public Python API.

Importing this package imports nothing: :func:`main`, the process's entry point (the ``ocula``
script and ``python -m ocula``), first starts decoding the first photo of ``faces verify``
(cli/_ahead.py), then imports Typer and the table of commands (cli/root.py), whose modules are
imported only when one of their commands runs. ``app`` and ``cli_command`` are cli/root.py's,
imported on first use.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .root import COMMANDS, FACES_COMMANDS, app, cli_command

__all__ = ["COMMANDS", "FACES_COMMANDS", "app", "cli_command", "main"]


def main() -> None:
    """Entry point: no traceback for users unless OCULA_DEBUG=1."""
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
        # collector does not walk every object of numpy, ONNX Runtime, Typer... once more while
        # the interpreter shuts down (about 0.1 s of every command). Whatever the command
        # opened it closed itself (with blocks), and atexit handlers still run.
        gc.freeze()


def __getattr__(name: str) -> object:
    if name in ("COMMANDS", "FACES_COMMANDS", "app", "cli_command"):
        return getattr(importlib.import_module(".root", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
