"""The ``ocula`` command: its table of commands, global options and help.

Importing this module imports Typer and no command: a command's module (and through it numpy,
pydantic, the engine) is imported when the command runs or its help is shown (cli/_lazy.py).
The process's entry point is :func:`ocula.cli.run` (which runs :func:`ocula.cli.main`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import typer.main

from .._version import __version__
from ._lazy import HELP_OPTION_NAMES, LazyGroup, Loader, function, lazy_group, polish, registered, whole

if TYPE_CHECKING:
    import click


def _gallery_command(name: str) -> Loader:
    return function("galleries", f"{name}_command", no_args_is_help=True)


#: ``ocula faces ...``: finding and comparing faces (cli/faces.py) and the gallery commands
#: (cli/galleries.py), each module imported only when one of its commands runs.
FACES_COMMANDS: dict[str, Loader] = {
    "detect": registered("faces", "faces_app", "detect"),
    "verify": registered("faces", "faces_app", "verify"),
    **{
        name: _gallery_command(name)
        for name in ("enroll", "identify", "people", "forget", "cluster", "clusters", "name", "merge", "split")
    },
}

#: Every command of ``ocula``, in the order help lists them (commands, then groups, as Typer
#: lists them); each built when first used.
COMMANDS: dict[str, Loader] = {
    "tag": function("tag", "tag_command", no_args_is_help=True),
    "index": function("search", "index_command", no_args_is_help=True),
    "search": function("search", "search_command", no_args_is_help=True),
    "dedupe": function("search", "dedupe_command", no_args_is_help=True),
    "reindex": function("search", "reindex_command", no_args_is_help=True),
    "video": function("video", "video_command", no_args_is_help=True),
    "serve": function("service", "serve_command"),
    "audit": function("service", "audit_command"),
    "doctor": function("doctor", "doctor_command"),
    "faces": lazy_group("Find faces and compare them.", FACES_COMMANDS),
    "collections": whole("search", "collections_app"),
    "items": whole("search", "items_app"),
    "models": whole("models", "models_app"),
    "eval": whole("eval", "eval_app"),
    "keys": whole("service", "keys_app"),
    "galleries": whole("galleries", "galleries_app"),
}


class _Root(LazyGroup):
    loaders = COMMANDS


app = typer.Typer(
    name="ocula",
    help="Self-hosted visual recognition, offline: photo tags, faces, visual search, video, a REST service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": HELP_OPTION_NAMES},
    cls=_Root,
)


def _version(value: bool) -> None:
    if value:
        print(f"ocula {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (env OCULA_DATA_DIR).", show_default=False)
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Cache directory (env OCULA_CACHE_DIR).", show_default=False)
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=0, help="Inference threads, 0 = all CPUs (env OCULA_THREADS).", show_default=False)
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, max=1024, help="Images per batch (env OCULA_BATCH_SIZE).", show_default=False)
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    from ..config import Settings
    from ..errors import ConfigError
    from ._ahead import PhotoAhead
    from ._common import EXIT_USAGE, State, print_error, show_progress_notes

    overrides = {
        k: v
        for k, v in dict(data_dir=data_dir, cache_dir=cache_dir, threads=threads, batch_size=batch_size).items()
        if v is not None
    }
    ahead = ctx.obj if isinstance(ctx.obj, PhotoAhead) else None  # from main(), see cli/_ahead.py
    try:
        ctx.obj = State(settings=Settings(**overrides), ahead=ahead)
    except ConfigError as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_USAGE) from None
    if ctx.invoked_subcommand != "serve":  # a server logs as its operator configures, not here
        show_progress_notes()


def cli_command() -> click.Command:
    """The ``ocula`` command as users run it: Typer's, with the help polished."""
    command = typer.main.get_command(app)
    polish(command)  # the root; every other command is polished when its group builds it
    return command
