"""``ocula faces detect|verify``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..config import Settings
from ..errors import OculaError
from ..face_types import FaceResult, QualityGate
from ..io import PendingPhoto, decode_reduced_ahead, load_image
from ..pipelines.calibration import CalibrationTable, shipped_calibration
from ..pipelines.faces import (
    DEFAULT_DESCRIPTOR,
    DEFAULT_DETECTORS,
    DESCRIPTOR_MODELS,
    Descriptor,
    Detector,
    detection_side,
)
from ._common import (
    EXIT_FAILED,
    State,
    cli_errors,
    emit_json,
    image_paths_or_exit,
    print_error,
    progress_bar,
    settings_of,
    stdout,
)

if TYPE_CHECKING:
    from ..config import Settings
    from ._ahead import PhotoAhead

faces_app = typer.Typer(help="Find faces and compare them.", no_args_is_help=True)


def _table(result: FaceResult) -> Table:
    assert result.faces is not None
    faces = result.faces
    w, h = faces.image_size
    table = Table(
        title=Text(f"{result.source}  ({w}x{h}, {len(faces)} face(s))"),
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    for col in ("#", "box x0,y0,x1,y1", "score", "eye dist px", "sharpness", "frontal", "usable"):
        table.add_column(col, justify="right" if col != "box x0,y0,x1,y1" else "left")
    usable = faces.usable(QualityGate())
    for i, record in enumerate(faces.to_dicts()):
        q = record["quality"]
        table.add_row(
            str(i),
            ",".join(f"{v:.0f}" for v in record["box"]),
            "-" if record["score"] is None else f"{record['score']:.2f}",
            f"{q['size']:.0f}",
            f"{q['sharpness']:.4f}",
            f"{q['frontal']:.2f}",
            "yes" if usable[i] else "no",
        )
    return table


def _annotated_path(out_dir: Path, source: str, used: set[str]) -> Path:
    stem = Path(source).stem or "image"
    name, n = f"{stem}.jpg", 1
    while name in used:
        n += 1
        name = f"{stem}-{n}.jpg"
    used.add(name)
    return out_dir / name


@faces_app.command("detect", no_args_is_help=True)
def detect_command(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Photos or folders (walked recursively).", show_default=False)],
    detector: Annotated[
        Detector | None,
        typer.Option(
            help="yunet: faces v2, fast at any photo size, finds turned heads (its own 5 landmarks); hog: dlib's, "
            "fast; cnn: dlib's MMOD CNN, more recall, ~50x slower; hog+cnn: the CNN only where HOG finds no face "
            "(default: the descriptor's: yunet for sface+dlib and sface, hog for dlib).",
            show_default=False,
        ),
    ] = None,
    descriptor: Annotated[
        Descriptor,
        typer.Option(help="Face descriptor for --embeddings: sface+dlib (both fused), sface (faces v2) or dlib."),
    ] = DEFAULT_DESCRIPTOR,
    upsample: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=3,
            help="Times to double the photo to find small faces (default: once for photos up to 1600 px).",
            show_default=False,
        ),
    ] = None,
    landmarks68: Annotated[bool, typer.Option("--landmarks68", help="Also compute 68-point landmarks.")] = False,
    embeddings: Annotated[
        bool,
        typer.Option("--embeddings", help="Include the descriptors (256-D for sface+dlib, else 128) in --json output."),
    ] = False,
    annotate: Annotated[
        Path | None, typer.Option(help="Write each photo with its faces drawn into this folder.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per photo per line.")] = False,
) -> None:
    """Find faces: boxes, detector scores, 5-point landmarks and quality (size, sharpness, pose)."""
    settings = settings_of(ctx)
    paths = image_paths_or_exit(inputs)
    if annotate is not None:
        _make_folder_or_exit(annotate)
    failed, used = 0, set()
    from ..engine import Engine  # here: `ocula faces verify` decodes its photos while this loads

    with cli_errors(), Engine(settings) as engine:
        results = engine.faces_many(
            paths,
            detector=detector,
            descriptor=descriptor,
            upsample=upsample,
            landmarks68=landmarks68,
            embed=embeddings and as_json,
        )
        with progress_bar(len(paths), label="finding faces", json_output=as_json) as bar:
            task = bar.add_task("faces", total=len(paths))
            for result in results:
                bar.advance(task)
                if not result.ok:
                    failed += 1
                    _report_failed(result, as_json)
                    continue
                record = result.to_dict()
                if annotate is not None and not _annotate(annotate, result, used, record, settings, as_json):
                    failed += 1
                if as_json:
                    emit_json(_with_embeddings(record, result) if embeddings else record)
                else:
                    bar.console.print(_table(result))
    if failed:
        if not as_json:
            print_error(f"{failed} of {len(paths)} input(s) failed")
        raise typer.Exit(EXIT_FAILED)


def _decoding_ahead(
    ctx: typer.Context, path: Path, detector: Detector | None, settings: Settings
) -> Path | PendingPhoto:
    """The photo, decoding on a worker thread at the size ``detector`` searches (YuNet) from
    before the engine is imported and its models loaded: on two cores, start-up and decode
    overlap (a blank 8000x5000 PNG takes ~0.5 s to decode). Under ``ocula`` the decode started
    with the process (cli/_ahead.py); otherwise it starts here. Other detectors (and crops)
    decode the whole photo when they need it: the path as given."""
    side = None if detector is None else detection_side(detector)
    if side is None:
        return path
    ahead = _started_ahead(ctx)
    return (ahead.take(path, side, settings) if ahead else None) or decode_reduced_ahead(path, side, settings)


def _started_ahead(ctx: typer.Context) -> PhotoAhead | None:
    """verify's first photo as the process started decoding it (cli/_ahead.py), if it did."""
    return ctx.obj.ahead if isinstance(ctx.obj, State) else None


def _second_ahead(ctx: typer.Context, path: Path, detector: Detector | None, settings: Settings) -> Path | PendingPhoto:
    """verify's second photo, if the process started decoding it after the first (cli/_ahead.py);
    else the path as given (decoded when the engine searches it, after the first photo's search)."""
    side = None if detector is None else detection_side(detector)
    ahead = _started_ahead(ctx)
    if side is None or ahead is None or ahead.second is None:
        return path
    return ahead.second.take(path, side, settings) or path


def _make_folder_or_exit(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print_error(f"cannot create {folder} ({exc})")
        raise typer.Exit(EXIT_FAILED) from None


def _report_failed(result: FaceResult, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_dict())
    else:
        print_error(str(result.error))


def _annotate(
    folder: Path, result: FaceResult, used: set[str], record: dict, settings: Settings, as_json: bool
) -> bool:
    """Draw the photo's faces into ``folder``; record where (or why not). False when it failed."""
    from ..annotate import draw_faces  # here, not at import: PIL's fonts cost `faces verify` start-up time

    out = _annotated_path(folder, result.source, used)
    try:
        # Decoded again (the stream does not keep pixels), only when drawing.
        draw_faces(load_image(result.source, settings=settings), result.faces).save(out, quality=90)
        record["annotated"] = str(out)
        return True
    except (OculaError, OSError) as exc:
        record["annotate_error"] = f"cannot write {out} ({exc})"
        if not as_json:
            print_error(record["annotate_error"])
        return False


def _with_embeddings(record: dict, result: FaceResult) -> dict:
    """The JSON record with each face's descriptor (rounded to 6 digits), when computed."""
    if result.faces.embeddings is not None:
        for face, emb in zip(record["faces"], result.faces.embeddings, strict=False):
            face["embedding"] = [round(float(v), 6) for v in emb]
    return record


@faces_app.command("verify", no_args_is_help=True)
def verify_command(
    ctx: typer.Context,
    a: Annotated[Path, typer.Argument(help="First photo.", show_default=False)],
    b: Annotated[Path, typer.Argument(help="Second photo.", show_default=False)],
    fmr: Annotated[float, typer.Option(help="False-match rate the decision is made at (calibrated).")] = 1e-3,
    face_a: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Face index in A as `ocula faces detect` numbers them, 0 = the one it lists first: the largest; "
                "with yunet the largest of the confident ones (default: face 0, found faster).",
            show_default=False,
        ),
    ] = None,
    face_b: Annotated[
        int | None, typer.Option(min=0, help="Face index in B (as --face-a).", show_default=False)
    ] = None,
    detector: Annotated[
        Detector | None,
        typer.Option(
            help="hog, cnn, hog+cnn (the CNN only where HOG finds no face) or yunet (faces v2) "
            "(default: the descriptor's: hog+cnn for dlib, yunet for sface+dlib and sface).",
            show_default=False,
        ),
    ] = None,
    descriptor: Annotated[
        Descriptor,
        typer.Option(
            help="Face descriptor: sface+dlib (both fused), sface (faces v2) or dlib; the threshold comes from its "
            "calibration."
        ),
    ] = DEFAULT_DESCRIPTOR,
    cropped: Annotated[bool, typer.Option("--cropped", help="The photos are already tight face crops.")] = False,
    calibration: Annotated[
        Path | None,
        typer.Option(
            help="FMR -> threshold table from `ocula eval pairs --calibration` (default: the shipped one).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Same person or not, at a chosen false-match rate. Exit 0 with a decision either way."""
    settings = settings_of(ctx)
    with cli_errors(json_output=as_json):
        searched_by = None if cropped else (detector or DEFAULT_DETECTORS[descriptor])
        first = _decoding_ahead(ctx, a, searched_by, settings)
        second = _second_ahead(ctx, b, searched_by, settings)
        from ..engine import Engine  # imported while the photos decode (PIL releases the GIL)

        with Engine(settings) as engine:
            table = CalibrationTable.load(calibration) if calibration is not None else None
            result = engine.verify(
                first,
                second,
                fmr=fmr,
                face_a=face_a,
                face_b=face_b,
                detector=detector,
                cropped=cropped,
                calibration=table,
                descriptor=descriptor,
            )
    if as_json:
        emit_json(result.to_dict())
        return
    verdict = Text("same person", style="green") if result.same else Text("different people", style="yellow")
    low, high = (table or shipped_calibration(DESCRIPTOR_MODELS[descriptor])).fmr_range
    rate = result.fmr_at_similarity
    bound = "<= " if rate <= low else (">= " if rate >= high else "")
    stdout.print(
        Text.assemble(
            verdict,
            f"  similarity {result.similarity:.3f} vs threshold {result.threshold:.3f} "
            f"(FMR {result.fmr:g}); share of impostor pairs this similar: {bound}{rate:.2g}",
        )
    )
    stdout.print(
        Text(
            f"compared face {result.index_a} of {a} (box {_box_text(result.box_a)}) "
            f"with face {result.index_b} of {b} (box {_box_text(result.box_b)})"
        )
    )


def _box_text(box: list[float]) -> str:
    return ",".join(f"{v:.0f}" for v in box)
