"""Shared CLI plumbing: settings from global options, one-line errors, JSON lines, progress."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..config import Settings
from ..errors import InputError, OculaError, UnknownName

#: Exit codes: 0 ok, 1 some input or the run failed, 2 usage (bad option, unknown name).
EXIT_FAILED = 1
EXIT_USAGE = 2

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class State:
    settings: Settings


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.ensure_object(State).settings if isinstance(ctx.obj, State) else Settings()


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_error(message: str) -> None:
    stderr.print(f"[red]error:[/red] {message}", markup=True, highlight=False)


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turn ocula errors into one line on stderr and an exit code, never a traceback."""
    try:
        yield
    except UnknownName as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_USAGE) from None
    except InputError as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_FAILED) from None
    except OculaError as exc:
        print_error(f"{type(exc).__name__}: {exc}")
        raise typer.Exit(EXIT_FAILED) from None


def progress_bar(total: int, *, label: str) -> Progress:
    """A progress bar on stderr, shown only on a terminal and for more than a few items."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
        # Rich would otherwise capture sys.stdout and reprint it on stderr above the bar,
        # moving `--json` output off stdout exactly when a person watches.
        redirect_stdout=False,
        redirect_stderr=False,
        disable=total <= 3 or not stderr.is_terminal,
    )
