"""``ocula serve``, ``ocula keys create|list|revoke`` and ``ocula audit``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ._common import cli_errors, emit_json, settings_of, stdout

keys_app = typer.Typer(help="API keys of the service: create, list, revoke.", no_args_is_help=True)


def _store(ctx: typer.Context):
    from ..service.keys import KeyStore, key_store_path

    return KeyStore(key_store_path(settings_of(ctx).data_dir))


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
) -> None:
    """Run the REST API and the web UI (open http://HOST:PORT/; the API schema at /openapi.json).
    Every API route needs a key: ocula keys create NAME --scope read|write|admin.
    Limits (uploads, rate, timeouts, connections) come from OCULA_SERVICE_* variables."""
    from ..service import create_app
    from ..service.server import run
    from ..service.settings import ServiceSettings

    settings = settings_of(ctx)
    with cli_errors():
        service = ServiceSettings()
        app = create_app(settings, service)
    run(app, service, host, port)


def keys_create_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the key (who or what uses it).", show_default=False)],
    scope: Annotated[
        str,
        typer.Option(
            help="read (tag, detect, verify, identify, search), write (+ enrol, forget, items, video jobs) or admin "
                "(+ audit)."
        ),
    ] = "read",
) -> None:
    """Create a key. It is printed once, alone on the last line; only its hash is kept."""
    with cli_errors():
        store = _store(ctx)
        try:
            record, key = store.create(name, scope)
        finally:
            store.close()
    stdout.print(Text(f"created key {record.name!r} with scope {record.scope}; store it now, it is not shown again:"))
    print(key)


def keys_list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key per line.")] = False,
) -> None:
    """List keys (names, scopes, prefixes, dates; never the keys)."""
    with cli_errors(json_output=as_json):
        store = _store(ctx)
        try:
            keys = store.list()
        finally:
            store.close()
    if as_json:
        for k in keys:
            emit_json(k.to_dict())
        return
    table = Table(show_edge=False, pad_edge=False)
    for col in ("name", "scope", "prefix", "created", "revoked"):
        table.add_column(col)
    for k in keys:
        d = k.to_dict()
        table.add_row(Text(d["name"]), d["scope"], d["prefix"] + "…", d["created"], d["revoked"] or "")
    stdout.print(table)


def keys_revoke_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The key's name.", show_default=False)],
) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    with cli_errors():
        store = _store(ctx)
        try:
            record = store.revoke(name)
        finally:
            store.close()
    stdout.print(Text(f"revoked key {record.name!r}"))


def audit_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help="Newest entries to show.")] = 50,
    key: Annotated[str | None, typer.Option(help="Only this key's entries.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per entry per line.")] = False,
) -> None:
    """Who identified, searched, enrolled or forgot what, and when (newest first)."""
    with cli_errors(json_output=as_json):
        store = _store(ctx)
        try:
            entries = store.audit_entries(limit=limit, key_name=key)
        finally:
            store.close()
    if as_json:
        for e in entries:
            emit_json(e)
        return
    table = Table(show_edge=False, pad_edge=False)
    for col in ("at", "key", "action", "target", "status", "client"):
        table.add_column(col)
    for e in entries:
        table.add_row(
            e["at"], Text(str(e["key"])), e["action"], Text(str(e["target"])), str(e["status"]), str(e["client"])
        )
    stdout.print(table)


keys_app.command("create", no_args_is_help=True)(keys_create_command)
keys_app.command("list")(keys_list_command)
keys_app.command("revoke", no_args_is_help=True)(keys_revoke_command)
