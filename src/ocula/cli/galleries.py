"""``ocula faces enroll|identify|people|forget`` and ``ocula galleries list|drop``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from ..engine import Engine
from ..errors import InputError
from ..galleries import Gallery, drop_gallery, gallery_names
from ..pipelines.faces import Detector
from ._common import EXIT_FAILED, cli_errors, emit_json, print_error, settings_of, stdout

galleries_app = typer.Typer(help="Face galleries: list, drop.", no_args_is_help=True)

GalleryOption = Annotated[str, typer.Option("--gallery", "-g", help="Gallery name.", show_default=False)]
DetectorOption = Annotated[Detector, typer.Option(help="hog, cnn, or hog+cnn (the CNN only where HOG finds no face).")]


def _parse_meta(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--meta takes key=value, not {pair!r}")
        out[key.strip()] = value
    return out


def enroll_command(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument(help="The person's name.", show_default=False)],
    photos: Annotated[list[Path], typer.Argument(help="Photos of the person, one face each.", show_default=False)],
    gallery: GalleryOption,
    meta: Annotated[
        Optional[list[str]], typer.Option("--meta", help="key=value to store with the person (repeatable).")
    ] = None,
    face: Annotated[
        Optional[int], typer.Option(min=0, help="Use this face (0 = largest) of every photo.", show_default=False)
    ] = None,
    detector: DetectorOption = Detector.HOG_CNN,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Add a person (or more photos of one) to a gallery. A photo must show one usable face;
    refused photos are listed with the reason and the exit code is 1."""
    settings = settings_of(ctx)
    with cli_errors(json_output=as_json):
        metadata = _parse_meta(meta)
        with Engine(settings) as engine, Gallery.open(gallery, engine=engine, create=True) as g:
            result = g.enroll(person, photos, metadata=metadata, face=face, detector=detector)
    if as_json:
        emit_json(result.to_dict())
    else:
        stdout.print(Text(f"{person}: {len(result.added)} photo(s) added, {result.photos} enrolled in {gallery}"))
        for photo, reason in result.refused:
            print_error(f"{photo}: refused: {reason}")
    if result.refused:
        raise typer.Exit(EXIT_FAILED)


def identify_command(
    ctx: typer.Context,
    photo: Annotated[Path, typer.Argument(help="Photo to identify the faces of.", show_default=False)],
    gallery: GalleryOption,
    fpir: Annotated[
        float, typer.Option(help="False-positive identification rate: share of strangers named (calibrated).")
    ] = 0.01,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100, help="Candidates per face.")] = 5,
    detector: DetectorOption = Detector.HOG_CNN,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Who is in a photo: per face the enrolled person, or unknown (null) below the threshold
    that keeps strangers named at the chosen FPIR for this gallery's size."""
    settings = settings_of(ctx)
    with cli_errors(json_output=as_json), Engine(settings) as engine, Gallery.open(gallery, engine=engine) as g:
        limit = g.threshold(fpir)
        found = g.identify(photo, fpir=fpir, k=k, detector=detector)
    if as_json:
        emit_json(
            {
                "photo": str(photo),
                "gallery": gallery,
                "fpir": fpir,
                "fpir_expected": round(limit.fpir_expected, 6),
                "faces": [f.to_dict() for f in found],
            }
        )
        return
    if limit.capped:
        print_error(
            f"the gallery is too large for FPIR {fpir:g} within the calibrated range; "
            f"the threshold gives about {limit.fpir_expected:.2g}"
        )
    table = Table(title=Text(f"{photo} in {gallery}"), title_justify="left", show_edge=False, pad_edge=False)
    for col in ("#", "person", "similarity", "threshold", "box"):
        table.add_column(col)
    for i, f in enumerate(found):
        who = Text(f.person) if f.person else Text("unknown", style="yellow")
        sim = "—" if f.similarity is None else f"{f.similarity:.3f}"
        table.add_row(str(i), who, sim, f"{f.threshold:.3f}", ",".join(f"{v:.0f}" for v in f.box))
    stdout.print(table)


def people_command(
    ctx: typer.Context, gallery: GalleryOption, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """The people enrolled in a gallery, with their number of photos."""
    with cli_errors(json_output=as_json), Gallery.open(gallery, settings=settings_of(ctx)) as g:
        people = g.people()
    for p in people:
        emit_json(p.to_dict()) if as_json else stdout.print(Text(f"{p.name}  ({p.photos} photos)"))


def forget_command(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument(show_default=False)],
    gallery: GalleryOption,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Erase a person from a gallery: every template, photo reference and stored field."""
    with cli_errors(json_output=as_json), Gallery.open(gallery, settings=settings_of(ctx)) as g:
        g.forget(person)
    emit_json({"forgotten": person, "gallery": gallery}) if as_json else stdout.print(Text(f"{person} forgotten"))


@galleries_app.command("list")
def list_command(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Gallery names in the data directory."""
    for name in gallery_names(settings_of(ctx)):
        emit_json({"name": name}) if as_json else stdout.print(Text(name))


@galleries_app.command("drop")
def drop_command(ctx: typer.Context, name: Annotated[str, typer.Argument(show_default=False)]) -> None:
    """Delete a gallery and everything stored for it."""
    with cli_errors():
        drop_gallery(name, settings_of(ctx))
