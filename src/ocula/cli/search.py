"""``ocula index``, ``ocula search``, ``ocula collections list|info|drop``, ``ocula items delete``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..collections import Collection, collection_names, drop_collection
from ..config import Settings
from ..engine import Engine
from ..errors import InputError
from ..pipelines.dedupe import DEFAULT_THRESHOLD
from ..pipelines.faces import Descriptor, Detector
from ..types import error_record
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

collections_app = typer.Typer(help="Stored collections: list, inspect, drop.", no_args_is_help=True)
items_app = typer.Typer(help="Items of a collection.", no_args_is_help=True)

CollectionOption = Annotated[str, typer.Option("--collection", "-c", help="Collection name.", show_default=False)]
NoFacesOption = Annotated[
    bool,
    typer.Option(
        "--no-faces",
        help="Do not store the photos' faces (about twice as fast; `search --person` then finds nothing).",
    ),
]


def index_command(
    ctx: typer.Context,
    source: Annotated[
        Path, typer.Argument(help="Folder of images (walked recursively) or a catalog CSV.", show_default=False)
    ],
    collection: CollectionOption,
    path_column: Annotated[str, typer.Option(help="CSV column with image paths (relative to the CSV).")] = "path",
    id_column: Annotated[
        str | None, typer.Option(help="CSV column with item ids (default: the path).", show_default=False)
    ] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", help="CSV column to store as metadata (repeatable).", show_default=False),
    ] = None,
    allow_outside: Annotated[
        bool,
        typer.Option(
            "--allow-outside",
            help="Also index CSV rows whose file lies outside the CSV's folder (absolute, ../, symlinks out).",
        ),
    ] = False,
    vectors: VectorsOption = None,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Embed on Ray: 'local' (start Ray here), 'auto' (this node's cluster) or ray://HEAD:10001.",
            show_default=False,
        ),
    ] = None,
    no_faces: NoFacesOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines: one per commit and a summary.")] = False,
) -> None:
    """Index a folder's images, or a catalog CSV's, into a collection. Re-running skips unchanged
    files, embeds new and changed ones and removes items no longer listed; bad files (also
    FIFOs, devices, files over the size limit and, for a CSV, files outside its folder) are
    reported and skipped, and the exit code is then 1."""
    settings = settings_of(ctx)
    is_csv = source.is_file() and source.suffix.lower() == ".csv"
    if not (source.is_dir() or is_csv):
        print_error(f"{source} is neither a folder nor a .csv catalog")
        raise typer.Exit(EXIT_FAILED)
    with cli_errors(json_output=as_json), Engine(settings) as engine:
        with progress_bar(None, label=f"indexing into {collection}", json_output=as_json) as bar:
            task = bar.add_task("index", total=None)
            hooks = dict(
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                on_commit=(lambda n: emit_json({"committed": n})) if as_json else None,
                vectors=vectors,
                ray=ray,
                faces=not no_faces,
            )
            if is_csv:
                report = engine.index_csv(
                    source,
                    collection,
                    path_column=path_column,
                    id_column=id_column,
                    meta_columns=meta or (),
                    allow_outside=allow_outside,
                    **hooks,
                )
            else:
                report = engine.index_folder(source, collection, **hooks)
    for path, error in report.failed:
        if as_json:
            emit_json({"path": path, "error": error})
        else:
            print_error(error if path in error else f"{path}: {error}")
    if as_json:
        emit_json({"collection": collection, **report.to_dict()})
    else:
        r = report.to_dict()
        stdout.print(
            Text(
                f"{collection}: {r['added']} added, {r['updated']} updated, {r['unchanged']} unchanged, "
                f"{r['removed']} removed, {r['failed']} failed"
            )
        )
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


def search_command(
    ctx: typer.Context,
    collection: CollectionOption,
    photo: Annotated[
        Path | None, typer.Argument(help="Query photo (optional with --text).", show_default=False)
    ] = None,
    text: Annotated[
        str | None,
        typer.Option(
            "--text",
            "-t",
            help="Words: what the items show, e.g. 'dog', 'dog cat' (both), 'dog | cat' (either). With a "
            "photo: the items the words match, by similarity to the photo times word score.",
            show_default=False,
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=10_000, help="Number of matches.")] = 10,
    where: Annotated[
        str | None, typer.Option(help="Metadata filter, e.g. \"category = 'shoes'\".", show_default=False)
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(help="Search with this part of the photo: x0,y0,x1,y1 in pixels.", show_default=False),
    ] = None,
    whole: Annotated[
        bool, typer.Option("--whole", help="Search with the whole photo only, not also its windows (faster).")
    ] = False,
    person: Annotated[
        str | None,
        typer.Option(
            help="Items showing this person of --gallery (with --text and/or a photo: those the words match, "
            "by face similarity x word score x photo similarity).",
            show_default=False,
        ),
    ] = None,
    gallery: Annotated[
        str | None, typer.Option("--gallery", "-g", help="With --person: the gallery they are enrolled in.")
    ] = None,
    fpir: Annotated[
        float, typer.Option(help="With --person: false-positive identification rate of the gallery's threshold.")
    ] = 0.01,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The most similar items of a collection to a photo (or to a region of it), or the items
    that show what --text names, or both. Without --region, the photo's 3x3 half-size windows
    are searched too, so an item shown small in a scene is found; each match says which part
    of the photo matched.

    With --person NAME --gallery G: the items where a face is that person, at the threshold
    `ocula faces identify` names people at (--fpir), best face first; each match names the
    face's box and similarity. The person's templates are read at each search, so an
    enrolment or a `faces forget` counts at once. With --text and/or a PHOTO too: only the
    person's items the words match, ranked by face similarity x word score x similarity to
    the photo."""
    settings = settings_of(ctx)
    if person is not None or gallery is not None:
        with cli_errors(json_output=as_json):
            box = parse_region(region) if region is not None else None
        query = PersonQuery(person, gallery, text, photo, box, windows=not whole, fpir=fpir)
        _search_person(settings, query, collection, k=k, where=where, as_json=as_json)
        return
    with cli_errors(json_output=as_json):
        if photo is None and text is None:
            raise InputError("give a query PHOTO, --text WORDS (or both), or --person NAME --gallery G")
        box = parse_region(region) if region is not None else None
        with Engine(settings) as engine:
            if photo is None:
                assert text is not None
                matches = engine.search_words(text, collection, k=k, where=where)
            else:
                matches = engine.search(photo, collection, k=k, where=where, region=box, windows=not whole, text=text)
    if as_json:
        query = {"query": None if photo is None else str(photo), "text": text, "region": box}
        emit_json(query | {"matches": [m.to_dict() for m in matches]})
        return
    title = " + ".join(q for q in (None if photo is None else str(photo), text and repr(text)) if q)
    table = Table(title=Text(f"{title} in {collection}"), title_justify="left", show_edge=False, pad_edge=False)
    columns = ("#", "score", "id", "path", *(("concepts",) if text else ()))
    for col in columns:
        table.add_column(col, justify="right" if col in ("#", "score") else "left")
    for i, m in enumerate(matches):
        shown = ", ".join(f"{c['concept']} {c['score']:.2f}" for c in m.concepts or [])
        table.add_row(str(i + 1), f"{m.score:.3f}", Text(m.id), Text(m.path or ""), *((Text(shown),) if text else ()))
    stdout.print(table)


@dataclass(frozen=True)
class PersonQuery:
    """What ``ocula search --person`` was asked: the person, and the words and photo that narrow and rank."""

    person: str | None
    gallery: str | None
    text: str | None
    photo: Path | None
    region: list[float] | None
    windows: bool
    fpir: float


def _search_person(
    settings: Settings, q: PersonQuery, collection: str, *, k: int, where: str | None, as_json: bool
) -> None:
    """``ocula search --person NAME --gallery G [--text W] [PHOTO]``: see :func:`ocula.galleries.search_person`."""
    from ..galleries import Gallery, search_person  # galleries sit above the Engine

    with cli_errors(json_output=as_json):
        if q.person is None or q.gallery is None:
            raise InputError("--person and --gallery go together")
        with (
            Engine(settings) as engine,
            Gallery.open(q.gallery, engine=engine) as g,
            Collection.open(collection, settings=settings) as coll,
        ):
            found = search_person(
                g,
                coll,
                q.person,
                k=k,
                where=where,
                fpir=q.fpir,
                text=q.text,
                photo=q.photo,
                region=q.region,
                windows=q.windows,
            )
    if as_json:
        emit_json(found.to_dict() | {"text": q.text, "query": None if q.photo is None else str(q.photo)})
        return
    narrowed = "".join(f" + {x}" for x in (q.text and repr(q.text), q.photo and str(q.photo)) if x)
    title = Text(
        f"{q.person} of {q.gallery}{narrowed} in {collection} (similarity >= {found.threshold:.3f}, FPIR {q.fpir:g})"
    )
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    combined = q.text is not None or q.photo is not None
    for col in ("#", *(("score",) if combined else ()), "similarity", "id", "face box", "path"):
        table.add_column(col, justify="right" if col in ("#", "score", "similarity") else "left")
    for i, m in enumerate(found.matches):
        box = ",".join(f"{v:.0f}" for v in m.box)
        score = (f"{m.rank_score:.3f}",) if combined else ()
        table.add_row(str(i + 1), *score, f"{m.similarity:.3f}", Text(m.id), box, Text(m.path or ""))
    stdout.print(table)


def parse_region(text: str) -> list[float]:
    parts = text.split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        return [float(p) for p in parts]
    except ValueError:
        raise InputError(f"--region takes x0,y0,x1,y1 in pixels, not {text!r}") from None


def reindex_command(
    ctx: typer.Context,
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Collection name.", show_default=False)
    ] = None,
    gallery: Annotated[
        str | None,
        typer.Option("--gallery", "-g", help="Gallery name (instead of a collection).", show_default=False),
    ] = None,
    descriptor: Annotated[
        Descriptor | None,
        typer.Option(
            help="With --gallery (required there): the face descriptor to describe its photos with: sface+dlib, "
            "sface or dlib.",
            show_default=False,
        ),
    ] = None,
    detector: Annotated[
        Detector | None,
        typer.Option(
            help="With --gallery: the face detector (default: the descriptor's, hog+cnn for dlib, yunet for sface+dlib "
            "and sface).",
            show_default=False,
        ),
    ] = None,
    drop_missing: Annotated[
        bool,
        typer.Option(
            "--drop-missing",
            help="Rebuild even if some items' (a gallery's templates') files are gone or changed: they are dropped.",
        ),
    ] = False,
    no_faces: NoFacesOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary object.")] = False,
) -> None:
    """Rebuild a collection with the current embedder (after an upgrade changed it), or a face
    gallery with another face descriptor, from the files of its enrolled photos. A collection's
    items get their faces stored too (unless --no-faces): how one indexed before faces were
    stored becomes searchable by person."""
    settings = settings_of(ctx)
    with cli_errors(json_output=as_json):
        if (collection is None) == (gallery is None):
            raise InputError("name one of --collection or --gallery")
        if collection is not None and (descriptor is not None or detector is not None):
            raise InputError("--descriptor and --detector apply to --gallery only")
        if gallery is not None and descriptor is None:  # never a silent change of descriptor (e.g. to the default)
            raise InputError(
                "--gallery needs --descriptor: the descriptor to describe the photos with (sface+dlib, sface or dlib)"
            )
    if gallery is not None:
        assert descriptor is not None
        _reindex_gallery(settings, gallery, descriptor, detector, drop_missing, as_json)
        return
    assert collection is not None
    with cli_errors(json_output=as_json), Engine(settings) as engine:
        with progress_bar(None, label=f"reindexing {collection}", json_output=as_json) as bar:
            task = bar.add_task("reindex", total=None)
            report = engine.reindex(
                collection,
                drop_missing=drop_missing,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                faces=not no_faces,
            )
    summary = {"collection": collection, "items": report.added, "dropped": len(report.failed)}
    if as_json:
        emit_json(summary)
    else:
        stdout.print(Text(f"{collection}: {summary['items']} items re-embedded, {summary['dropped']} dropped"))


def _reindex_gallery(
    settings: Settings,
    gallery: str,
    descriptor: Descriptor,
    detector: Detector | None,
    drop_missing: bool,
    as_json: bool,
) -> None:
    from ..galleries import reindex_gallery  # galleries sit above the Engine

    with cli_errors(json_output=as_json), Engine(settings) as engine:
        with progress_bar(None, label=f"reindexing gallery {gallery}", json_output=as_json) as bar:
            task = bar.add_task("reindex", total=None)
            report = reindex_gallery(
                gallery,
                engine=engine,
                descriptor=descriptor,
                detector=detector,
                drop_missing=drop_missing,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    if as_json:
        emit_json(report.to_dict())
        return
    stdout.print(
        Text(
            f"{gallery}: {report.templates} template(s) of {report.people} people described again with "
            f"{report.descriptor}; {len(report.failed)} dropped, {report.clusters_dropped} stored cluster(s) removed"
        )
    )
    for person, photo, reason in report.failed:
        print_error(f"{person}: {photo}: dropped: {reason}")
    for person in report.dropped_people:
        print_error(f"{person}: dropped (no template could be described again)")


def dedupe_command(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Photos or folders (walked recursively).", show_default=False)],
    threshold: Annotated[
        float, typer.Option(min=-1.0, max=1.0, help="Similarity at which two photos count as duplicates.")
    ] = DEFAULT_THRESHOLD,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per group per line.")] = False,
) -> None:
    """Groups of near-duplicate photos (copies, resizes, crops, re-encodes, mirrored, recoloured)."""
    settings = settings_of(ctx)
    paths = image_paths_or_exit(inputs)
    with cli_errors(json_output=as_json), Engine(settings) as engine:
        found = engine.dedupe(paths, threshold=threshold)
    groups, failed = found.groups, found.failed
    for f in failed:
        if as_json:
            emit_json(error_record(f.name, f.error))
        else:
            print_error(str(f.error))
    for i, group in enumerate(groups):
        if as_json:
            emit_json({"group": i, "images": [{"path": d.name, "score": round(d.similarity, 4)} for d in group]})
        else:
            stdout.print(Text(f"group {i} ({len(group)} photos)"))
            for d in group:
                stdout.print(Text(f"  {d.similarity:.3f}  {d.name}"))
    if not as_json:
        stderr.print(Text(f"{len(groups)} group(s) among {len(paths) - len(failed)} photos"))
    if failed:
        raise typer.Exit(EXIT_FAILED)


@collections_app.command("list")
def list_command(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Collection names in the data directory."""
    for name in collection_names(settings_of(ctx)):
        emit_json({"name": name}) if as_json else stdout.print(Text(name))


@collections_app.command("info")
def info_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(show_default=False)],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Items, vectors, embedder stamp and location of a collection."""
    with cli_errors(json_output=as_json), Collection.open(name, settings=settings_of(ctx)) as coll:
        info = coll.info()
    if as_json:
        emit_json(info)
    else:
        for key, value in info.items():
            stdout.print(Text(f"{key}: {value}"))


@collections_app.command("drop")
def drop_command(ctx: typer.Context, name: Annotated[str, typer.Argument(show_default=False)]) -> None:
    """Delete a collection and everything stored for it."""
    with cli_errors():
        drop_collection(name, settings_of(ctx))
    stderr.print(Text(f"dropped {name}"))


@items_app.command("delete")
def delete_command(
    ctx: typer.Context,
    ids: Annotated[list[str], typer.Argument(help="Item ids.", show_default=False)],
    collection: CollectionOption,
) -> None:
    """Delete items; they can no longer be found. Exit 1 if an id did not exist."""
    with cli_errors(), Collection.open(collection, settings=settings_of(ctx)) as coll:
        deleted = coll.delete(ids)
    stderr.print(Text(f"deleted {deleted} of {len(ids)}"))
    if deleted < len(ids):
        raise typer.Exit(EXIT_FAILED)
