"""``ocula tag``: ImageNet tags with WordNet ancestors for photos and folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..engine import Engine
from ..pipelines.tag import PRESETS, PresetName
from ..types import TagResult, Tags
from ._common import EXIT_FAILED, cli_errors, emit_json, image_paths_or_exit, print_error, progress_bar, settings_of

FLOORS = ", ".join(f"{name} {preset.recognised_at:g}" for name, preset in PRESETS.items())


def _headline(tags: Tags) -> str | None:
    """What the scores mean, when that is not plain "p(tag)": within a concept, and when nothing
    reached the confidence floor (the tags are then guesses)."""
    lines = []
    if tags.within is not None:
        c = tags.within
        lines.append(f"{c.concept}: {c.score:.3f} — scores below are within {c.concept}, p(tag | {c.concept})")
    if not tags.recognised:
        best = f"best guess: {tags[0].label} {tags[0].score:.3f}" if len(tags) else "no guess above --min-score"
        what = f"no {tags.within.concept}" if tags.within is not None else "nothing"
        lines.append(f"{what} recognised ({best})")
    return "\n".join(lines) or None


def _table(result: TagResult, show_ancestors: int) -> Table:
    tags = result.tags
    assert tags is not None
    title = Text(result.source)
    if (headline := _headline(tags)) is not None:
        title.append("\n" + headline, style="bold" if tags.recognised else "yellow")
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("score", justify="right")
    table.add_column("tag" if tags.recognised else "guess")
    table.add_column("is a", style="dim")
    for t in tags:
        table.add_row(f"{t.score:.3f}", Text(t.label), Text(", ".join(t.ancestors[:show_ancestors])))
    if not len(tags):
        table.add_row("", "(no tag above --min-score)", "")
    return table


def tag_command(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Photos or folders (walked recursively).", show_default=False)],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=1000, help="Tags per image.")] = 5,
    preset: Annotated[
        PresetName, typer.Option(help="fast: one model; accurate: ensemble + test-time augmentation.")
    ] = PresetName.FAST,
    level: Annotated[
        list[str] | None,
        typer.Option(
            "--level",
            help="Score coarse concepts instead of classes, e.g. --level dog --level cat.",
            show_default=False,
        ),
    ] = None,
    within: Annotated[
        str | None,
        typer.Option(
            help="Only tags below this concept, e.g. --within dog for breeds, scored within it: p(breed | dog).",
            show_default=False,
        ),
    ] = None,
    min_score: Annotated[float, typer.Option(min=0.0, max=1.0, help="Hide tags scoring below this.")] = 0.0,
    recognised_at: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Confidence floor: when no tag scores this much, the answer is 'nothing recognised' and the "
            "tags are best guesses.",
            show_default=f"the preset's, measured: {FLOORS}",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per image per line.")] = False,
) -> None:
    """Tag photos with ImageNet classes and their WordNet ancestors ("golden retriever" is a "dog")."""
    settings = settings_of(ctx)
    if level and within:
        raise typer.BadParameter(
            "use either --level (score concepts) or --within (filter classes)", param_hint="--within"
        )
    paths = image_paths_or_exit(inputs)
    failed = 0
    with cli_errors(), Engine(settings) as engine:
        results = engine.tag_many(
            paths, top_k=top_k, preset=preset.value, levels=level or (), within=within, min_score=min_score,
            recognised_at=recognised_at,
        )  # fmt: skip
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
