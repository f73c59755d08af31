"""A named, persistent collection of items with embeddings: SQLite holds the truth, FAISS answers.

Layout under ``settings.data_dir / "collections" / <name>``:

- ``items.sqlite`` (WAL): ``meta`` (embedder stamp, dimension, generation), ``items`` (id, path,
  content sha256, metadata JSON) and ``vectors`` (vector id, item id, embedder stamp, region,
  float32 blob), and ``concepts`` (item id, the item's compact concept scores, see
  :mod:`ocula.concepts`; ``meta.concepts`` names their concept numbering). Every change is one
  transaction, so a process killed at any point leaves the items that were committed and
  nothing half-written. A search by words uses a :class:`ConceptIndex` of the ``concepts``
  rows built in memory on the first such search and again after any change (by any process:
  the generation says so); 0.1 s at 10,000 items (benchmarks/text_search_collection.py).
- ``vectors.faiss`` + ``vectors.json``: a snapshot of the vector index, valid only for the
  generation it names; otherwise rebuilt from ``vectors`` on open, and the old snapshot removed
  (it may hold vectors erased since). A snapshot is only written under SQLite's write lock and
  only from an index of the store's current generation, so no process writes back vectors
  another process has erased.
- Or, for a collection created with a Milvus store (``meta.vectors``), a Milvus collection kept
  in step through the ``vector_sync`` outbox (see :mod:`ocula.collections.milvus`).

One item can hold several vectors (regions of a product photo, the faces of a person), so the
same storage serves visual search and face galleries. Search returns each item once, with its
best-matching vector.

A store is created whole or not at all (built in a hidden folder, renamed into place). Its
folder is the owner's alone (0700) and its files too (0600): face templates are personal data.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..concepts import CompactScores, ConceptSpace
from ..config import Settings
from ..errors import InputError, NoConceptScores, OculaError, StoreError, UnknownName
from .concept_index import ConceptIndex
from .filters import parse_filter
from .milvus import canonical_vectors_uri, milvus_collection_name
from .vector_store import VectorStore, drop_shared_store, open_shared_store
from .vectors import METRICS, FaissVectors

__all__ = [
    "Collection",
    "Erasure",
    "FaceRows",
    "Item",
    "ItemFaces",
    "Match",
    "NewItem",
    "collection_names",
    "collection_path",
    "drop_collection",
]

log = logging.getLogger("ocula.collections")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # matched whole (fullmatch): no trailing newline
SNAPSHOT = "vectors.faiss"  # beside it vectors.json names its generation
_META_REQUIRED = ("embedder", "dim", "generation")
BUSY_TIMEOUT_MS = 30_000  # how long a write waits for another process's write lock
ERASE_CHECKPOINT_ATTEMPTS = 5  # erase's tries to truncate the WAL past readers (1 s each, ~6.5 s in all)
_ERASING = "erasing:"  # meta keys of erasures begun and not yet finished on disk (see erase())
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    path TEXT,
    content_sha256 TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    source TEXT,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    vid INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    embedder TEXT NOT NULL,
    region TEXT,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS vectors_by_item ON vectors(item_id);
CREATE TABLE IF NOT EXISTS vector_sync (vid INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS item_faces (
    item_id TEXT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    face INTEGER NOT NULL,
    box TEXT NOT NULL,
    descriptor BLOB NOT NULL,
    PRIMARY KEY (item_id, face)
);
CREATE TABLE IF NOT EXISTS concepts (
    item_id TEXT PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    scores BLOB NOT NULL
);
"""
FACES_META = "faces_descriptor"  # meta key: the face descriptor (model@version) of every item_faces row


@dataclass(frozen=True)
class ItemFaces:
    """The faces found in an item's photo: their boxes (n, 4: x0, y0, x1, y1 pixels) and
    descriptors (n, d), all computed by ``descriptor`` (a model stamp, ``name@version``)."""

    descriptor: str
    boxes: np.ndarray
    descriptors: np.ndarray


@dataclass(frozen=True)
class FaceRows:
    """Every stored face of a collection (or of its items a filter keeps), row by row: the item
    each belongs to, its box and its descriptor."""

    item_ids: list[str]
    boxes: np.ndarray  # (n, 4)
    descriptors: np.ndarray  # (n, d)


@dataclass(frozen=True)
class NewItem:
    """An item to add: its id, one or more L2-normalised vectors and what to remember about it."""

    id: str
    vectors: np.ndarray  # (n, dim) float32
    path: str | None = None
    content_sha256: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    regions: Sequence[Sequence[float] | None] | None = None  # one per vector; None = whole image
    source: str | None = None  # the folder or catalog file it was indexed from
    faces: ItemFaces | None = None  # the faces in its photo (None: not searched for faces)
    concepts: CompactScores | None = None  # what the photo shows, by concept (see ocula.concepts)


@dataclass(frozen=True)
class Erasure:
    """What :meth:`Collection.erase` did: how many items existed, and whether the erasure is
    still ``pending`` on disk (another connection kept the write-ahead log from being truncated:
    the erased rows may remain in the store's files until a later open or close finishes it)."""

    items: int
    pending: bool


@dataclass(frozen=True)
class Item:
    """A stored item: what :meth:`Collection.get` and :meth:`Collection.items` return."""

    id: str
    path: str | None
    content_sha256: str | None
    metadata: dict[str, Any]
    n_vectors: int
    source: str | None = None  # the folder or catalog file it was indexed from


@dataclass(frozen=True)
class Match:
    id: str
    score: float
    path: str | None
    metadata: dict[str, Any]
    region: list[float] | None  # the stored vector's region of the item's image (None: whole)
    query_region: list[int] | None = None  # the part of the query photo that matched (None: whole)
    #: The item's best concepts, best first (a search by words fills it; see ocula.concepts).
    concepts: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "path": self.path,
            "score": round(self.score, 6),
            "metadata": self.metadata,
            "region": self.region,
            "query_region": self.query_region,
        }
        if self.concepts is not None:
            out["concepts"] = self.concepts
        return out


#: What an :class:`Item` is read from (its vectors counted through the ``vectors_by_item`` index).
_ITEM_COLUMNS = (
    "id, path, content_sha256, metadata, (SELECT COUNT(*) FROM vectors v WHERE v.item_id = items.id), source"
)


def _face_arrays(rows: Sequence[tuple[str, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    """(boxes (n, 4), descriptors (n, d)) of ``item_faces`` rows (box JSON, descriptor blob)."""
    if not rows:
        return np.zeros((0, 4), np.float32), np.zeros((0, 0), np.float32)
    boxes = np.array([json.loads(r[0]) for r in rows], np.float32)
    return boxes, np.stack([np.frombuffer(r[1], np.float32) for r in rows])


def _item(row: tuple) -> Item:
    return Item(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])


#: Folders under the data dir: visual-search collections, and face galleries (the same storage).
KINDS = {"collections": "collection", "galleries": "gallery"}  # folder -> what one is called


def _root(settings: Settings, kind: str = "collections") -> Path:
    if kind not in KINDS:
        raise InputError(f"unknown kind of collection {kind!r}; expected one of {tuple(KINDS)}")
    return settings.data_dir / kind


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(f"invalid collection name {name!r}: use letters, digits, '_', '.', '-' (up to 64)")
    return name


def collection_names(settings: Settings | None = None, *, kind: str = "collections") -> list[str]:
    root = _root(settings or Settings(), kind)
    if not root.is_dir():
        return []
    # Hidden folders are stores being created (see _create_store), not stores.
    return sorted(p.name for p in root.iterdir() if _NAME.fullmatch(p.name) and (p / "items.sqlite").is_file())


def collection_path(name: str, settings: Settings | None = None, *, kind: str = "collections") -> Path:
    return _root(settings or Settings(), kind) / _check_name(name)


def drop_collection(
    name: str,
    settings: Settings | None = None,
    *,
    missing_ok: bool = False,
    kind: str = "collections",
    only_if_empty: bool = False,
) -> bool:
    """Delete the collection ``name``: its files and, for a Milvus store, its Milvus collection.
    With ``only_if_empty``, only when it holds no item, checked under the store's write lock (so
    an item another process stores meanwhile is never dropped). Returns whether it was dropped."""
    path = _root(settings or Settings(), kind) / _check_name(name)
    if not (path / "items.sqlite").is_file():
        if missing_ok:
            shutil.rmtree(path, ignore_errors=True)
            return True
        raise UnknownName(KINDS[kind], name, collection_names(settings, kind=kind))
    # The files are removed under the store's write lock: a process holding the store open
    # writes its snapshot under that lock too, and then finds the store dropped (see
    # Collection._settle_snapshot) instead of writing into a folder being removed.
    db = sqlite3.connect(path / "items.sqlite", timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        try:
            db.execute("BEGIN IMMEDIATE")
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if only_if_empty and db.execute("SELECT EXISTS (SELECT 1 FROM items)").fetchone()[0]:
                return False
        except sqlite3.Error:
            if only_if_empty:
                return False  # not a store this can tell is empty: kept
            meta = {}  # not a usable store: removed all the same
        if meta.get("vectors", "faiss") != "faiss" and meta.get("milvus_collection"):
            drop_shared_store(meta["vectors"], meta["milvus_collection"], int(meta["dim"]), meta.get("metric", "ip"))
        shutil.rmtree(path)
        return True
    finally:
        db.close()


def _file_id(path: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of ``path``; None if it is gone."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _tighten(path: Path) -> None:
    """Make a store folder the owner's alone: the folder 0700, its files 0600 (SQLite gives the
    -wal and -shm files the database's mode). Stores made by earlier versions (755/644) are
    tightened when opened; one that is not ours to change is left as it is."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
        for f in path.iterdir():
            mode = f.stat().st_mode
            if f.is_file() and mode & 0o077:
                f.chmod(mode & 0o700)
    except OSError:
        pass


def _create_store(path: Path, kind: str, meta: dict[str, str]) -> None:
    """Create the store at ``path`` whole or not at all: its database (schema and ``meta``) is
    built in a hidden folder beside it and renamed into place, so a failed or killed creation
    (a full disk) never leaves a half-made store. If another process created it meanwhile, its
    store is kept."""
    what = f"{KINDS[kind]} {path.name}"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:  # the data folder is a file, or cannot be made there
        raise StoreError(f"cannot create {what}: {path.parent} cannot be made ({exc.strerror or exc})") from None
    tmp = path.parent / f".{path.name}.creating-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir(mode=0o700)
        os.close(os.open(tmp / "items.sqlite", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        db = sqlite3.connect(tmp / "items.sqlite", isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            with db:
                db.execute("BEGIN IMMEDIATE")
                db.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
        finally:
            db.close()  # the last connection: the write-ahead log is merged and removed
        os.rename(tmp, path)  # replaces an empty folder; fails on a non-empty one
    except (OSError, sqlite3.Error) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if (path / "items.sqlite").is_file():
            return  # created by another process meanwhile
        raise StoreError(f"cannot create {what} at {path} ({exc})") from None


def _connect(path: Path, kind: str) -> tuple[sqlite3.Connection, dict[str, str]]:
    """Connect to the existing store at ``path``; (connection, its meta). A database without
    meta (a creation that never finished, in versions before atomic creation) is refused with
    a StoreError that says how to remove it, as is one SQLite cannot read."""
    what = f"{KINDS[kind]} {path.name}"
    drop = f"`ocula {kind} drop {path.name}`"
    _tighten(path)
    try:
        db = sqlite3.connect(
            path / "items.sqlite", timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {what} at {path} ({exc})") from None
    try:
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as exc:
            raise StoreError(
                f"{what} at {path} is not a usable store ({exc}); if it holds nothing you need, remove it with {drop}"
            ) from None
        missing = [k for k in _META_REQUIRED if k not in meta]
        if missing:
            raise StoreError(
                f"{what} at {path} was never fully created (no {', '.join(missing)} recorded); "
                f"remove it with {drop} and create it again"
            )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # with WAL: safe against process crashes
            db.execute("PRAGMA foreign_keys=ON")
            # Deleted rows are overwritten with zeros, not left in free pages (erasure, see erase()).
            db.execute("PRAGMA secure_delete=ON")
            db.executescript(_SCHEMA)  # tables added since the store was made (vector_sync)
            if "source" not in {r[1] for r in db.execute("PRAGMA table_info(items)")}:
                db.execute("ALTER TABLE items ADD COLUMN source TEXT")  # collections made before 0.1.0's catalogs
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {what} at {path} ({exc})") from None
    except BaseException:
        db.close()
        raise
    return db, meta


class Collection:
    """Open with :meth:`open`; use as a context manager or call :meth:`close`."""

    def __init__(self, name: str, path: Path, db: sqlite3.Connection):
        self.name, self.path, self._db = name, path, db
        self._lock = threading.RLock()
        # The database file this connection reads (st_dev, st_ino): a store dropped (or dropped
        # and made again) by another process is told apart from ours by it (see _is_dropped).
        self._file_id = _file_id(path / "items.sqlite")
        #: What opening found wrong on disk and put right (``ocula doctor`` reports it).
        self.repairs: list[str] = []
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        self.embedder: str = meta["embedder"]
        self.dim = int(meta["dim"])
        self.vectors_uri: str = meta.get("vectors", "faiss")  # collections made before 0.1.0's Milvus store
        self.metric: str = meta.get("metric", "ip")
        self._generation_seen = self._generation()
        self._counted: tuple[int, int, int] | None = None  # (generation, items, vectors)
        self._face_rows: tuple[int, FaceRows] | None = None  # (generation, every stored face)
        self._dirty = False
        self._snapshot_error = ""  # why the last snapshot could not be written
        self._vectors: VectorStore  # what searches ask
        #: The same index when it is this process's own FAISS copy (reloaded when another process
        #: writes, snapshotted on disk); None for a store every process shares (Milvus).
        self._local: FaissVectors | None = None
        if self.vectors_uri == "faiss":
            self._reload_vectors()
        else:
            self._vectors = open_shared_store(self.vectors_uri, meta["milvus_collection"], self.dim, self.metric)
            try:
                self._vectors.catch_up(self._db)
            except BaseException:
                self._vectors.close()  # releases a Milvus Lite file for other processes
                raise
        #: Concept numbering of the stored concept scores (None: the store has none; see text_index).
        self.concepts_fingerprint: str | None = meta.get("concepts")
        self._text_index: tuple[int, ConceptIndex] | None = None  # (generation, index of its rows)
        self._finish_interrupted_erasures()

    def _use_local(self, index: FaissVectors) -> None:
        self._vectors = self._local = index

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        name: str,
        *,
        settings: Settings | None = None,
        embedder: str | None = None,
        dim: int | None = None,
        create: bool = False,
        vectors: str | None = None,
        kind: str = "collections",
        metric: str = "ip",
        concepts: str | None = None,
    ) -> Collection:
        """Open the collection ``name``; with ``create`` (and ``embedder``, ``dim``) make it if
        missing, keeping its vectors in ``vectors`` (default ``settings.vectors``: ``faiss``, a
        ``milvus://host:port`` server or a ``milvus-lite:PATH.db`` file). An existing collection
        built with another embedder, or kept in another store than ``vectors``, is refused.
        ``concepts`` (a :class:`~ocula.concepts.ConceptSpace` fingerprint) stamps a new
        collection as storing its items' concept scores under that numbering."""
        settings = settings or Settings()
        path = _root(settings, kind) / _check_name(name)
        exists = (path / "items.sqlite").is_file()
        if not exists and not create:
            raise UnknownName(KINDS[kind], name, collection_names(settings, kind=kind))
        if not exists and (embedder is None or dim is None):
            raise InputError("creating a collection needs its embedder and dimension")
        if metric not in METRICS:
            raise InputError(f"unknown metric {metric!r}; expected one of {METRICS}")
        # The default store matters only for a new collection; an existing one keeps its own.
        store = canonical_vectors_uri(vectors if vectors is not None else (settings.vectors if not exists else "faiss"))
        if not exists and embedder is not None and dim is not None:
            _create_store(path, kind, {
                "embedder": embedder,
                "dim": str(dim),
                "generation": "0",
                "created": str(time.time()),
                "vectors": store,
                "milvus_collection": milvus_collection_name(name, uuid.uuid4().hex[:8]),
                "metric": metric,
                **({"concepts": concepts} if concepts else {}),
            })  # fmt: skip
        db, stamp = _connect(path, kind)
        if embedder is not None and stamp.get("embedder") != embedder:
            db.close()
            raise InputError(
                f"{KINDS[kind]} {name} was built with {stamp.get('embedder')}, not {embedder}; "
                + (
                    f"rebuild it with `ocula reindex --collection {name}`"
                    if kind == "collections"  # a gallery's templates come from photos it does not keep
                    else f"enrol its people again into a new gallery (`ocula galleries drop {name}` removes this one)"
                )
            )
        if vectors is not None and stamp.get("vectors", "faiss") != store:
            db.close()
            raise InputError(f"collection {name} keeps its vectors in {stamp.get('vectors', 'faiss')}, not {store}")
        try:
            return cls(name, path, db)
        except BaseException:
            db.close()
            raise

    def _is_dropped(self) -> bool:
        """Our database file is no longer the store's (``ocula galleries drop``, ``ocula collections
        drop``, maybe followed by a new store of the same name): one stat, a few microseconds."""
        return _file_id(self.path / "items.sqlite") != self._file_id

    @property
    def dropped(self) -> bool:
        """Another process dropped this store since it was opened (maybe making a new one of the
        same name): this handle answers nothing more; open the name again."""
        return self._is_dropped()

    def _check_not_dropped(self) -> None:
        """Refuse to answer from a store another process dropped: what this connection still
        reads is a deleted file, and its people or items must not come back from it."""
        if not self._is_dropped():
            return
        what = KINDS.get(self.path.parent.name, "collection")
        if not (self.path / "items.sqlite").exists():
            raise UnknownName(what, self.name)
        raise StoreError(f"{what} {self.name} was dropped and made again since it was opened; open it again")

    def _generation(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """One read transaction: what is read in it (a generation and the rows it names) belongs
        to one state of the store, whatever other processes commit meanwhile."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    @contextmanager
    def _writing(self, *, changes: bool = True) -> Iterator[None]:
        """One write transaction, holding SQLite's write lock on the store (no other process can
        commit until it ends); SQLite's errors (a full disk, a lock held too long) become StoreError.
        ``changes`` (items or vectors): refused on a store another process dropped, whose file
        nobody would read again."""
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                if changes:
                    self._check_not_dropped()
                yield
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to {self.name} at {self.path} ({exc})") from None

    def _reload_vectors(self, *, use_snapshot: bool = True) -> None:
        """Make the in-memory index the store's as it is now: the snapshot if it is of the current
        generation, else rebuilt from SQLite. A snapshot of another generation is removed at
        once: it may hold vectors erased since it was written, and must not outlive this open.
        Nothing is written here (this runs inside searches, after another process commits): the
        rebuilt index is written by :meth:`flush` or :meth:`close`."""
        snapshot_path = self.path / SNAPSHOT
        with self._reading():
            generation = self._generation()
            snapshot = FaissVectors.load(snapshot_path, self.dim, generation, self.metric) if use_snapshot else None
            if snapshot is None or snapshot.outgrown():  # a grown exact index is rebuilt as IVF
                rebuilt = self._index_from_sqlite()
        self._generation_seen = generation
        if snapshot is not None and not snapshot.outgrown():
            self._use_local(snapshot)
            return
        self._use_local(rebuilt)
        self._dirty = len(rebuilt) > 0  # a rebuilt index is worth a snapshot
        written = FaissVectors.snapshot_generation(snapshot_path)
        if written != generation and any(p.exists() for p in self._snapshot_files()):
            self._remove_stale_snapshot()
            self.repairs.append(
                f"removed a stale vector snapshot (of generation {written}, the store is at {generation}), "
                "which may hold erased vectors"
            )

    def _remove_stale_snapshot(self) -> None:
        """Remove a snapshot of another generation, without waiting for the write lock: removing
        is always safe (a writer writes the index before the generation file that names it, so
        a removal can leave a missing or unnamed snapshot, which is rebuilt, never a stale one
        named current). Temporary files a killed writer left (they may hold erased vectors too)
        are removed under the write lock, where no writer is at work; they are rare."""
        snapshot, generation_file, *orphans = self._snapshot_files()
        try:
            snapshot.unlink(missing_ok=True)
            generation_file.unlink(missing_ok=True)
            if orphans:
                with self._lock, self._writing(changes=False):
                    for orphan in self._snapshot_files()[2:]:
                        orphan.unlink(missing_ok=True)
        except (OSError, StoreError) as exc:
            log.warning("%s: a stale vector snapshot could not be removed from %s (%s)", self.name, self.path, exc)

    def _index_from_sqlite(self) -> FaissVectors:
        ids: list[np.ndarray] = []
        vectors: list[np.ndarray] = []
        rows = self._db.execute("SELECT vid, vector FROM vectors WHERE embedder = ?", (self.embedder,))
        while batch := rows.fetchmany(10_000):
            ids.append(np.array([r[0] for r in batch], np.int64))
            vectors.append(np.stack([np.frombuffer(r[1], np.float32) for r in batch]))
        if not ids:
            return FaissVectors(self.dim, self.metric)
        return FaissVectors.build(np.concatenate(ids), np.concatenate(vectors), self.dim, metric=self.metric)

    # -- the snapshot on disk ---------------------------------------------------------------
    def _snapshot_files(self) -> list[Path]:
        """The snapshot, its generation file, and temporary files a killed writer left behind
        (every writer holds the write lock, so under it any temporary file is orphaned)."""
        snapshot = self.path / SNAPSHOT
        return [snapshot, snapshot.with_suffix(".json"), *self.path.glob(".vectors.*.tmp")]

    def _settle_snapshot(self, *, required: bool, write: bool = True) -> bool:
        """Bring the snapshot on disk in line with the store, under SQLite's write lock so that
        no other process commits meanwhile (and every snapshot writer holds it): our index is
        written only if it is of the store's current generation; otherwise a snapshot of another
        generation is removed, since it may hold vectors erased since. A snapshot that cannot be
        written is removed as well (a rebuild costs time; a stale file would cost an erasure).

        ``write``: False only removes a snapshot of another generation (nothing to write: ours
        is on disk already, or was never changed).
        ``required``: raise StoreError if no stale snapshot could be ruled out; else log it.
        Returns False if our current index could not be written (the disk is safe, not up to date)."""
        if self._local is None:
            return True  # a shared store persists what it is given itself
        snapshot = self.path / SNAPSHOT
        written = True
        try:
            with self._lock, self._writing(changes=False):
                if self._is_dropped():
                    # Dropped by another process (which holds the write lock while it removes the
                    # files): nothing may be written there, and the index holds dropped vectors.
                    self._use_local(FaissVectors(self.dim, self.metric))
                    self._dirty = False
                    return True
                for orphan in self._snapshot_files()[2:]:
                    orphan.unlink(missing_ok=True)
                generation = self._generation()
                if write and generation == self._generation_seen:
                    try:
                        self._local.save(snapshot, generation)
                        self._dirty = False
                        return True
                    except StoreError as exc:
                        log.warning("%s: %s; removing the old snapshot (rebuilt on open)", self.name, exc)
                        self._snapshot_error, written = str(exc), False
                if FaissVectors.snapshot_generation(snapshot) != generation:
                    for f in self._snapshot_files():
                        f.unlink(missing_ok=True)
        except (StoreError, OSError) as exc:
            message = f"{self.name}: cannot bring the vector snapshot in {self.path} up to date ({exc})"
            if required:
                raise StoreError(message) from None
            log.warning("%s", message)
            return False
        return written

    # -- changes --------------------------------------------------------------------------
    def _check(self, item: NewItem) -> None:
        v = np.asarray(item.vectors, np.float32)
        if v.ndim != 2 or v.shape[1] != self.dim or len(v) == 0:
            raise InputError(f"item {item.id!r}: vectors must have shape (n >= 1, {self.dim})")
        if item.regions is not None and len(item.regions) != len(v):
            raise InputError(f"item {item.id!r}: one region per vector")

    def add(self, items: Iterable[NewItem]) -> int:
        """Add or replace items (by id) in one transaction; returns how many were written."""
        items = list(items)
        for item in items:
            self._check(item)
        with self._lock:  # the index changes under the lock too: a search never sees it half-applied
            with self._writing():
                current, removed, added_ids, added_vectors = self._write(items)
            self._apply(current, removed, added_ids, added_vectors)
            self._dirty = True
        return len(items)

    def update(
        self, item_id: str, change: Callable[[Item | None, np.ndarray, list[Any]], NewItem | None]
    ) -> NewItem | None:
        """Read-modify-write one item in one write transaction, so concurrent updates (two
        processes adding photos of one person) cannot lose each other's changes. ``change``
        gets the current item (None if absent), its vectors and their regions, and returns the
        item to store (or None to leave it as is)."""
        with self._lock:
            new = self._update_locked(item_id, change)
        return new

    def _update_locked(
        self, item_id: str, change: Callable[[Item | None, np.ndarray, list[Any]], NewItem | None]
    ) -> NewItem | None:
        with self._writing():
            item = self.get(item_id)
            rows = self._db.execute(
                "SELECT vector, region FROM vectors WHERE item_id = ? ORDER BY vid", (item_id,)
            ).fetchall()
            vectors = (
                np.stack([np.frombuffer(r[0], np.float32) for r in rows])
                if rows
                else np.zeros((0, self.dim), np.float32)
            )
            regions = [None if r[1] is None else json.loads(r[1]) for r in rows]
            new = change(item, vectors, regions)
            if new is None:
                return None
            self._check(new)
            current, removed, added_ids, added_vectors = self._write([new])
        self._apply(current, removed, added_ids, added_vectors)
        self._dirty = True
        return new

    def _write(self, items: list[NewItem]) -> tuple[bool, np.ndarray, list[int], list[np.ndarray]]:
        """Inside a write transaction: replace ``items``; what :meth:`_apply` needs afterwards."""
        removed = self._remove_vectors([i.id for i in items])
        added_ids, added_vectors = [], []
        for item in items:
            self._db.execute(
                "INSERT OR REPLACE INTO items (id, path, content_sha256, metadata, source, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    item.id,
                    item.path,
                    item.content_sha256,
                    json.dumps(item.metadata, ensure_ascii=False),
                    item.source,
                    time.time(),
                ),
            )
            v = np.asarray(item.vectors, np.float32)
            for j, row in enumerate(v):
                region = (
                    None if item.regions is None or item.regions[j] is None else json.dumps(list(item.regions[j]))
                )
                cur = self._db.execute(
                    "INSERT INTO vectors (item_id, embedder, region, vector) VALUES (?, ?, ?, ?)",
                    (item.id, self.embedder, region, row.tobytes()),
                )
                added_ids.append(cur.lastrowid)
                added_vectors.append(row)
            if item.faces is not None:
                self._write_faces(item.id, item.faces)
            if item.concepts is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO concepts (item_id, scores) VALUES (?, ?)",
                    (item.id, item.concepts.to_bytes()),
                )
            else:  # a replaced item keeps no scores of its former photo
                self._db.execute("DELETE FROM concepts WHERE item_id = ?", (item.id,))
        self._outbox(removed, added_ids)
        current = self._bump()
        return current, removed, added_ids, added_vectors

    def _write_faces(self, item_id: str, faces: ItemFaces) -> None:
        """Inside the write transaction: store ``faces`` of ``item_id``. The first faces stored
        name the collection's face descriptor; faces of another are refused (they could not be
        compared with each other, nor with one gallery's templates)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (FACES_META,)).fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES (?, ?)", (FACES_META, faces.descriptor))
        elif row[0] != faces.descriptor:
            raise InputError(
                f"collection {self.name} holds faces described by {row[0]}, not {faces.descriptor}; "
                f"rebuild it with `ocula reindex --collection {self.name}`"
            )
        boxes = np.asarray(faces.boxes, np.float64).reshape(-1, 4)
        descriptors = np.asarray(faces.descriptors, np.float32)
        if len(descriptors) != len(boxes):
            raise InputError(f"item {item_id!r}: one box per face descriptor")
        self._db.executemany(
            "INSERT INTO item_faces (item_id, face, box, descriptor) VALUES (?, ?, ?, ?)",
            [
                (item_id, j, json.dumps([round(float(v), 1) for v in box]), d.tobytes())
                for j, (box, d) in enumerate(zip(boxes, descriptors, strict=True))
            ],
        )

    def issue(self, counter: str, n: int, *, after: int = 0) -> range:
        """``n`` numbers ``counter`` never issued before in this store (cluster ids, say): the count
        is kept in the store's meta and raised in one write transaction, so two processes never
        get the same number and a number named away or deleted never comes back. The first is
        past ``after`` too (what a store from before the count already holds)."""
        if not isinstance(n, int) or n < 0:
            raise InputError(f"cannot issue {n!r} numbers")
        key = f"issued:{counter}"
        with self._lock, self._writing():
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            issued = max(int(row[0]) if row else 0, after)
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(issued + n)))
        return range(issued + 1, issued + n + 1)

    def delete(self, ids: Iterable[str]) -> int:
        """Delete items; their vectors can no longer be returned. Returns how many existed.

        An item with stored faces is erased (:meth:`erase`): face descriptors are personal data,
        so deleting them removes them from the store's files too, whoever deletes (``ocula items
        delete``, the service, an index run dropping a file that is gone)."""
        ids = list(ids)
        if self._hold_faces(ids):
            return self.erase(ids).items
        return self._delete(ids)

    def _hold_faces(self, ids: list[str]) -> bool:
        return any(
            self._db.execute("SELECT 1 FROM item_faces WHERE item_id = ? LIMIT 1", (item_id,)).fetchone()
            for item_id in ids
        )

    def _delete(self, ids: list[str], erasing: str | None = None) -> int:
        """:meth:`delete`; ``erasing``: a meta key noting, in the same transaction, an erasure
        that is not finished on disk until :meth:`_finish_erasures` removes it."""
        with self._lock:
            with self._writing():
                removed = self._remove_vectors(ids)
                count = 0
                for item_id in ids:
                    self._db.execute("DELETE FROM concepts WHERE item_id = ?", (item_id,))
                    count += self._db.execute("DELETE FROM items WHERE id = ?", (item_id,)).rowcount
                self._outbox(removed, [])
                if erasing is not None:
                    self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (erasing, str(time.time())))
                current = self._bump()
            self._apply(current, removed, [], [])
            self._dirty = True
        return count

    def erase(self, ids: Iterable[str]) -> Erasure:
        """:meth:`delete`, then make the deletion durable on disk: the vector snapshot is
        rewritten without the vectors (or removed, if another process changed the store
        meanwhile) and the SQLite write-ahead log is checkpointed and truncated, so neither the
        rows (zeroed by ``secure_delete``) nor older copies of them remain in this collection's
        files. Returns how many items existed and whether the files are clean yet.

        The erasure is noted in the store in the same transaction as the deletion and the note
        removed once the files are clean; a process stopped in between leaves the note, and the
        next process to open or close the store finishes the erasure. No process writes a
        snapshot from an index older than the store, so one holding the collection open cannot
        write the erased vectors back. Another connection reading at that moment (another
        process's long read, a backup tool, an ``sqlite3`` shell) keeps the WAL from being
        truncated: erase retries for a few seconds (:data:`ERASE_CHECKPOINT_ATTEMPTS`), then
        returns with ``pending`` True, the note kept; the erased rows may then stay in the WAL
        and the database file until a later open or close finds no reader in the way.

        On a Milvus store, the rows are deleted through the Milvus client; Milvus (and Milvus
        Lite) may keep the data in its segment files until its own compaction, which ocula
        does not start nor guarantee."""
        marker = f"{_ERASING}{uuid.uuid4().hex}"
        count = self._delete(list(ids), erasing=marker)
        # Every noted erasure, not only this one: a clean WAL finishes the ones left pending too.
        clean = self._finish_erasures(sorted({marker, *self._erasure_markers()}), required=True, patient=True)
        return Erasure(count, pending=not clean)

    def _finish_erasures(self, markers: list[str], *, required: bool, patient: bool = False) -> bool:
        """Clean the files after erasures (the snapshot, then the WAL) and drop their notes;
        False if the WAL could not be truncated (the notes stay for a later open or close).
        ``patient``: retry the checkpoint for a few seconds (erase); else one attempt that does
        not wait for readers (open, close), so a reader that stays open does not slow them down."""
        self._settle_snapshot(required=required, write=self._dirty)
        if patient:
            clean = self.checkpoint(attempts=ERASE_CHECKPOINT_ATTEMPTS)
        else:
            clean = self.checkpoint(attempts=1, busy_ms=0)
        if not clean:
            return False
        with self._lock, self._writing(changes=False):
            self._db.executemany("DELETE FROM meta WHERE key = ?", [(m,) for m in markers])
        return True

    def _erasure_markers(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT key FROM meta WHERE key LIKE ?", (f"{_ERASING}%",))]

    def unfinished_erasures(self) -> int:
        """Erasures committed whose files are not clean yet (a process stopped in between, or
        another process kept the WAL from being truncated); opening or closing the store
        finishes them."""
        return len(self._erasure_markers())

    def _finish_interrupted_erasures(self) -> None:
        """At open: finish the erasures a stopped process committed but did not clean up."""
        markers = self._erasure_markers()
        if not markers:
            return
        try:
            finished = self._finish_erasures(markers, required=True)
            if not finished:
                log.warning("%s: an erasure is still pending (another connection reads the store)", self.name)
        except StoreError as exc:
            log.warning("%s: an interrupted erasure could not be finished (%s)", self.name, exc)
            finished = False
        if finished:
            self.repairs.append("finished an erasure a stopped process had left half done (snapshot, write-ahead log)")

    @property
    def index_count(self) -> int:
        """Vectors in the vector index (FAISS in memory, or the Milvus collection)."""
        with self._lock:
            return len(self._vectors)

    @property
    def snapshot_stale(self) -> bool:
        """The FAISS snapshot on disk does not match the store (it was rebuilt in memory at
        open, or changes are not yet written); :meth:`flush` writes it."""
        return self._dirty

    def rebuild_index(self) -> None:
        """Rebuild the FAISS index from SQLite, ignoring the snapshot, and write a new one."""
        if self._local is None:
            raise InputError(f"collection {self.name} keeps its vectors in {self.vectors_uri}: use ocula reindex")
        with self._lock:
            self._reload_vectors(use_snapshot=False)
            self._dirty = True
            if not self._settle_snapshot(required=True):
                raise StoreError(f"{self.name}: the vector snapshot could not be written ({self._snapshot_error})")

    def checkpoint(self, attempts: int = ERASE_CHECKPOINT_ATTEMPTS, busy_ms: int = 1000) -> bool:
        """Checkpoint the write-ahead log into the database file and truncate it, trying
        ``attempts`` times, each waiting up to ``busy_ms`` for readers; False if another
        connection kept it from finishing (with a warning in the log after several attempts)."""
        for attempt in range(attempts):
            with self._lock:
                # TRUNCATE waits for readers through the busy handler: 1 s each try by default,
                # not the 30 s a write waits for the lock, so a long reader cannot stall an erase
                # for minutes (about 6.5 s in all with the default attempts).
                self._db.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
                try:
                    busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                finally:
                    self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not busy:
                return True
            if attempt + 1 == attempts:
                break
            time.sleep(0.05 * 2**attempt)
        if attempts == 1:
            return False
        log.warning("collection %s: the write-ahead log could not be truncated (another reader holds it)", self.name)
        return False

    def _remove_vectors(self, item_ids: list[str]) -> np.ndarray:
        vids: list[int] = []
        for item_id in item_ids:
            vids += [r[0] for r in self._db.execute("SELECT vid FROM vectors WHERE item_id = ?", (item_id,))]
            self._db.execute("DELETE FROM vectors WHERE item_id = ?", (item_id,))
            self._db.execute("DELETE FROM item_faces WHERE item_id = ?", (item_id,))  # with the item, always
        return np.array(vids, np.int64)

    def _bump(self) -> bool:
        """Advance the generation inside the current write transaction. Returns whether our
        in-memory index was current before it (False: another process wrote since; reload)."""
        current = self._generation() == self._generation_seen
        self._db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        self._generation_seen = self._generation()
        return current

    def _outbox(self, removed: np.ndarray, added: list[int]) -> None:
        """Inside the write transaction: let the store note the vector ids it must catch up on."""
        self._vectors.note_changes(self._db, [int(v) for v in [*removed, *added]])

    def _apply(self, current: bool, removed: np.ndarray, ids: list[int], vectors: list[np.ndarray]) -> None:
        """After the write transaction: bring the vector store in line. This process's own copy
        is reloaded instead if another process wrote since it was loaded."""
        if self._local is not None and not current:
            self._reload_vectors()
            return
        added = np.stack(vectors) if vectors else np.zeros((0, self.dim), np.float32)
        self._vectors.push(self._db, removed, np.array(ids, np.int64), added)

    # -- reading --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.counts()[0]

    def counts(self) -> tuple[int, int]:
        """(items, vectors), counted again only after a change (COUNT(*) scans: ~10 ms at 1M rows)."""
        with self._lock:
            self._check_not_dropped()
            generation = self._generation()
            if self._counted is None or self._counted[0] != generation:
                items = int(self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
                vectors = int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
                self._counted = (generation, items, vectors)
            return self._counted[1], self._counted[2]

    def get(self, item_id: str) -> Item | None:
        self._check_not_dropped()
        row = self._db.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,)).fetchone()
        return None if row is None else _item(row)

    def vectors(self, item_id: str) -> np.ndarray:
        """The stored vectors of ``item_id``, shape (n, dim); (0, dim) if it has none."""
        self._check_not_dropped()
        rows = self._db.execute("SELECT vector FROM vectors WHERE item_id = ? ORDER BY vid", (item_id,)).fetchall()
        if not rows:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([np.frombuffer(r[0], np.float32) for r in rows])

    def items(self) -> Iterator[Item]:
        """Every item, in id order."""
        self._check_not_dropped()
        for row in self._db.execute(f"SELECT {_ITEM_COLUMNS} FROM items ORDER BY id"):
            yield _item(row)

    @property
    def faces_descriptor(self) -> str | None:
        """The descriptor (``name@version``) of the faces stored with the items; None if none are."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (FACES_META,)).fetchone()
        return None if row is None else row[0]

    def faces(self, item_id: str) -> ItemFaces | None:
        """The faces stored with ``item_id`` (none found: zero rows); None if no faces were stored."""
        self._check_not_dropped()
        descriptor = self.faces_descriptor
        rows = self._db.execute(
            "SELECT box, descriptor FROM item_faces WHERE item_id = ? ORDER BY face", (item_id,)
        ).fetchall()
        if descriptor is None:
            return None
        return ItemFaces(descriptor, *_face_arrays(rows))

    def face_rows(self, where: str | None = None) -> FaceRows:
        """Every stored face (of the items ``where`` keeps): what a search by person compares
        with a gallery's templates. Read from SQLite once per generation of the store."""
        with self._lock:
            self._check_not_dropped()
            with self._reading():
                generation = self._generation()
                if self._face_rows is None or self._face_rows[0] != generation:
                    rows = self._db.execute("SELECT item_id, box, descriptor FROM item_faces ORDER BY item_id, face")
                    batch = rows.fetchall()
                    boxes, descriptors = _face_arrays([r[1:] for r in batch])
                    self._face_rows = (generation, FaceRows([r[0] for r in batch], boxes, descriptors))
                every = self._face_rows[1]
                if not where:
                    return every
                kept = self._filtered_ids(where)
        mask = np.array([i in kept for i in every.item_ids], bool)
        return FaceRows([i for i in every.item_ids if i in kept], every.boxes[mask], every.descriptors[mask])

    def _filtered_ids(self, where: str) -> set[str]:
        f = parse_filter(where)
        try:
            return {r[0] for r in self._db.execute(f"SELECT items.id FROM items WHERE {f.sql}", f.params)}
        except sqlite3.Error as exc:
            raise InputError(f"cannot apply the filter {where!r} ({exc})") from None

    def fingerprints(self, source: str) -> dict[str, tuple[str | None, dict[str, Any]]]:
        """id → (content sha256, metadata) of the items indexed from ``source``: what an
        incremental run compares against."""
        rows = self._db.execute("SELECT id, content_sha256, metadata FROM items WHERE source = ?", (source,))
        return {r[0]: (r[1], json.loads(r[2])) for r in rows}

    def set_metadata(self, updates: dict[str, dict[str, Any]]) -> int:
        """Replace the metadata of existing items (their vectors stay); returns how many exist."""
        with self._lock, self._writing():
            return sum(
                self._db.execute(
                    "UPDATE items SET metadata = ? WHERE id = ?", (json.dumps(m, ensure_ascii=False), i)
                ).rowcount
                for i, m in updates.items()
            )

    def search(
        self, queries: np.ndarray, k: int = 10, *, where: str | None = None, rowids: np.ndarray | None = None
    ) -> list[list[Match]]:
        """The ``k`` best items for each query vector (rows of ``queries``), best first.

        ``where`` filters on metadata before ranking (see :mod:`ocula.collections.filters`), so
        every returned item matches and there are ``k`` of them whenever ``k`` items match;
        ``rowids`` (items' rowids, e.g. those a search by words matched) restricts it further.
        """
        q = np.atleast_2d(np.asarray(queries, np.float32))
        if q.shape[1] != self.dim:
            raise InputError(f"query vectors must have {self.dim} dimensions, not {q.shape[1]}")
        if not isinstance(k, int) or k < 1:
            raise InputError("k must be a positive integer")
        allowed = None
        if where or rowids is not None:
            f = parse_filter(where) if where else None
            try:
                rows = self._db.execute(
                    "SELECT v.vid, items.rowid FROM vectors v JOIN items ON items.id = v.item_id"
                    + (f" WHERE {f.sql}" if f else ""),
                    f.params if f else (),
                ).fetchall()
            except sqlite3.Error as exc:
                raise InputError(f"cannot apply the filter {where!r} ({exc})") from None
            pairs = np.array(rows, np.int64).reshape(-1, 2)
            keep = np.isin(pairs[:, 1], rowids) if rowids is not None else np.ones(len(pairs), bool)
            allowed = pairs[keep, 0]
        out: list[list[Match]] = []
        with self._lock:
            self._check_not_dropped()
            if self._local is not None and self._generation() != self._generation_seen:  # another process wrote
                self._reload_vectors()
            # Items with several vectors can take several of the top slots: widen until k items.
            fetch = k
            while True:
                scores, vids = self._vectors.search(q, fetch, allowed)
                grouped = [self._group(s, v, k) for s, v in zip(scores, vids, strict=False)]
                if all(len(g) >= k for g in grouped):
                    break
                n = len(self._vectors)
                if fetch >= n:
                    break
                fetch = min(fetch * 4, n)
        for best in grouped:
            out.append(best)
        return out

    def _group(self, scores: np.ndarray, vids: np.ndarray, k: int) -> list[Match]:
        seen: dict[str, Match] = {}
        for score, vid in zip(scores, vids, strict=False):
            if vid < 0 or len(seen) >= k:
                continue
            row = self._db.execute(
                "SELECT items.id, items.path, items.metadata, v.region FROM vectors v "
                "JOIN items ON items.id = v.item_id WHERE v.vid = ?",
                (int(vid),),
            ).fetchone()
            if row is None or row[0] in seen:
                continue
            seen[row[0]] = Match(
                row[0], float(score), row[1], json.loads(row[2]), None if row[3] is None else json.loads(row[3])
            )
        return list(seen.values())

    # -- words ----------------------------------------------------------------------------
    def text_index(self, space: ConceptSpace) -> ConceptIndex:
        """The concept index of the stored concept scores (its item ids are the items' rowids),
        rebuilt from SQLite whenever the store changed since it was built (any process's add or
        delete advances the generation): never stale, and nothing to keep in step on disk.
        ``space`` is the caller's concept numbering; a store stamped with another one, or with
        none, raises NoConceptScores."""
        if self.concepts_fingerprint is None:
            raise NoConceptScores(self.name)
        if self.concepts_fingerprint != space.fingerprint:
            raise NoConceptScores(self.name, "stores concept scores of another concept numbering")
        with self._lock, self._reading():
            self._check_not_dropped()
            generation = self._generation()
            if self._text_index is None or self._text_index[0] != generation:
                rows = self._db.execute(
                    "SELECT items.rowid, concepts.scores FROM concepts JOIN items ON items.id = concepts.item_id "
                    "ORDER BY items.added_at, items.rowid"
                )
                self._text_index = (generation, ConceptIndex.from_rows(rows, len(space)))
            return self._text_index[1]

    def rowids(self, where: str | None = None) -> np.ndarray:
        """The rowids of the items matching ``where`` (all items when None), ascending."""
        f = parse_filter(where) if where else None
        sql = "SELECT rowid FROM items" + (f" WHERE {f.sql}" if f else "") + " ORDER BY rowid"
        try:
            return np.array([r[0] for r in self._db.execute(sql, f.params if f else ())], np.int64)
        except sqlite3.Error as exc:
            raise InputError(f"cannot apply the filter {where!r} ({exc})") from None

    def by_rowid(self, rowids: Iterable[int]) -> dict[int, tuple[Match, CompactScores | None]]:
        """The items of ``rowids`` that exist, by rowid, as matches scoring 0, each with its
        stored concept scores."""
        out = {}
        for rowid in rowids:
            row = self._db.execute(
                "SELECT items.id, items.path, items.metadata, concepts.scores FROM items "
                "LEFT JOIN concepts ON concepts.item_id = items.id WHERE items.rowid = ?",
                (int(rowid),),
            ).fetchone()
            if row is not None:
                scores = None if row[3] is None else CompactScores.from_bytes(row[3])
                out[int(rowid)] = (Match(row[0], 0.0, row[1], json.loads(row[2]), None), scores)
        return out

    def item_ids(self, rowids: np.ndarray) -> list[str | None]:
        """The id of the item of each rowid (None where there is none)."""
        found: dict[int, str] = {}
        wanted = [int(r) for r in rowids]
        for start in range(0, len(wanted), 500):  # SQLite caps the parameters of one statement
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT rowid, id FROM items WHERE rowid IN ({marks})", chunk).fetchall())
        return [found.get(r) for r in wanted]

    def rowids_of(self, ids: Iterable[str]) -> np.ndarray:
        """The rowids of the items ``ids`` names that exist, ascending."""
        wanted, found = list(ids), []
        for start in range(0, len(wanted), 500):  # SQLite caps the parameters of one statement
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found += [r[0] for r in self._db.execute(f"SELECT rowid FROM items WHERE id IN ({marks})", chunk)]
        return np.array(sorted(found), np.int64)

    def concept_scores(self, item_id: str) -> CompactScores | None:
        """The stored concept scores of ``item_id`` (None: none stored)."""
        row = self._db.execute("SELECT scores FROM concepts WHERE item_id = ?", (item_id,)).fetchone()
        return None if row is None else CompactScores.from_bytes(row[0])

    def info(self) -> dict[str, Any]:
        items, n_vectors = self.counts()
        return {
            "name": self.name,
            "path": str(self.path),
            "embedder": self.embedder,
            "dim": self.dim,
            "items": items,
            "vectors": n_vectors,
            "vectors_store": self.vectors_uri,
            "metric": self.metric,
            "index": self._vectors.kind,
        }

    # -- lifetime -------------------------------------------------------------------------
    def flush(self) -> None:
        """Write the vector index snapshot if it changed (it is only a cache; skipping it costs
        a rebuild), unless another process changed the store since: an older index is never
        written. StoreError if it could not be written nor the old one removed. Milvus persists
        what it is given itself."""
        with self._lock:
            if self._dirty and not self._settle_snapshot(required=True):
                raise StoreError(f"{self.name}: the vector snapshot could not be written ({self._snapshot_error})")

    def index_differences(self) -> str | None:
        """How the FAISS index differs from SQLite's vectors (ids, then values); None if it
        holds exactly them. ``ocula doctor`` checks the content of a snapshot with it."""
        if self._local is None:
            return None
        with self._lock:
            if self._generation() != self._generation_seen:
                self._reload_vectors()
            local = self._local
            with self._reading():
                if self._generation() != self._generation_seen:
                    return None  # another process is writing: nothing to judge against
                return self._id_differences(local) or self._value_differences(local)

    def _id_differences(self, local: FaissVectors) -> str | None:
        query = "SELECT vid FROM vectors WHERE embedder = ? ORDER BY vid"
        stored = np.array([r[0] for r in self._db.execute(query, (self.embedder,))], np.int64)
        indexed = np.sort(local.ids())
        if np.array_equal(indexed, stored):
            return None
        missing, extra = np.setdiff1d(stored, indexed).size, np.setdiff1d(indexed, stored).size
        return f"held {len(indexed)} vectors for SQLite's {len(stored)} ({missing} missing, {extra} not in SQLite)"

    def _value_differences(self, local: FaissVectors) -> str | None:
        rows = self._db.execute("SELECT vid, vector FROM vectors WHERE embedder = ? ORDER BY vid", (self.embedder,))
        try:
            while batch := rows.fetchmany(10_000):
                ids = np.array([r[0] for r in batch], np.int64)
                stored = np.stack([np.frombuffer(r[1], np.float32) for r in batch])
                if not np.array_equal(local.vectors_of(ids), stored):
                    return "held other values than SQLite for some vectors"
        finally:
            rows.close()  # ends the statement before the read transaction
        return None

    def close(self) -> None:
        """Write the snapshot if it changed, then release the store. A snapshot that cannot be
        written is logged, never raised: it is a cache, and an error already on its way (a
        failed write) must not be replaced by it. Erasures left unfinished are finished first."""
        try:
            if markers := self._erasure_markers():
                self._finish_erasures(markers, required=False)
            self.flush()
        except (OculaError, sqlite3.Error, OSError) as exc:
            log.warning("%s: the vector snapshot was not written (%s); it is rebuilt on open", self.name, exc)
        finally:
            self._vectors.close()
            self._db.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
