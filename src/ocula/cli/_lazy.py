"""Commands imported and built only when they run: ``ocula faces verify`` imports the faces
commands, not the video, search, eval or service ones, and Typer builds one command, not forty.

A :class:`LazyGroup` lists its commands in a fixed order (help pages keep it) and builds each
on first use from a loader: :func:`function` (a command function of a module),
:func:`registered` (a command registered on a module's Typer by decorator), :func:`whole`
(a module's Typer, all its commands) or :func:`lazy_group` (a group whose commands are lazy
too). Every built command gets the help polish of :func:`polish`.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import click
import typer
import typer.main
from typer._click.exceptions import UsageError  # Typer's own click, which its groups raise
from typer.core import TyperGroup
from typer.models import CommandInfo

__all__ = ["HELP_OPTION_NAMES", "LazyGroup", "Loader", "function", "lazy_group", "polish", "registered", "whole"]

HELP_OPTION_NAMES = ["-h", "--help"]

#: Builds one command (imports its module on the way).
Loader = Callable[[], click.Command]


def _module(name: str) -> Any:
    return importlib.import_module(f"ocula.cli.{name}")


def _built(info: CommandInfo, app: typer.Typer) -> click.Command:
    return typer.main.get_command_from_info(
        info, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode
    )


def function(module: str, attribute: str, *, no_args_is_help: bool = False) -> Loader:
    """The command made of the function ``attribute`` of ``ocula.cli.<module>``."""

    def load() -> click.Command:
        callback = getattr(_module(module), attribute)
        return _built(CommandInfo(callback=callback, no_args_is_help=no_args_is_help), typer.Typer())

    return load


def registered(module: str, app: str, name: str) -> Loader:
    """The command ``name`` registered (with its options) on the Typer ``app`` of ``ocula.cli.<module>``."""

    def load() -> click.Command:
        typer_app = getattr(_module(module), app)
        info = next(
            c for c in typer_app.registered_commands
            if (c.name or typer.main.get_command_name(c.callback.__name__)) == name  # type: ignore[union-attr]
        )  # fmt: skip
        return _built(info, typer_app)

    return load


def whole(module: str, app: str) -> Loader:
    """The group of every command registered on the Typer ``app`` of ``ocula.cli.<module>``."""

    def load() -> click.Command:
        return typer.main.get_group(getattr(_module(module), app))

    return load


def lazy_group(help_text: str, commands: dict[str, Loader]) -> Loader:
    """A group whose ``commands`` are built on first use, like the root's."""

    def load() -> click.Command:
        group = typer.main.get_group(typer.Typer(help=help_text, no_args_is_help=True, cls=LazyGroup))
        assert isinstance(group, LazyGroup)
        group.loaders = commands
        return group

    return load


class LazyGroup(TyperGroup):
    """A Typer group that builds a command when it is first asked for (to run it, or to list it
    in help), from ``loaders`` (name -> :data:`Loader`, in the order help lists them)."""

    loaders: ClassVar[dict[str, Loader]] = {}  # set per group: the root's class, lazy_group's instance

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.loaders, *(name for name in super().list_commands(ctx) if name not in self.loaders)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.loaders:
            command = self.loaders[cmd_name]()
            command.name = cmd_name
            polish(command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as error:
            # Typer suggests among the commands built so far (none, here): suggest among all.
            matches = difflib.get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if self.suggest_commands and matches and "Did you mean" not in error.message:
                error.message = f"{error.message.rstrip('.')}. Did you mean {', '.join(map(repr, matches))}?"
            raise


def polish(command: click.Command) -> None:
    """Help as ``ocula`` shows it: flags without a type, paragraphs unwrapped (commands built
    later, by a :class:`LazyGroup`, are polished then)."""
    _flags_without_type(command)
    _help_unwrapped(command)


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
