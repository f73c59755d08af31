"""``ocula eval``: accuracy and speed on real benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..engine import Engine
from ..eval.imagenet import evaluate_imagenet
from ..eval.pairs import evaluate_pairs, read_pairs
from ..eval.retrieval import evaluate_retrieval
from ..pipelines.calibration import CalibrationTable
from ..pipelines.faces import DEFAULT_DESCRIPTOR, DESCRIPTOR_MODELS, Descriptor, Detector
from ..pipelines.tag import PresetName
from ._common import EXIT_FAILED, cli_errors, emit_json, print_error, progress_bar, settings_of, stderr, stdout

eval_app = typer.Typer(help="Measure accuracy and speed on labelled data.", no_args_is_help=True)


@eval_app.command("imagenet")
def imagenet_command(
    ctx: typer.Context,
    root: Annotated[Path, typer.Argument(help="Folder the labels' filenames are relative to.", show_default=False)],
    labels: Annotated[Path, typer.Option(help="CSV with columns filename, class_index (0-999).", show_default=False)],
    preset: Annotated[PresetName, typer.Option(help="Tagging preset to evaluate.")] = PresetName.FAST,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N rows.", show_default=False)] = None,
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


@eval_app.command("text-search", no_args_is_help=True)
def text_search_command(
    ctx: typer.Context,
    root: Annotated[Path, typer.Argument(help="Folder the labels' filenames are relative to.", show_default=False)],
    labels: Annotated[Path, typer.Option(help="CSV with columns filename, class_index (0-999).", show_default=False)],
    preset: Annotated[PresetName, typer.Option(help="Tagging preset that scores the photos.")] = PresetName.FAST,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N rows.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Search by words: mAP of querying every WordNet concept that covers 3 or more labelled
    photos by its first lemma, against label-only search (top-1 class or an ancestor)."""
    from ..eval.text_search import evaluate_text_search

    settings = settings_of(ctx)
    with cli_errors(json_output=as_json), Engine(settings) as engine:
        with progress_bar(None, label=f"eval text-search ({preset.value})", json_output=as_json) as bar:
            task = bar.add_task("photos", total=None)
            result = evaluate_text_search(
                root, labels, engine=engine, preset=preset.value, limit=limit,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )  # fmt: skip
    if as_json:
        emit_json(result.to_dict())
        return
    table = Table(title=Text(f"Search by words: {root}"), title_justify="left", show_edge=False, pad_edge=False)
    for col in ("WordNet depth", "queries", "mAP", "label-only mAP"):
        table.add_column(col, justify="right")
    for depth, row in result.by_depth.items():
        table.add_row(str(depth), str(row["n_queries"]), f"{row['map']:.4f}", f"{row['baseline_map']:.4f}")
    table.add_row("all", str(result.n_queries), f"{result.map:.4f}", f"{result.baseline_map:.4f}", style="bold")
    stdout.print(table)
    stdout.print(Text(
        f"{result.n_items} photos ({result.failures} unreadable), precision@10 {result.precision_at_10:.4f} "
        f"(label-only {result.baseline_precision_at_10:.4f}), {result.bytes_per_item:.0f} bytes of concept "
        f"scores per photo (floor {result.floor:g})"
    ))  # fmt: skip


@eval_app.command("pairs", no_args_is_help=True)
def pairs_command(
    ctx: typer.Context,
    pairs_csv: Annotated[
        Path,
        typer.Argument(help="CSV: image_a,image_b,same[,fold] or image_path,identity (all pairs).", show_default=False),
    ],
    root: Annotated[Path, typer.Option(help="Folder the CSV's image paths are relative to.", show_default=False)],
    cropped: Annotated[bool, typer.Option("--cropped", help="Images are tight face crops: no detection.")] = False,
    detector: Annotated[
        Detector | None,
        typer.Option(
            help="hog, cnn, hog+cnn (the CNN only where HOG finds none) or yunet; ignored with --cropped (default: "
                "the descriptor's: hog+cnn for dlib, yunet for sface+dlib and sface).",
            show_default=False,
        ),
    ] = None,
    descriptor: Annotated[
        Descriptor, typer.Option(help="Face descriptor: sface+dlib, sface or dlib; recorded in the output.")
    ] = DEFAULT_DESCRIPTOR,
    plot: Annotated[Path | None, typer.Option(help="Write ROC and DET curves to this PNG.", show_default=False)] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(help="Write an FMR -> threshold table from the impostor pairs to this JSON.", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Face verification accuracy, AUC, EER and TAR at FAR on labelled pairs; each image is embedded once.

    Accuracy is cross-validated: over the CSV's folds (LFW protocol) when it has a fold column,
    else a threshold chosen on one half of the pairs is scored on the other half (both ways).
    """
    settings = settings_of(ctx)
    with cli_errors(), Engine(settings) as engine:
        pairs = read_pairs(pairs_csv, root)
        with progress_bar(len(pairs.images), label="embedding faces", json_output=as_json) as bar:
            task = bar.add_task("faces", total=len(pairs.images))
            report = evaluate_pairs(engine, pairs, cropped=cropped, detector=detector and detector.value,
                                    descriptor=descriptor.value,
                                    progress=lambda n: bar.advance(task, n))
        if plot is not None:
            from ..eval.plots import plot_roc_det

            plot_roc_det({f"ocula {DESCRIPTOR_MODELS[descriptor]}": (report.scores, report.same)}, plot,
                         title=f"{pairs_csv.name}: {report.n_genuine:,} genuine / {report.n_impostor:,} impostor pairs")
        if calibration is not None:
            table = CalibrationTable.from_scores(
                report.scores[~report.same],
                report.scores[report.same],
                meta={
                    "model": DESCRIPTOR_MODELS[descriptor],
                    "data": str(pairs_csv),
                    "kind": pairs.kind,
                    "cropped": cropped,
                    "detector": report.detector,
                    "failures_to_enrol": report.failures_to_enrol,
                    "images": len(pairs.images),
                },
            )
            try:
                table.save(calibration)
            except OSError as exc:
                from ..errors import ConfigError

                raise ConfigError(f"cannot write {calibration} ({exc})") from None
    result = report.to_dict()
    if as_json:
        emit_json(result)
        return
    table = Table(title=Text(f"Face verification: {pairs_csv}"), title_justify="left", show_edge=False, pad_edge=False)
    for col in (
        "pairs",
        "genuine",
        "impostor",
        "FTE",
        "accuracy",
        "AUC",
        "EER",
        "TAR@1e-4",
        "TAR@1e-3",
        "TAR@1e-2",
        "pairs/s",
    ):
        table.add_column(col, justify="right")
    tar = [("-" if v is None else f"{v:.4f}") for v in result["tar_at_far"].values()]
    table.add_row(f"{result['n_pairs']:,}", f"{result['n_genuine']:,}", f"{result['n_impostor']:,}",
                  str(result["failures_to_enrol"]), f"{result['accuracy']:.2%} ({result['folds']} folds)",
                  f"{result['auc']:.4f}", f"{result['eer']:.2%}", *tar, f"{result['pairs_per_second']:.0f}")
    stdout.print(table)
    for point in result["calibrated"].values():
        stdout.print(Text(f"ocula's threshold for FMR {point['fmr_asked']:g}: {point['threshold']:.3f} -> achieved FMR "
                          f"{point['fmr']:.5f} (asked {point['fmr_asked']:g}), FNMR {point['fnmr']:.4f}"))
    if plot is not None:
        stderr.print(Text(f"plot: {plot}"))
    if calibration is not None:
        stderr.print(Text(f"calibration table: {calibration}"))


@eval_app.command("identify", no_args_is_help=True)
def identify_command(
    ctx: typer.Context,
    identities_csv: Annotated[Path, typer.Argument(help="CSV: image_path,identity.", show_default=False)],
    root: Annotated[Path, typer.Option(help="Folder the CSV's image paths are relative to.", show_default=False)],
    enroll: Annotated[int, typer.Option(min=1, help="Gallery photos per enrolled identity (first by path).")] = 3,
    detector: Annotated[
        Detector | None,
        typer.Option(
            help="hog, cnn, hog+cnn (the CNN only where HOG finds none) or yunet (default: the descriptor's: "
                "hog+cnn for dlib, yunet for sface+dlib and sface).",
            show_default=False,
        ),
    ] = None,
    descriptor: Annotated[
        Descriptor, typer.Option(help="Face descriptor: sface+dlib, sface or dlib; recorded in the output.")
    ] = DEFAULT_DESCRIPTOR,
    plot: Annotated[Path | None, typer.Option(help="Write CMC and DET curves to this PNG.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Open-set 1:N identification: every second identity (sorted) is not enrolled; rank-1, CMC,
    FNIR at FPIR 0.01 and 0.1, and FPIR/FNIR at ocula's own calibrated thresholds."""
    from ..eval.identify import evaluate_identify

    settings = settings_of(ctx)
    with cli_errors(), Engine(settings) as engine:
        with progress_bar(None, label="finding faces", json_output=as_json) as bar:
            task = bar.add_task("faces", total=None)
            report = evaluate_identify(
                engine,
                identities_csv,
                root,
                enroll=enroll,
                detector=detector and detector.value,
                descriptor=descriptor.value,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        if plot is not None:
            from ..eval.plots import plot_cmc_det

            plot_cmc_det(
                report.cmc,
                report.mated_hit,
                report.mated_score,
                report.nonmated_score,
                plot,
                title=f"{identities_csv.name}: {report.gallery_people} enrolled, {report.mated_probes} mated / "
                f"{report.nonmated_probes} non-mated probes",
            )
    result = report.to_dict()
    if as_json:
        emit_json(result)
        return
    table = Table(
        title=Text(f"1:N identification: {identities_csv}"), title_justify="left", show_edge=False, pad_edge=False
    )
    for col in ("people", "mated", "non-mated", "FTE", "rank-1", "rank-5", "FNIR@FPIR 0.01", "FNIR@FPIR 0.1"):
        table.add_column(col, justify="right")
    table.add_row(str(result["gallery_people"]), str(result["mated_probes"]), str(result["nonmated_probes"]),
                  str(result["failures_to_enrol"]), f"{result['rank1']:.4f}", f"{result['cmc'][4]:.4f}",
                  f"{result['fnir_at_fpir']['0.01']:.4f}", f"{result['fnir_at_fpir']['0.1']:.4f}")
    stdout.print(table)
    for fpir, point in result["calibrated"].items():
        stdout.print(Text(f"ocula's threshold for FPIR {fpir}: {point['threshold']:.3f} -> achieved FPIR "
                          f"{point['fpir']:.4f} (asked {point['fpir_asked']:g}), FNIR {point['fnir']:.4f}"))
    if plot is not None:
        stderr.print(Text(f"plot: {plot}"))


@eval_app.command("retrieval", no_args_is_help=True)
def retrieval_command(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="Folder of catalog images.", show_default=False)],
    groups: Annotated[
        Path | None,
        typer.Option(help="CSV image,duplicate_group (paths relative to FOLDER) as ground truth.", show_default=False),
    ] = None,
    whole: Annotated[
        bool, typer.Option("--whole", help="Search with the whole query photo only, not also its 3x3 windows.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Instance retrieval: recall@k and mAP of visual search.

    Without --groups, seven deterministic edits (crop, scale, rotate, flip, colour, jpeg, text)
    of up to 100 of the folder's photos, and each photo pasted small into a scene of others,
    search the whole folder for their original, as `ocula search` does.
    """
    settings = settings_of(ctx)
    if not folder.is_dir():
        print_error(f"{folder} is not a folder")
        raise typer.Exit(EXIT_FAILED)
    with cli_errors(json_output=as_json), Engine(settings) as engine:
        with progress_bar(None, label="eval retrieval: catalog photos, then query photos", json_output=as_json) as bar:
            task = bar.add_task("retrieval", total=None)
            report = evaluate_retrieval(
                engine, folder, groups=groups, windows=not whole, progress=lambda n: bar.advance(task, n)
            )
    result = report.to_dict()
    if as_json:
        emit_json(result)
        return
    table = Table(title=Text(f"Retrieval: {folder}"), title_justify="left", show_edge=False, pad_edge=False)
    for col in ("catalog", "queries", "recall@1", "recall@10", "mAP", "queries/s", "failed"):
        table.add_column(col, justify="right")
    table.add_row(str(result["n_catalog"]), str(result["n_queries"]), f"{result['recall_at_1']:.2%}",
                  f"{result['recall_at_10']:.2%}", f"{result['map']:.4f}", f"{result['queries_per_second']:.0f}",
                  str(result["failed"]))
    stdout.print(table)
    if result["recall_at_1_by_transform"]:
        stdout.print(
            "recall@1 by query: " + ", ".join(f"{k} {v:.0%}" for k, v in result["recall_at_1_by_transform"].items())
        )


@eval_app.command("report", no_args_is_help=True)
def report_command(
    ctx: typer.Context,
    data: Annotated[
        Path,
        typer.Option("--data", help="Data root laid out like ../shared/data (see its README).", show_default=False),
    ],
    out: Annotated[Path, typer.Option(help="Folder for index.html, report.md, report.json and the plots.")] = Path(
        "report"
    ),
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only", help="Only these: imagenet, pairs, identify, retrieval, video, speed.", show_default=False
        ),
    ] = None,
) -> None:
    """Run every evaluation the data root has data for and write one report (HTML + Markdown)
    with tables, plots, model versions, data hashes and the command line."""
    import shlex
    import sys

    from ..errors import UnknownName
    from ..eval.report import SECTIONS, build_report

    settings = settings_of(ctx)
    with cli_errors():
        for kind in only or ():
            if kind not in SECTIONS:
                raise UnknownName("evaluation", kind, list(SECTIONS))
        command = "ocula " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        with Engine(settings) as engine:
            sections = build_report(
                engine, data, out, command=command, only=tuple(only or ()),
                progress=lambda what: stderr.print(Text(f"running {what}")),
            )  # fmt: skip
    stdout.print(Text(f"{len(sections)} evaluations written to {out / 'index.html'} and {out / 'report.md'}"))
