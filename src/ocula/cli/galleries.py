"""``ocula faces enroll|identify|people|forget`` and ``ocula galleries list|drop``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..collections import Collection
from ..engine import Engine
from ..errors import InputError
from ..galleries import Gallery, drop_gallery, gallery_names
from ..galleries.clustering import DEFAULT_CLUSTER_THRESHOLD, cluster_threshold
from ..galleries.library import cluster_library
from ..pipelines.faces import DESCRIPTOR_MODELS, Descriptor, Detector
from ._common import (
    EXIT_FAILED,
    VectorsOption,
    cli_errors,
    emit_json,
    image_paths_or_exit,
    print_error,
    progress_bar,
    settings_of,
    stderr,
    stdout,
)

#: ``ocula faces forget``: forgotten, but the erasure is not finished in the files yet.
EXIT_ERASURE_PENDING = 3

galleries_app = typer.Typer(help="Face galleries: list, drop.", no_args_is_help=True)

GalleryOption = Annotated[str, typer.Option("--gallery", "-g", help="Gallery name.", show_default=False)]
GalleryDetectorOption = Annotated[
    Detector | None,
    typer.Option(
        help="hog, cnn, hog+cnn (the CNN only where HOG finds no face) or yunet (faces v2) "
        "(default: the gallery descriptor's: hog+cnn for dlib, yunet for sface+dlib and sface).",
        show_default=False,
    ),
]
DescriptorOption = Annotated[
    Descriptor | None,
    typer.Option(
        help="Face descriptor: sface+dlib (both fused), sface (faces v2) or dlib. A new gallery is built with it "
        "(default sface+dlib); "
        "an existing one keeps its own, and naming another is refused (see `ocula reindex --gallery`).",
        show_default=False,
    ),
]


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
        list[str] | None, typer.Option("--meta", help="key=value to store with the person (repeatable).")
    ] = None,
    face: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Use this face of every photo (0 = the face `ocula faces detect` lists first).",
            show_default=False,
        ),
    ] = None,
    detector: GalleryDetectorOption = None,
    descriptor: DescriptorOption = None,
    vectors: VectorsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Add a person (or more photos of one) to a gallery. A photo must show one usable face;
    refused photos are listed with the reason and the exit code is 1."""
    settings = settings_of(ctx)
    with cli_errors(json_output=as_json):
        metadata = _parse_meta(meta)
        new_gallery = gallery not in gallery_names(settings)
        with (
            Engine(settings) as engine,
            Gallery.open(gallery, engine=engine, create=True, vectors=vectors, descriptor=descriptor) as g,
        ):
            result = g.enroll(person, photos, metadata=metadata, face=face, detector=detector)
        if new_gallery and not result.added:  # every photo refused: the gallery made here is not
            drop_gallery(gallery, settings, only_if_empty=True)  # left behind (unless another enrolled)
    if as_json:
        emit_json(result.to_dict())
    else:
        if result.photos:  # nobody enrolled: the refusals below are the whole answer
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
    detector: GalleryDetectorOption = None,
    descriptor: DescriptorOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Who is in a photo: per face the enrolled person, or unknown (null) below the threshold
    that keeps strangers named at the chosen FPIR for this gallery's size."""
    settings = settings_of(ctx)
    with (
        cli_errors(json_output=as_json),
        Engine(settings) as engine,
        Gallery.open(gallery, engine=engine, descriptor=descriptor) as g,
    ):
        limit = g.threshold(fpir)
        found = g.identify(photo, fpir=fpir, k=k, detector=detector)
    if as_json:
        emit_json(
            {
                "photo": str(photo),
                "gallery": gallery,
                "fpir": fpir,
                "fpir_expected": round(limit.fpir_expected, 6),
                "capped": limit.capped,
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
    """Erase a person from a gallery: every template, photo reference and stored field.

    Exit 0 when done; 3 when the person is gone from the gallery but another program reading
    its files (a long read by another process, a backup) kept the erased data from being wiped
    from SQLite's write-ahead log: a warning says so, and the next open or close of the gallery
    with no such reader finishes it (`ocula doctor` reports it meanwhile).
    """
    with cli_errors(json_output=as_json), Gallery.open(gallery, settings=settings_of(ctx)) as g:
        done = g.forget(person)
    if as_json:
        emit_json({"forgotten": person, "gallery": gallery, "erasure_pending": done.erasure_pending})
    else:
        stdout.print(Text(f"{person} forgotten"))
    if done.erasure_pending:
        warning = (
            f"{person} is gone from gallery {gallery}, but the erased data may remain in its files until "
            "another program stops reading them; the next open or close of the gallery finishes the erasure"
        )
        stderr.print(Text.assemble(("warning:", "yellow"), " ", warning), highlight=False)
        raise typer.Exit(EXIT_ERASURE_PENDING)


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


def cluster_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Folder of photos, or a collection's name.", show_default=False)],
    gallery: Annotated[
        str | None,
        typer.Option(
            "--gallery", "-g", help="Leave out its people and store the clusters with it.", show_default=False
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=-1.0,
            max=1.0,
            show_default=False,
            help=f"Average similarity at which two groups are one person (default: the descriptor's: "
            f"{DEFAULT_CLUSTER_THRESHOLD} for dlib, {cluster_threshold(DESCRIPTOR_MODELS[Descriptor.SFACE])} for "
            f"sface, {cluster_threshold(DESCRIPTOR_MODELS[Descriptor.FUSED])} for sface+dlib).",
        ),
    ] = None,
    fpir: Annotated[float, typer.Option(help="FPIR for recognising the gallery's people.")] = 0.01,
    detector: GalleryDetectorOption = None,
    descriptor: DescriptorOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per cluster, then a summary.")] = False,
) -> None:
    """Group the faces of unknown people across a photo library; two faces of one photo never
    share a cluster. With --gallery, clusters are stored and can be named, merged and split."""
    settings = settings_of(ctx)
    with cli_errors(json_output=as_json):
        folder = Path(source)
        if folder.is_dir():
            photos = image_paths_or_exit([folder])
        else:
            with Collection.open(source, settings=settings) as coll:
                photos = [Path(item.path) for item in coll.items() if item.path]
        with Engine(settings) as engine:
            g = Gallery.open(gallery, engine=engine, create=True, descriptor=descriptor) if gallery else None
            try:
                with progress_bar(len(photos), label="finding faces", json_output=as_json) as bar:
                    task = bar.add_task("faces", total=len(photos))
                    result = cluster_library(
                        engine,
                        photos,
                        gallery=g,
                        threshold=threshold,
                        fpir=fpir,
                        detector=detector and detector.value,
                        descriptor=descriptor,
                        progress=lambda done, total: bar.update(task, completed=done),
                    )
            finally:
                if g is not None:
                    g.close()
    for path, error in result.failed:
        emit_json({"path": path, "error": error}) if as_json else print_error(error)
    for cluster in result.to_dicts():
        if as_json:
            emit_json(cluster)
        else:
            stdout.print(Text(f"{cluster['cluster']}: {cluster['size']} faces"))
            for face in cluster["faces"]:
                stdout.print(Text(f"  {face['path']}  {','.join(f'{v:.0f}' for v in face['box'])}"))
    summary = result.summary()
    if as_json:
        emit_json(summary)
    else:
        stdout.print(Text(", ".join(f"{k}: {v}" for k, v in summary.items())))
    if result.failed:
        raise typer.Exit(EXIT_FAILED)


def clusters_command(
    ctx: typer.Context, gallery: GalleryOption, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """The stored clusters of unknown faces of a gallery, each face with its position."""
    with cli_errors(json_output=as_json), Gallery.open(gallery, settings=settings_of(ctx)) as g:
        records = [
            {"cluster": name, "size": len(refs), "faces": [{"path": r["path"], "box": r["box"]} for r in refs]}
            for name, refs in g.cluster_faces()
        ]
    for r in records:
        if as_json:
            emit_json(r)
        else:
            stdout.print(Text(f"{r['cluster']}: {r['size']} faces"))
            for i, face in enumerate(r["faces"]):
                stdout.print(Text(f"  [{i}] {face['path']}  {','.join(f'{v:.0f}' for v in face['box'])}"))


def name_command(
    ctx: typer.Context,
    cluster: Annotated[str, typer.Argument(help="Cluster id, e.g. cluster-0001.", show_default=False)],
    person: Annotated[str, typer.Argument(help="Name to enrol the cluster's faces as.", show_default=False)],
    gallery: GalleryOption,
) -> None:
    """Turn a cluster into an enrolled person (new, or more photos of an existing one)."""
    with cli_errors(), Gallery.open(gallery, settings=settings_of(ctx)) as g:
        total = g.name_cluster(cluster, person)
    stdout.print(Text(f"{cluster} enrolled as {person} ({total} photos)"))


def merge_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Cluster that receives the faces.", show_default=False)],
    other: Annotated[str, typer.Argument(help="Cluster merged into it (removed).", show_default=False)],
    gallery: GalleryOption,
) -> None:
    """Merge two clusters of the same person."""
    with cli_errors(), Gallery.open(gallery, settings=settings_of(ctx)) as g:
        total = g.merge_clusters(target, other)
    stdout.print(Text(f"{other} merged into {target} ({total} faces)"))


def split_command(
    ctx: typer.Context,
    cluster: Annotated[str, typer.Argument(show_default=False)],
    faces: Annotated[str, typer.Option(help="Face positions to move out, e.g. 0,3 (see `ocula faces clusters`).")],
    gallery: GalleryOption,
) -> None:
    """Move some faces of a cluster into a new cluster."""
    with cli_errors(), Gallery.open(gallery, settings=settings_of(ctx)) as g:
        try:
            positions = [int(v) for v in faces.split(",")]
        except ValueError:
            raise InputError(f"--faces takes positions like 0,3, not {faces!r}") from None
        new = g.split_cluster(cluster, positions)
    stdout.print(Text(f"{len(set(positions))} face(s) of {cluster} moved to {new}"))
