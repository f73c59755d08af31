"""Shared CLI plumbing: settings from global options, one-line errors, JSON lines, progress."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ..config import Settings
from ..errors import InputError, OculaError, UnknownName
from ..io import iter_image_paths

if TYPE_CHECKING:
    from rich.progress import Progress

    from ._ahead import PhotoAhead

#: Exit codes: 0 ok, 1 some input or the run failed, 2 usage (bad option, unknown name).
EXIT_FAILED = 1
EXIT_USAGE = 2

#: ``--vectors``: where a new collection or gallery keeps its vectors.
VectorsOption = Annotated[
    str | None,
    typer.Option(
        "--vectors",
        help="Vector store if it is new: faiss (default), milvus://HOST:PORT or milvus-lite:FILE.db.",
        show_default=False,
    ),
]

#: Columns of stdout when it is not a terminal (a pipe, a file): wide enough that tables are not
#: cut or folded at Rich's default of 80 columns; a table still takes only the width it needs.
PIPED_WIDTH = 1000

stdout = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class State:
    settings: Settings
    ahead: PhotoAhead | None = None  # a photo decoding since the process started (cli/_ahead.py)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the root callback built from global options and the environment."""
    return ctx.obj.settings if isinstance(ctx.obj, State) else Settings()


def emit_json(obj: Any) -> None:
    line = json.dumps(obj, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        # A file name that is not valid UTF-8 (Python keeps its bytes as lone surrogates):
        # escape it, so every line stays valid UTF-8 JSON and still names the file exactly.
        line = json.dumps(obj, ensure_ascii=True)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def image_paths_or_exit(inputs: list[Path]) -> list[Path]:
    """The images under ``inputs`` (files and folders, walked recursively); exit 1 if none."""
    paths = list(iter_image_paths(inputs))
    if not paths:
        print_error("no images found in the given folders")
        raise typer.Exit(EXIT_FAILED)
    return paths


class _NoteHandler(logging.Handler):
    """Writes a library's progress note (e.g. the slow CNN fallback starting) as one line on
    stderr: stdout stays the answer, which scripts parse."""

    def emit(self, record: logging.LogRecord) -> None:
        stderr.print(Text(f"note: {record.getMessage()}"), highlight=False)


def show_progress_notes() -> None:
    """Show ocula's progress notes on stderr for this CLI process (once, however often called:
    in-process runners call the root command again)."""
    logger = logging.getLogger("ocula.faces")
    if not any(isinstance(h, _NoteHandler) for h in logger.handlers):
        logger.addHandler(_NoteHandler(logging.INFO))
    logger.setLevel(logging.INFO)


def print_error(message: str) -> None:
    """One line on stderr. The message is plain text: file names like "a [b].jpg" stay intact."""
    stderr.print(Text.assemble(("error:", "red"), " ", message), highlight=False)


@contextlib.contextmanager
def cli_errors(*, json_output: bool = False) -> Iterator[None]:
    """Turn ocula errors into one line on stderr and an exit code, never a traceback. With
    ``json_output`` the error is also one ``{"error", "error_type"}`` object on stdout, so a
    consumer of ``--json`` always gets a line."""
    try:
        yield
    except OculaError as exc:
        usage = isinstance(exc, UnknownName)
        print_error(str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}")
        if json_output:
            emit_json({"error": str(exc), "error_type": type(exc).__name__})
        raise typer.Exit(EXIT_USAGE if usage else EXIT_FAILED) from None


def progress_bar(total: int | None, *, label: str, json_output: bool = False) -> Progress:
    """A progress bar for more than a few items (``total=None``: not known yet, always shown),
    only where a person watches.

    Tables: the bar shares stdout's terminal and results are printed through ``bar.console``,
    so Rich keeps them above the bar. JSON: the bar goes to stderr, and only when stdout is not
    the same terminal (``ocula tag --json dir > out.jsonl``); stdout carries nothing but JSON.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if json_output:
        show = stderr.is_terminal and not stdout.is_terminal
        console = stderr
    else:
        show = stdout.is_terminal
        console = stdout
    return Progress(
        TextColumn(escape(label)),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        # Never capture sys.stdout (it would move JSON to the bar's console); capture stderr
        # only when it is the same terminal, so error lines print above the bar.
        redirect_stdout=False,
        redirect_stderr=not json_output and stderr.is_terminal,
        disable=(total is not None and total <= 3) or not show,
    )
