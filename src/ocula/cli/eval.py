"""``ocula eval``: accuracy and speed on real benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from ..engine import Engine
from ..eval.imagenet import evaluate_imagenet
from ..pipelines.tag import PresetName
from ._common import cli_errors, emit_json, progress_bar, settings_of, stdout

eval_app = typer.Typer(help="Measure accuracy and speed on labelled data.", no_args_is_help=True)


@eval_app.command("imagenet")
def imagenet_command(
    ctx: typer.Context,
    root: Annotated[Path, typer.Argument(help="Folder the labels' filenames are relative to.", show_default=False)],
    labels: Annotated[Path, typer.Option(help="CSV with columns filename, class_index (0-999).", show_default=False)],
    preset: Annotated[PresetName, typer.Option(help="Tagging preset to evaluate.")] = PresetName.FAST,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N rows.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Top-1/top-5 error and images/s of a tagging preset on ImageNet-labelled photos."""
    settings = settings_of(ctx)
    with cli_errors(), Engine(settings) as engine:
        with progress_bar(None, label=f"eval imagenet ({preset.value})", json_output=as_json) as bar:
            task = bar.add_task("eval", total=None)
            result = evaluate_imagenet(
                root, labels, preset=preset.value, engine=engine, limit=limit,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    if as_json:
        emit_json(result.to_dict())
        return
    table = Table(title=Text(f"ImageNet evaluation: {root}"), title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("preset")
    table.add_column("images", justify="right")
    table.add_column("top-1 acc", justify="right")
    table.add_column("top-5 acc", justify="right")
    table.add_column("images/s", justify="right")
    table.add_column("failures", justify="right")
    table.add_row(result.preset, str(result.n), f"{1 - result.top1_error:.2%}", f"{1 - result.top5_error:.2%}",
                  f"{result.images_per_second:.1f}", str(result.failures))
    stdout.print(table)
    stdout.print(f"models: {', '.join(result.models)}")
