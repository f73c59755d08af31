"""``ocula models list|verify|download``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..models.backends.dlib import dlib_available
from ..models.files import download_model, file_status
from ..models.registry import Backend, ModelSpec, get_model, list_models
from ..models.sources import PackageFile
from ._common import EXIT_FAILED, cli_errors, emit_json, progress_bar, settings_of, stderr, stdout

if TYPE_CHECKING:
    from rich.progress import TaskID

    from ..config import Settings

models_app = typer.Typer(help="Registered models: what is installed, verified, downloadable.", no_args_is_help=True)


@models_app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per model per line.")] = False,
) -> None:
    """Every registered model: task, backend, source, installed?, license."""
    settings = settings_of(ctx)
    table = Table(show_edge=False, pad_edge=False)
    for col in ("name", "task", "backend", "source", "installed", "license"):
        table.add_column(col, no_wrap=col in ("name", "installed"))
    for spec in list_models():
        status = file_status(spec, settings)
        installed = _installed(spec, settings)
        if as_json:
            emit_json(
                {
                    "name": spec.name, "task": spec.task.value, "backend": spec.backend.value,
                    "source": spec.source_kind, "installed": installed, "license": spec.license,
                    "version": spec.version, "description": spec.description,
                    "files": [{"role": s.role, "filename": s.filename, "source": s.source,
                               "path": str(s.path) if s.path else None, "sha256": s.expected_sha256} for s in status],
                }
            )
        else:
            table.add_row(
                spec.name,
                spec.task.value,
                spec.backend.value,
                Text(status[0].source if status else _no_files(spec)),
                Text("yes") if installed else Text("no", style="red"),
                spec.license,
            )
    if not as_json:
        stdout.print(table)


def _parts(spec: ModelSpec) -> list[ModelSpec]:
    """The entries a fused descriptor is made of, and the landmark models their chips need."""
    parts = [get_model(p) for p in spec.fusion.parts] if spec.fusion is not None else []
    return parts + [get_model(p.alignment.landmarks) for p in parts if p.alignment is not None]


def _installed(spec: ModelSpec, settings: Settings) -> bool:
    """Every file of ``spec`` (a fused descriptor: of its parts) installed, and dlib for dlib's models."""
    if spec.fusion is not None:
        return all(_installed(p, settings) for p in _parts(spec))
    status = file_status(spec, settings)
    return all(s.installed for s in status) and (spec.backend is not Backend.DLIB or dlib_available())


def _no_files(spec: ModelSpec) -> str:
    """Where the files of a model without files of its own are."""
    if spec.fusion is not None:
        return "its parts: " + " + ".join(p.name for p in _parts(spec))
    return "built into dlib"


@models_app.command("verify")
def verify_command(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="Models to check (default: all).", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file per line.")] = False,
) -> None:
    """Check the sha256 of every installed model file against the registry.

    Exit 1 on a mismatch, or when a file that pip should have installed is missing (opt-in
    downloads that were never fetched are reported, not failed).
    """
    settings = settings_of(ctx)
    bad = 0
    with cli_errors():
        specs = [get_model(n) for n in names] if names else list_models()
        table = Table(show_edge=False, pad_edge=False)
        for col in ("model", "file", "status", "path"):
            table.add_column(col)
        for spec in specs:
            for s, f in zip(file_status(spec, settings, verify=True), spec.files, strict=False):
                state = "missing" if not s.installed else ("ok" if s.verified else "MISMATCH")
                bad += state == "MISMATCH" or (state == "missing" and isinstance(f.source, PackageFile))
                if as_json:
                    emit_json(
                        {
                            "model": s.model,
                            "file": s.filename,
                            "status": state,
                            "path": str(s.path) if s.path else None,
                            "expected_sha256": s.expected_sha256,
                            "actual_sha256": s.actual_sha256,
                        }
                    )
                else:
                    style = {"ok": "green", "missing": "yellow", "MISMATCH": "red"}[state]
                    table.add_row(s.model, s.filename, Text(state, style=style), Text(str(s.path or "")))
        if not as_json:
            stdout.print(table)
    if bad:
        raise typer.Exit(EXIT_FAILED)


@models_app.command("download")
def download_command(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Models whose downloadable files to fetch.", show_default=False)],
) -> None:
    """Fetch a model's opt-in downloads (sha256-verified, atomic). Running this is the opt-in."""
    settings = settings_of(ctx)
    with cli_errors():
        for name in names:
            spec = get_model(name)
            with progress_bar(None, label=f"downloading {name}", json_output=True) as bar:
                task = bar.add_task(name, total=None)

                def report(done: int, total: int | None, task: TaskID = task) -> None:
                    bar.update(task, completed=done, total=total)

                paths = download_model(spec, settings, progress=report)
            for role, path in paths.items():
                stderr.print(Text(f"{name} {role}: {path}"))
