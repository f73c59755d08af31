"""``ocula doctor``: installation, model files, data directory; repairs what can be rebuilt."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ._common import EXIT_FAILED, cli_errors, emit_json, settings_of, stdout

STYLE = {"ok": "green", "repaired": "yellow", "problem": "red", "notice": "yellow", "skipped": "dim"}


def doctor_command(
    ctx: typer.Context,
    models: Annotated[bool, typer.Option(help="Hash every model file (about 10 s).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per check per line.")] = False,
) -> None:
    """Check the installation, the model files (sha256) and every collection and gallery in the
    data directory (SQLite integrity, vector index against SQLite); rebuild vector snapshots
    from SQLite where they are stale or wrong. Exit 1 if a problem remains."""
    from ..doctor import run_checks

    with cli_errors(json_output=as_json):
        checks = run_checks(settings_of(ctx), models=models)
    if as_json:
        for c in checks:
            emit_json(c.to_dict())
    else:
        table = Table(show_edge=False, pad_edge=False)
        for col in ("area", "check", "status", "detail"):
            table.add_column(col)
        for c in checks:
            table.add_row(c.area, Text(c.name), Text(c.status, style=STYLE[c.status]), Text(c.detail))
        stdout.print(table)
    if any(c.status == "problem" for c in checks):
        raise typer.Exit(EXIT_FAILED)
