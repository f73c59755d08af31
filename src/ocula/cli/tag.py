"""``ocula tag``: ImageNet tags with WordNet ancestors for photos and folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from ..engine import Engine
from ..pipelines.tag import PresetName
from ..types import TagResult
from ._common import EXIT_FAILED, cli_errors, emit_json, image_paths_or_exit, print_error, progress_bar, settings_of


def _table(result: TagResult, show_ancestors: int) -> Table:
    assert result.tags is not None
    table = Table(title=Text(result.source), title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("score", justify="right")
    table.add_column("tag")
    table.add_column("is a", style="dim")
    for t in result.tags:
        table.add_row(f"{t.score:.3f}", Text(t.label), Text(", ".join(t.ancestors[:show_ancestors])))
    if not len(result.tags):
        table.add_row("", "(no tag above --min-score)", "")
    return table


def tag_command(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Photos or folders (walked recursively).", show_default=False)],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=1000, help="Tags per image.")] = 5,
    preset: Annotated[PresetName, typer.Option(help="fast: one model; accurate: ensemble + test-time augmentation.")] = PresetName.FAST,
    level: Annotated[
        Optional[list[str]],
        typer.Option("--level", help="Score coarse concepts instead of classes, e.g. --level dog --level cat.", show_default=False),
    ] = None,
    within: Annotated[Optional[str], typer.Option(help="Only tags below this concept, e.g. --within dog for breeds.", show_default=False)] = None,
    min_score: Annotated[float, typer.Option(min=0.0, max=1.0, help="Hide tags scoring below this.")] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per image per line.")] = False,
) -> None:
    """Tag photos with ImageNet classes and their WordNet ancestors ("golden retriever" is a "dog")."""
    settings = settings_of(ctx)
    if level and within:
        raise typer.BadParameter("use either --level (score concepts) or --within (filter classes)", param_hint="--within")
    paths = image_paths_or_exit(inputs)
    failed = 0
    with cli_errors(), Engine(settings) as engine:
        results = engine.tag_many(
            paths, top_k=top_k, preset=preset.value, levels=level or (), within=within, min_score=min_score
        )
        with progress_bar(len(paths), label="tagging", json_output=as_json) as bar:
            task = bar.add_task("tag", total=len(paths))
            for result in results:
                bar.advance(task)
                if not result.ok:
                    failed += 1
                if as_json:
                    emit_json(result.to_dict())
                elif result.ok:
                    bar.console.print(_table(result, show_ancestors=4))
                else:
                    print_error(str(result.error))
    if failed:
        if not as_json:
            print_error(f"{failed} of {len(paths)} input(s) failed")
        raise typer.Exit(EXIT_FAILED)
