"""Visual search: embed images, index folders and catalogs into collections, search them."""

from __future__ import annotations

import contextlib
import csv
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..collections import Collection, ItemFaces, Match, NewItem, drop_collection, swap_collection
from ..collections.concept_index import Hits
from ..concepts import CompactScores, concept_space
from ..config import Settings
from ..errors import DatasetError, ImageError, ImageNotFound, ImageTooLarge, InputError, OculaError
from ..hashing import file_sha256
from ..io import ImageSource, iter_image_paths, load_image, open_image_file, source_name
from ..models.registry import get_model
from ..pipelines.dedupe import DEFAULT_THRESHOLD, duplicate_groups
from ..pipelines.faces import DEFAULT_DESCRIPTOR, DESCRIPTOR_MODELS, Descriptor, FaceOptions
from ..pipelines.preprocess import crop_region
from ..pipelines.search_embed import SEARCH_MODEL, ImageEmbedder, query_parts
from ..text_file import MAX_CSV_BYTES, check_text_file
from ..text_query import parse_query, vocabulary
from .decode import DECODE_AHEAD, decode_ahead
from .faces import FaceService
from .pool import ModelPool
from .ray import ray_embed_images
from .results import Dedupe, Duplicate, Embedded, Unreadable

__all__ = [
    "CatalogEntry",
    "Dedupe",
    "Duplicate",
    "Embedded",
    "IndexReport",
    "SearchService",
    "Unreadable",
    "item_faces_stamp",
    "read_catalog",
]

COMMIT_EVERY = 32  # images per transaction: a killed run keeps all but the last few
TOP_CONCEPTS = 5  # concepts a match of a search by words shows
IMPLIED = 0.95  # a concept is not shown when a concept below it scores at least this fraction of it
MAX_WORDED = 10_000  # a photo-and-words search ranks at most this many of the words' best items
BROADEST = 0.15  # ... nor when it covers more than this fraction of the classes ("dog" covers 0.12)


@dataclass(frozen=True)
class CatalogEntry:
    """One image to index: its item id, file and metadata."""

    id: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)


def _typed(value: str) -> Any:
    """CSV text as a number where it is one, so numeric filters compare numbers."""
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def read_catalog(
    path: Path, *, path_column: str = "path", id_column: str | None = None, meta_columns: Sequence[str] = ()
) -> list[CatalogEntry]:
    """Entries of a catalog CSV; image paths are relative to the CSV's folder."""
    check_text_file(path, max_bytes=MAX_CSV_BYTES, what="catalog", error=DatasetError)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path} ({exc})") from None
    missing = [c for c in (path_column, id_column, *meta_columns) if c and c not in columns]
    if missing:
        raise DatasetError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(columns)})")
    base = path.resolve().parent
    entries, seen = [], set()
    for line, row in enumerate(rows, start=2):
        if not row.get(path_column):
            raise DatasetError(f"{path}:{line}: empty {path_column}")
        item_id = row[id_column] if id_column else row[path_column]
        if not item_id:
            raise DatasetError(f"{path}:{line}: empty {id_column}")
        if item_id in seen:
            raise DatasetError(f"{path}:{line}: id {item_id!r} is listed twice")
        seen.add(item_id)
        metadata = {c: _typed(row.get(c, "")) for c in meta_columns}
        entries.append(CatalogEntry(item_id, base / row[path_column], metadata))
    return entries


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": len(self.failed),
        }


def _check_within(path: Path, folder: Path) -> None:
    """Refuse ``path`` unless it (symlinks resolved) lies inside ``folder`` (already resolved)."""
    try:
        target = path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise ImageNotFound(f"{path}: cannot resolve ({exc})") from None
    if not target.is_relative_to(folder):
        raise InputError(
            f"{path}: outside the catalog's folder {folder} (it resolves to {target}); catalog paths are "
            "relative to the CSV. Pass allow_outside=True (CLI: --allow-outside) to index files elsewhere"
        )


def _file_sha256(path: Path, max_bytes: int) -> str:
    """The sha256 of the regular file ``path`` of at most ``max_bytes`` bytes; ImageError otherwise
    (a FIFO or device is refused without blocking: see :func:`ocula.io.open_image_file`)."""
    with open_image_file(path, max_bytes) as fh:
        try:
            sha = file_sha256(fh, max_bytes=max_bytes)
        except OSError as exc:
            raise ImageNotFound(f"{path}: cannot read ({exc.strerror or exc})") from None
    if sha is None:
        raise ImageTooLarge(f"{path}: file is over the limit of {max_bytes:,} bytes")
    return sha


def _hashed_entries(
    entries: Sequence[CatalogEntry], within: Path | None, max_bytes: int, report: IndexReport
) -> dict[str, tuple[CatalogEntry, str]]:
    """Each readable entry by id with its file's sha256; the others go to ``report.failed``."""
    wanted: dict[str, tuple[CatalogEntry, str]] = {}
    for entry in entries:
        try:
            if within is not None:
                _check_within(entry.path, within)
            wanted[entry.id] = (entry, _file_sha256(entry.path, max_bytes))
        except InputError as exc:
            report.failed.append((str(entry.path), str(exc)))
    return wanted


class _CommitBatch:
    """New items added to a collection every ``COMMIT_EVERY``; ``on_commit(n)`` after each commit
    with the number committed so far."""

    def __init__(self, coll: Collection, on_commit: Callable[[int], None] | None):
        self.coll, self.on_commit = coll, on_commit
        self.pending: list[NewItem] = []
        self.committed = 0

    def add(self, item: NewItem) -> None:
        self.pending.append(item)
        if len(self.pending) >= COMMIT_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        self.coll.add(self.pending)
        self.committed += len(self.pending)
        self.pending.clear()
        if self.on_commit:
            self.on_commit(self.committed)


def item_faces_stamp(descriptor: Descriptor = DEFAULT_DESCRIPTOR) -> str:
    """The stamp (``name@version``) a collection's faces carry when described by ``descriptor``
    (``ocula index`` stores the default's)."""
    spec = get_model(DESCRIPTOR_MODELS[descriptor])
    return f"{spec.name}@{spec.version}"


def faces_descriptor_of(coll: Collection) -> Descriptor:
    """The descriptor new faces of ``coll`` are described with: the one its stored faces have
    (a collection indexed before the default changed keeps its own, so that adding photos
    needs no reindex), else the default."""
    stored = coll.faces_descriptor
    return next((d for d in Descriptor if item_faces_stamp(d) == stored), DEFAULT_DESCRIPTOR)


def item_extras(embedded: Embedded) -> dict[str, CompactScores | None]:
    """What an item stores beside its vector (NewItem's keyword arguments): its concept scores,
    made from the class probabilities of its own forward pass (see ocula.concepts)."""
    if embedded.probabilities is None:
        return {"concepts": None}
    space = concept_space()
    return {"concepts": space.compact(space.scores(embedded.probabilities[None]))[0]}


def top_concepts(scores: CompactScores | None, n: int = TOP_CONCEPTS) -> list[dict[str, Any]]:
    """An item's ``n`` most telling stored concepts, best first: their word, WordNet id and
    score. Left out: a concept one below it scores nearly as much as (``IMPLIED``: "dog" says
    nothing "corgi" at 0.85 does not) and one covering more than ``BROADEST`` of the classes
    ("whole", "artifact", "animal" are true of most photos)."""
    if scores is None:
        return []
    space = concept_space()
    stored = {space.wnids[int(c)]: float(v) for c, v in zip(scores.ids, scores.scores, strict=True)}
    implied = {
        ancestor
        for wnid, score in stored.items()
        for ancestor in space.taxonomy.ancestor_wnids(wnid)
        if ancestor in stored and score >= IMPLIED * stored[ancestor]
    }
    narrow = {w for w in stored if len(space.classes_of(space.id_of[w])) <= BROADEST * len(space.taxonomy.classes)}
    telling = sorted(narrow - implied, key=lambda w: -stored[w])[:n]
    return [{"concept": space.taxonomy.lemmas[w][0], "wnid": w, "score": round(stored[w], 3)} for w in telling]


def _word_hits(coll: Collection, text: str, where: str | None, k: int | None) -> Hits:
    """The items of ``coll`` that ``text`` matches (and ``where``, if given), best first: their
    rowids and word scores; the ``k`` best, or all of them when ``k`` is None."""
    query = parse_query(text, vocabulary())
    index = coll.text_index(concept_space())
    if where is None:
        return index.search(query, k)
    hits = index.search(query, None)
    keep = np.isin(hits.ids, coll.rowids(where))
    return Hits(hits.ids[keep][:k], hits.scores[keep][:k])


def search_service(settings: Settings) -> SearchService:
    """A search service on a pool of its own: what each Ray worker embeds with."""
    pool = ModelPool(settings)
    return SearchService(pool, FaceService(pool))


class SearchService:
    """Visual search on the models of ``pool``."""

    def __init__(self, pool: ModelPool, faces: FaceService):
        self._pool = pool
        self._faces = faces  # finds the faces an index run stores with each item

    @property
    def settings(self) -> Settings:
        return self._pool.settings

    def image_embedder(self) -> ImageEmbedder:
        return ImageEmbedder(get_model(SEARCH_MODEL), self._pool.runner(SEARCH_MODEL))

    def item_faces(self, path: Path, descriptor: Descriptor = DEFAULT_DESCRIPTOR) -> ItemFaces:
        """The faces of the photo at ``path`` as a collection stores them: boxes and descriptors
        of ``descriptor`` (what a search by person compares with a gallery's templates)."""
        faces = self._faces.faces(path, FaceOptions(descriptor=descriptor))
        assert faces.embeddings is not None
        return ItemFaces(item_faces_stamp(descriptor), faces.boxes, faces.embeddings)

    def embed_images(self, sources: Iterable[ImageSource], *, classify: bool = False) -> Iterator[Embedded]:
        """Per input, in order, an :class:`Embedded`: its L2-normalised vector, or its error;
        with ``classify``, also its class probabilities from the same forward pass."""
        embedder = self.image_embedder()
        batch: list[tuple[str, np.ndarray]] = []

        def flush() -> Iterator[Embedded]:
            prepared = [p for _, p in batch]
            if classify:
                vectors, probabilities = embedder.embed_and_classify(prepared)
            else:
                vectors, probabilities = embedder.embed(prepared), None
            for i, ((name, _), v) in enumerate(zip(batch, vectors, strict=True)):
                yield Embedded(name, v, None, None if probabilities is None else probabilities[i])
            batch.clear()

        decode = functools.partial(load_image, settings=self.settings)
        for d in decode_ahead(sources, decode, ahead=DECODE_AHEAD):
            if d.value is None:
                yield from flush()
                yield Embedded(d.name, None, d.error)
                continue
            batch.append((d.name, embedder.prepare(d.value)))
            if len(batch) >= self.settings.batch_size:
                yield from flush()
        yield from flush()

    def embed_all(
        self, sources: Iterable[ImageSource]
    ) -> tuple[list[int], np.ndarray, list[tuple[str, OculaError | None]]]:
        """Embed every input: (positions of the readable inputs, their (n, dim) vectors,
        [(name, error)] of the others)."""
        kept, vectors, failed = [], [], []
        for i, e in enumerate(self.embed_images(sources)):
            if e.vector is None:
                failed.append((e.name, e.error))
            else:
                kept.append(i)
                vectors.append(e.vector)
        dim = self.image_embedder().dim
        return kept, (np.stack(vectors) if vectors else np.zeros((0, dim), np.float32)), failed

    def open_collection(self, name: str, *, create: bool = False, vectors: str | None = None) -> Collection:
        """The collection ``name``, stamped with (and checked against) the search embedder, a
        new one also with the concept numbering its items' concept scores are stored under;
        ``vectors`` chooses the store of a new one (see :meth:`Collection.open`)."""
        embedder = self.image_embedder()
        return Collection.open(
            name,
            settings=self.settings,
            embedder=embedder.stamp,
            dim=embedder.dim,
            create=create,
            vectors=vectors,
            concepts=concept_space().fingerprint,
        )

    def index_folder(
        self,
        root: Path,
        collection: str,
        *,
        progress: Callable[[int, int], None] | None = None,
        on_commit: Callable[[int], None] | None = None,
        vectors: str | None = None,
        ray: str | None = None,
        faces: bool = True,
    ) -> IndexReport:
        """Index every image under ``root`` into ``collection`` (created if missing), with ids
        relative to ``root``. See :meth:`index_entries` for what an incremental run does."""
        root = Path(root).resolve()  # stored paths are absolute, ids relative to the folder
        entries = [CatalogEntry(p.relative_to(root).as_posix(), p) for p in sorted(iter_image_paths([root]))]
        return self.index_entries(
            entries,
            collection,
            source=str(root),
            progress=progress,
            on_commit=on_commit,
            vectors=vectors,
            ray=ray,
            faces=faces,
        )

    def index_csv(
        self,
        csv_path: Path,
        collection: str,
        *,
        path_column: str = "path",
        id_column: str | None = None,
        meta_columns: Sequence[str] = (),
        progress: Callable[[int, int], None] | None = None,
        on_commit: Callable[[int], None] | None = None,
        vectors: str | None = None,
        ray: str | None = None,
        allow_outside: bool = False,
        faces: bool = True,
    ) -> IndexReport:
        """Index the images a catalog CSV lists: ``path_column`` (relative to the CSV's folder),
        ``id_column`` (default: the path) and ``meta_columns`` stored as metadata (numbers as
        numbers, so ``price < 50`` filters work).

        A row whose file lies outside the CSV's folder (an absolute path, ``../``, or a symlink
        leading out) is reported in the result as failed, and the rest is indexed, unless
        ``allow_outside``: a catalog from elsewhere must not make ocula read (and store the
        paths of) files its author chose anywhere on this machine."""
        entries = read_catalog(Path(csv_path), path_column=path_column, id_column=id_column, meta_columns=meta_columns)
        source = str(Path(csv_path).resolve())
        return self.index_entries(
            entries,
            collection,
            source=source,
            progress=progress,
            on_commit=on_commit,
            vectors=vectors,
            ray=ray,
            within=None if allow_outside else Path(source).parent,
            faces=faces,
        )

    def index_entries(
        self,
        entries: Sequence[CatalogEntry],
        collection: str,
        *,
        source: str,
        progress: Callable[[int, int], None] | None = None,
        on_commit: Callable[[int], None] | None = None,
        vectors: str | None = None,
        ray: str | None = None,
        within: Path | None = None,
        faces: bool = True,
    ) -> IndexReport:
        """Bring the items ``source`` contributed to ``collection`` in line with ``entries``.

        Incremental: an entry whose file has the same sha256 is not embedded again (only its
        metadata is updated if that changed); new and changed files are embedded; items of
        ``source`` that are no longer listed are removed. Unreadable files are reported in the
        result, never fatal; so are files that are not regular files (FIFOs, devices: never
        read), files over ``settings.max_image_bytes`` (not read either) and, if ``within`` (a
        resolved folder) is given, files outside it. Work is committed every few images;
        ``on_commit(n)`` is called after each commit with the number of items committed so far
        in this run.

        ``faces``: also store each new or changed item's faces (boxes and descriptors of the
        descriptor the collection's faces already have, else the default; :meth:`item_faces`),
        which ``search_person`` compares with a gallery's templates; about doubles the time per
        photo.

        ``vectors`` chooses the store of a new collection (see :meth:`Collection.open`);
        ``ray`` (``local``, ``auto`` or ``ray://head:10001``) embeds on a Ray cluster instead of
        in this process (see :mod:`ocula.engine.ray`)."""
        report = IndexReport()
        with self.open_collection(collection, create=True, vectors=vectors) as coll:
            descriptor = faces_descriptor_of(coll)
            known = coll.fingerprints(source)
            wanted = _hashed_entries(entries, within, self.settings.max_image_bytes, report)
            listed = {e.id for e in entries}  # an unreadable listed file keeps its item
            gone = [i for i in known if i not in listed]
            if gone:
                report.removed = coll.delete(gone)
            todo = [(e, h) for e, h in wanted.values() if known.get(e.id, (None, None))[0] != h]
            relabel = {
                e.id: e.metadata
                for e, h in wanted.values()
                if e.id in known and known[e.id][0] == h and known[e.id][1] != e.metadata
            }
            if relabel:
                coll.set_metadata(relabel)
            report.unchanged = len(wanted) - len(todo)
            batch = _CommitBatch(coll, on_commit)
            paths = [e.path for e, _ in todo]
            embedded = (
                self.embed_images(paths, classify=True)
                if ray is None
                else ray_embed_images(paths, ray, self.settings, worker=search_service, classify=True)
            )
            for done, ((entry, sha), e) in enumerate(zip(todo, embedded, strict=False), 1):
                if progress:
                    progress(done, len(todo))
                if e.vector is None:
                    report.failed.append((e.name, str(e.error) if e.error else "no vector"))
                    continue
                try:
                    extras = {"faces": self.item_faces(entry.path, descriptor) if faces else None}
                except OculaError as exc:
                    report.failed.append((e.name, str(exc)))
                    continue
                vector = e.vector
                if entry.id in known:
                    report.updated += 1
                else:
                    report.added += 1
                batch.add(
                    NewItem(
                        entry.id,
                        vector[None],
                        path=str(entry.path),
                        content_sha256=sha,
                        metadata=entry.metadata,
                        source=source,
                        **item_extras(e),
                        **extras,
                    )
                )
            batch.flush()
        return report

    def reindex(
        self,
        collection: str,
        *,
        drop_missing: bool = False,
        progress: Callable[[int, int], None] | None = None,
        faces: bool = True,
    ) -> IndexReport:
        """Rebuild ``collection`` with the current search embedder, from its items' files (and,
        with ``faces``, their faces: how a collection indexed before faces were stored gets them).

        The new collection is built beside the old one and swapped in only when complete; if
        some items' files cannot be read, the old collection is kept unless ``drop_missing``.
        """
        with Collection.open(collection, settings=self.settings) as old:
            store = old.vectors_uri
            by_source: dict[str | None, list[CatalogEntry]] = {}
            unplaced = []
            for item in old.items():
                if item.path is None:
                    unplaced.append(item.id)
                else:
                    by_source.setdefault(item.source, []).append(CatalogEntry(item.id, Path(item.path), item.metadata))
        building = f"{collection}.reindex"
        drop_collection(building, self.settings, missing_ok=True)  # a reindex that was interrupted
        report = IndexReport(failed=[(i, "the item has no file path to embed again") for i in unplaced])
        try:
            for source, entries in by_source.items():
                part = self.index_entries(
                    entries, building, source=source or "", progress=progress, vectors=store, faces=faces
                )
                report.added += part.added
                report.failed += part.failed
            if report.failed and not drop_missing:
                raise InputError(
                    f"{len(report.failed)} item(s) of {collection} cannot be embedded again (first: "
                    f"{report.failed[0][0]}: {report.failed[0][1]}); {collection} is unchanged. Fix the files "
                    "or pass --drop-missing to rebuild without them"
                )
            swap_collection(collection, building, self.settings)
        finally:
            drop_collection(building, self.settings, missing_ok=True)
        return report

    def dedupe(
        self, sources: Iterable[ImageSource], *, threshold: float = DEFAULT_THRESHOLD
    ) -> Dedupe:
        """Near-duplicate groups among ``sources``, largest first, each member with its
        similarity to the group's first, and the unreadable inputs."""
        sources = list(sources)
        kept, vectors, failed = self.embed_all(sources)
        names = [source_name(sources[i]) for i in kept]
        groups = duplicate_groups(vectors, threshold)
        return Dedupe(
            [[Duplicate(names[m], float(s)) for m, s in zip(g.members, g.scores, strict=True)] for g in groups],
            [Unreadable(name, error or ImageError(f"{name}: no vector")) for name, error in failed],
        )

    def search(
        self,
        image: ImageSource,
        collection: str | Collection,
        *,
        k: int = 10,
        where: str | None = None,
        region: Sequence[float] | None = None,
        windows: bool = True,
        text: str | None = None,
    ) -> list[Match]:
        """The ``k`` most similar items of ``collection`` to ``image``, best first.

        ``text`` (words, as :meth:`search_words` takes them): "vehicles like this photo". Rank
        rule: among the items the words match (their ``MAX_WORDED`` best by word score), by
        similarity to ``image`` times word score, so a photo like the query that hardly shows
        what the words name ranks below one that clearly does; ``score`` is that product.

        ``region`` (x0, y0, x1, y1 pixels of the upright image) searches with that part only.
        Without it, the whole photo and (``windows``) a 3 x 3 grid of half-size windows are
        searched, and each item keeps its best match: an item shown small in a scene is found
        (see :func:`~ocula.pipelines.search_embed.subject_windows`); ``Match.query_region``
        says which part matched. ``collection`` is a name, or an open :class:`Collection`
        (left open: a server keeps its collections open between requests)."""
        opened = contextlib.nullcontext(collection) if isinstance(collection, Collection) else None
        with opened or self.open_collection(collection) as coll:
            worded = None if text is None else _word_hits(coll, text, where, MAX_WORDED)
            if worded is not None and not len(worded):
                load_image(image, settings=self.settings)  # a bad photo is refused as such, matches or not
                return []
            # Exact: an item in the top k by its best part is in the top k of that part's search.
            # With words, every matched item is scored (their product is ranked, not similarity).
            fetch = k if worded is None else len(worded)
            rowids = None if worded is None else worded.ids
            best = self._most_similar(image, coll, fetch, where=where, rowids=rowids, region=region, windows=windows)
            if worded is None:
                return sorted(best.values(), key=lambda m: -m.score)[:k]
            word_score = dict(zip(coll.item_ids(worded.ids), worded.scores.tolist(), strict=True))
            ranked = sorted(
                (replace(m, score=m.score * word_score[i]) for i, m in best.items() if i in word_score),
                key=lambda m: -m.score,
            )[:k]
            # Only the k returned items read their concepts (thousands may have been scored).
            return [replace(m, concepts=top_concepts(coll.concept_scores(m.id))) for m in ranked]

    def _most_similar(
        self,
        image: ImageSource,
        coll: Collection,
        fetch: int,
        *,
        where: str | None,
        rowids: np.ndarray | None,
        region: Sequence[float] | None,
        windows: bool,
    ) -> dict[str, Match]:
        """The ``fetch`` items most similar to ``image`` (among ``rowids`` if given), by id, each
        with its best similarity over the photo's parts and the part that matched."""
        embedder = self.image_embedder()
        pixels = load_image(image, settings=self.settings)
        whole: list[int] | None = None  # what the whole of ``pixels`` is in the photo
        if region is not None:
            pixels, clipped = crop_region(pixels, region)
            whole = list(clipped)
        boxes, parts = query_parts(pixels, windows=region is None and windows)
        queries = embedder.embed([embedder.prepare(p) for p in parts])
        best: dict[str, Match] = {}
        for box, found in zip(boxes, coll.search(queries, fetch, where=where, rowids=rowids), strict=False):
            for m in found:
                if m.id not in best or m.score > best[m.id].score:
                    best[m.id] = replace(m, query_region=whole if box is None else list(box))
        return best

    def rank_items(
        self,
        coll: Collection,
        ids: Iterable[str],
        *,
        text: str | None = None,
        image: ImageSource | None = None,
        region: Sequence[float] | None = None,
        windows: bool = True,
    ) -> dict[str, Match]:
        """Of the items ``ids``, those ``text`` matches (all of them without words), by id, each
        scored by its word score (1 without words) times its best similarity to ``image`` (1
        without a photo), with its best concepts when there are words: how a search by person
        ranks the person's items by words and photo (see :func:`ocula.galleries.search_person`)."""
        rowids = coll.rowids_of(ids)
        scores = np.ones(len(rowids), np.float32)
        if text is not None:
            hits = _word_hits(coll, text, None, None)
            keep = np.isin(hits.ids, rowids)
            rowids, scores = hits.ids[keep], hits.scores[keep]
        found = coll.by_rowid(rowids)
        ranked = {
            found[r][0].id: replace(
                found[r][0], score=float(s), concepts=None if text is None else top_concepts(found[r][1])
            )
            for r, s in zip(rowids.tolist(), scores.tolist(), strict=True)
            if r in found  # deleted since the index was read
        }
        if image is None:
            return ranked
        if not ranked:
            load_image(image, settings=self.settings)  # a bad photo is refused as such, matches or not
            return {}
        similar = self._most_similar(
            image, coll, len(rowids), where=None, rowids=rowids, region=region, windows=windows
        )
        return {
            i: replace(similar[i], score=m.score * similar[i].score, concepts=m.concepts)
            for i, m in ranked.items()
            if i in similar
        }

    def search_words(
        self, text: str, collection: str | Collection, *, k: int = 10, where: str | None = None
    ) -> list[Match]:
        """The ``k`` items of ``collection`` that best show what ``text`` names, best first.

        ``text`` is a word query (see :mod:`ocula.text_query`: plurals, synonyms, "dog cat" for
        both, "dog | cat" for either; an unknown word raises UnknownName with the nearest known
        ones). Each match's score is the item's concept score for the words (the summed
        probability of the ImageNet classes under them) and ``concepts`` its best concepts.
        ``where`` filters on metadata first. A collection without concept scores (made before
        they were stored) raises NoConceptScores: ``ocula reindex`` adds them."""
        if not isinstance(k, int) or k < 1:
            raise InputError("k must be a positive integer")
        opened = contextlib.nullcontext(collection) if isinstance(collection, Collection) else None
        with opened or self.open_collection(collection) as coll:
            hits = _word_hits(coll, text, where, k)
            found = coll.by_rowid(hits.ids)
            return [
                replace(found[rowid][0], score=float(score), concepts=top_concepts(found[rowid][1]))
                for rowid, score in zip(hits.ids.tolist(), hits.scores.tolist(), strict=True)
                if rowid in found  # deleted since the index was read
            ]
