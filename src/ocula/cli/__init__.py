"""The ``ocula`` command line. Each command translates its options into the public Python API."""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
import typer.main
from pydantic import ValidationError

from .._version import __version__
from ..config import Settings
from ._common import EXIT_FAILED, EXIT_USAGE, State, print_error, show_progress_notes
from .doctor import doctor_command
from .eval import eval_app
from .faces import faces_app
from .galleries import (
    cluster_command,
    clusters_command,
    enroll_command,
    forget_command,
    galleries_app,
    identify_command,
    merge_command,
    name_command,
    people_command,
    split_command,
)
from .models import models_app
from .search import collections_app, dedupe_command, index_command, items_app, reindex_command, search_command
from .service import audit_command, keys_app, keys_create_command, keys_list_command, keys_revoke_command, serve_command
from .tag import tag_command
from .video import video_command

HELP_OPTION_NAMES = ["-h", "--help"]

app = typer.Typer(
    name="ocula",
    help="Self-hosted visual recognition, offline: photo tags, faces, visual search, video, a REST service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": HELP_OPTION_NAMES},
)


def _version(value: bool) -> None:
    if value:
        print(f"ocula {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[Optional[Path], typer.Option(help="Data directory (env OCULA_DATA_DIR).", show_default=False)] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Cache directory (env OCULA_CACHE_DIR).", show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option(min=0, help="Inference threads, 0 = all CPUs (env OCULA_THREADS).", show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, max=1024, help="Images per batch (env OCULA_BATCH_SIZE).", show_default=False)] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    overrides = {k: v for k, v in dict(data_dir=data_dir, cache_dir=cache_dir, threads=threads, batch_size=batch_size).items() if v is not None}
    try:
        ctx.obj = State(settings=Settings(**overrides))
    except ValidationError as exc:
        first = exc.errors()[0]
        print_error(f"invalid setting {'.'.join(map(str, first['loc']))}: {first['msg']}")
        raise typer.Exit(EXIT_USAGE) from None
    if ctx.invoked_subcommand != "serve":  # a server logs as its operator configures, not here
        show_progress_notes()


app.command("tag", no_args_is_help=True)(tag_command)
app.add_typer(faces_app, name="faces")
app.command("index", no_args_is_help=True)(index_command)
app.command("search", no_args_is_help=True)(search_command)
app.command("dedupe", no_args_is_help=True)(dedupe_command)
app.command("reindex", no_args_is_help=True)(reindex_command)
app.add_typer(collections_app, name="collections")
app.add_typer(items_app, name="items")
app.add_typer(models_app, name="models")
app.add_typer(eval_app, name="eval")
app.command("video", no_args_is_help=True)(video_command)
app.command("serve")(serve_command)
app.add_typer(keys_app, name="keys")
keys_app.command("create", no_args_is_help=True)(keys_create_command)
keys_app.command("list")(keys_list_command)
keys_app.command("revoke", no_args_is_help=True)(keys_revoke_command)
app.command("audit")(audit_command)
app.command("doctor")(doctor_command)
faces_app.command("enroll", no_args_is_help=True)(enroll_command)
faces_app.command("identify", no_args_is_help=True)(identify_command)
faces_app.command("people", no_args_is_help=True)(people_command)
faces_app.command("forget", no_args_is_help=True)(forget_command)
faces_app.command("cluster", no_args_is_help=True)(cluster_command)
faces_app.command("clusters", no_args_is_help=True)(clusters_command)
faces_app.command("name", no_args_is_help=True)(name_command)
faces_app.command("merge", no_args_is_help=True)(merge_command)
faces_app.command("split", no_args_is_help=True)(split_command)
app.add_typer(galleries_app, name="galleries")


def _flags_without_type(command: click.Command) -> None:
    """Boolean flags take no value: show them as flags in help, not with Typer's ``<bool>``."""
    # The help option is made on first use and kept by the command: make it now to reach it.
    help_option = command.get_help_option(click.Context(command, help_option_names=HELP_OPTION_NAMES))
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    # Typer's groups are not click.Group subclasses; they keep their subcommands alike.
    for sub in getattr(command, "commands", {}).values():
        _flags_without_type(sub)


def _unwrapped(text: str) -> str:
    """Docstring paragraphs on one line each: the terminal wraps them, not the source file.

    Typer re-flows a command's own help page, but lists commands with the docstring's line
    breaks kept, so a group's help came out ragged. Paragraphs stay apart; one marked ``\\b``
    (click's "keep my line breaks") is kept as written."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else " ".join(p.split()) for p in paragraphs)


def _help_unwrapped(command: click.Command) -> None:
    if command.help:
        command.help = _unwrapped(command.help)
    for param in command.params:
        if getattr(param, "help", None):
            param.help = _unwrapped(param.help)  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        _help_unwrapped(sub)


def cli_command() -> click.Command:
    """The ``ocula`` command as users run it: Typer's, with the help polished."""
    command = typer.main.get_command(app)
    _flags_without_type(command)
    _help_unwrapped(command)
    return command


def main() -> None:
    """Entry point: no traceback for users unless OCULA_DEBUG=1."""
    try:
        cli_command()(prog_name="ocula")  # also under `python -m ocula`
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last line of defence for the CLI
        if os.environ.get("OCULA_DEBUG") == "1":
            raise
        # Plain write, no Rich: this must work whatever the message contains.
        sys.stderr.write(f"error: internal error: {type(exc).__name__}: {exc} (set OCULA_DEBUG=1 for the traceback)\n")
        sys.exit(EXIT_FAILED)
