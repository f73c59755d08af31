"""The vector index of a collection: FAISS, as a rebuildable cache of what SQLite holds.

Vectors are float32 rows searched by vector id, with one of two metrics: ``ip`` (inner
product; the cosine for the L2-normalised image embeddings) or ``l2`` (for face descriptors,
whose similarity is ``1 - |a - b|^2 / 2``). Either way a search returns scores where higher is
better: the inner product, or ``1 - d^2 / 2`` for squared distance ``d^2``. Small collections get an
exact index (``IndexFlatIP``); from :data:`IVF_MIN_VECTORS` on, an inverted-file index (``IndexIVFFlat``, about
4·√n lists, 64 probed per query), chosen when the index is (re)built from the store. Both delete for real
(``remove_ids``) and filter by id selector; FAISS's HNSW cannot delete, so it is not used.
Snapshots are written to a temporary file and renamed (FAISS files have no journal), tagged with
the store's generation; a snapshot whose generation differs from the store's is discarded and
rebuilt, so a crash can cost time, never correctness. When and from which index a snapshot may
be written (under the store's write lock, only if current) is the collection's business.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np

from ..errors import ConfigError, StoreError

__all__ = ["IVF_MIN_VECTORS", "METRICS", "NPROBE", "SMALL_SEARCH", "FaissVectors", "l2_scores", "search_threads"]

METRICS = ("ip", "l2")


def l2_scores(squared_distances: np.ndarray) -> np.ndarray:
    """Scores (higher is better) from squared L2 distances: ``1 - d^2 / 2``."""
    return (1.0 - 0.5 * np.asarray(squared_distances, np.float32)).astype(np.float32)

IVF_MIN_VECTORS = 50_000  # below this an exact scan is fast enough (benchmarks/vector_index.py)
NPROBE = 64  # 1M x 128: recall@10 0.996 at ~2,500 queries/s (nprobe 32: 0.977; benchmarks/vector_index.py)
EXACT_FILTER_MAX = 100_000  # filtered searches over at most this many ids are exact (correct k)
#: Exact indexes up to this many vectors are scanned with numpy, not faiss: faiss's OpenMP
#: threads cost more than such a scan (a 1-query search of 2 vectors took 15 ms with 2 threads on
#: a loaded 2-core machine, 8 us with 1), and video asks the watchlist once per analysed frame.
NUMPY_SCAN_MAX = 4096
_TRAIN_SAMPLE = 100_000
#: A search comparing fewer query-vector pairs than this runs on one OpenMP thread. FAISS opens a
#: parallel region per call, whose threads wake and spin: on small indexes that costs far more than
#: it saves. One query against 120 face templates on 2 busy cores: 2 ms of CPU (5 ms wall) a
#: search with FAISS's 2 threads, 0.02 ms with one; the scores are the same (each is one dot product).
SMALL_SEARCH = 1_000_000


def search_threads(queries: int, vectors: int) -> int | None:
    """The OpenMP threads a search of ``queries`` against ``vectors`` runs on: 1 for a small one,
    None (FAISS's default, every CPU) otherwise."""
    return 1 if queries * vectors < SMALL_SEARCH else None


@contextmanager
def _omp_threads(faiss: ModuleType, threads: int | None) -> Iterator[None]:
    """FAISS's OpenMP threads set to ``threads`` (None: unchanged) for the calling thread only
    (OpenMP keeps this setting per thread), and put back afterwards."""
    before = faiss.omp_get_max_threads()
    if threads is None or threads >= before:
        yield
        return
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class FaissVectors:
    """A :class:`~ocula.collections.vector_store.VectorStore` that is this process's own copy of
    SQLite's vectors: the collection reloads it when another process writes, so it has nothing
    to catch up on (its outbox steps do nothing), and snapshots it with :meth:`save`."""

    def __init__(self, dim: int, metric: str = "ip"):
        import faiss  # imported here: keeps `import ocula` light

        if metric not in METRICS:
            raise ConfigError(f"unknown vector metric {metric!r}; expected one of {METRICS}")
        self._faiss = faiss
        self.dim, self.metric = dim, metric
        self.index = faiss.IndexIDMap2(self._flat())

    def _flat(self):
        return self._faiss.IndexFlatIP(self.dim) if self.metric == "ip" else self._faiss.IndexFlatL2(self.dim)

    @classmethod
    def build(
        cls, ids: np.ndarray, vectors: np.ndarray, dim: int, *, ivf_min: int | None = None, metric: str = "ip"
    ) -> FaissVectors:
        """An index holding ``vectors`` under ``ids``: exact below ``ivf_min`` vectors
        (default :data:`IVF_MIN_VECTORS`), IVF from there on."""
        out = cls(dim, metric)
        n = len(ids)
        ivf_min = IVF_MIN_VECTORS if ivf_min is None else ivf_min
        if n >= ivf_min:
            faiss = out._faiss
            nlist = int(min(65_536, max(16, 4 * np.sqrt(n))))
            kind = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
            ivf = faiss.IndexIVFFlat(out._flat(), dim, nlist, kind)
            rows = np.random.default_rng(0).choice(n, size=min(n, max(_TRAIN_SAMPLE, 40 * nlist)), replace=False)
            ivf.train(np.ascontiguousarray(vectors[np.sort(rows)], np.float32))
            ivf.nprobe = NPROBE
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct by id, removals allowed
            out.index = ivf
        out.add(ids, vectors)
        return out

    @property
    def is_ivf(self) -> bool:
        return self._faiss.try_extract_index_ivf(self.index) is not None

    def outgrown(self) -> bool:
        """An exact index that now holds enough vectors to be rebuilt as IVF."""
        return not self.is_ivf and len(self) >= IVF_MIN_VECTORS

    @property
    def kind(self) -> str:
        ivf = self._faiss.try_extract_index_ivf(self.index)
        return f"faiss ivf (nlist {ivf.nlist}, nprobe {ivf.nprobe})" if ivf is not None else "faiss flat (exact)"

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.asarray(ids, np.int64))

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self.index.remove_ids(np.asarray(ids, np.int64))

    # -- the outbox steps of a shared store: nothing to do for this process's own copy ---------
    def note_changes(self, db: sqlite3.Connection, vids: Sequence[int]) -> None:
        pass

    def push(self, db: sqlite3.Connection, removed: np.ndarray, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.remove(removed)
        self.add(ids, vectors)

    def catch_up(self, db: sqlite3.Connection) -> None:
        pass

    def close(self) -> None:
        pass  # nothing held open: the index is memory, its snapshot written by the collection

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (q, k); ids are -1 where fewer than k vectors qualify."""
        q = np.ascontiguousarray(queries, np.float32)
        with _omp_threads(self._faiss, search_threads(len(q), len(self))):
            return self._search(q, k, allowed)

    def _search(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, len(self))) if len(self) else 1
        if 0 < len(self) <= NUMPY_SCAN_MAX and self._faiss.try_extract_index_ivf(self.index) is None:
            among = self.ids() if allowed is None else np.intersect1d(self.ids(), np.asarray(allowed, np.int64))
            if len(among):
                return self._padded(*self._exact_among(q, k, among), k)
        if allowed is not None:
            if len(allowed) == 0:
                return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
            ivf = self._faiss.try_extract_index_ivf(self.index)
            if ivf is not None and len(allowed) <= EXACT_FILTER_MAX:
                return self._exact_among(q, k, np.asarray(allowed, np.int64))
            selector = self._faiss.IDSelectorBatch(np.asarray(allowed, np.int64))
            if ivf is not None:
                # Many qualify: the probed lists almost surely hold k of them.
                params = self._faiss.SearchParametersIVF(sel=selector, nprobe=NPROBE)
            else:
                params = self._faiss.SearchParameters(sel=selector)
            return self._scored(*self.index.search(q, k, params=params))
        return self._scored(*self.index.search(q, k))

    def ids(self) -> np.ndarray:
        """The ids of every vector in the index (in no particular order)."""
        ivf = self._faiss.try_extract_index_ivf(self.index)
        if ivf is None:
            return self._faiss.vector_to_array(self.index.id_map).astype(np.int64)
        lists = ivf.invlists
        parts = [
            self._faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).astype(np.int64)
            for i in range(ivf.nlist)
            if lists.list_size(i)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (each must be in the index), shape (len(ids), dim)."""
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        return self.index.reconstruct_batch(np.asarray(ids, np.int64))

    def _scored(self, raw: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (raw if self.metric == "ip" else l2_scores(raw)), ids

    def _padded(self, scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``k`` columns, as faiss answers when fewer than ``k`` vectors qualify: id -1 and the
        score of faiss's empty slot (its worst distance, converted as its scores are)."""
        missing = k - ids.shape[1]
        if missing <= 0:
            return scores, ids
        worst = np.finfo(np.float32).max * (-1 if self.metric == "ip" else 1)
        empty, _ = self._scored(np.full((len(ids), missing), worst, np.float32), ids[:, :0])
        return np.concatenate([scores, empty], axis=1).astype(np.float32), np.concatenate(
            [ids, np.full((len(ids), missing), -1, np.int64)], axis=1
        )

    def _exact_among(self, q: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k among ``allowed`` ids: an IVF index probes only some lists, which may hold
        fewer than k of a small filtered set, so a filter would silently return too few."""
        vectors = self.index.reconstruct_batch(allowed)
        if self.metric == "ip":
            scores = q @ vectors.T
        else:
            scores = 1.0 - 0.5 * ((q * q).sum(1)[:, None] - 2 * q @ vectors.T + (vectors * vectors).sum(1)[None])
        k = min(k, len(allowed))
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, top, axis=1).astype(np.float32), allowed[top]

    # -- snapshots ------------------------------------------------------------------------
    def save(self, path: Path, generation: int) -> None:
        """Write the snapshot at ``path`` in its store's folder, which must exist: a folder that is
        gone was dropped, and must not be made again to hold the vectors."""
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            self._faiss.write_index(self.index, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _write_json_atomic(
                path.with_suffix(".json"), {"generation": generation, "dim": self.dim, "metric": self.metric}
            )
        except (OSError, RuntimeError) as exc:
            raise StoreError(f"cannot write the vector index {path} ({exc})") from None
        finally:
            Path(tmp).unlink(missing_ok=True)

    @staticmethod
    def snapshot_generation(path: Path) -> int | None:
        """The generation the snapshot at ``path`` was written for; None if missing or unreadable."""
        try:
            generation = json.loads(path.with_suffix(".json").read_text(encoding="utf-8")).get("generation")
        except (OSError, ValueError, AttributeError):
            return None
        return generation if isinstance(generation, int) else None

    @classmethod
    def load(cls, path: Path, dim: int, generation: int, metric: str = "ip") -> FaissVectors | None:
        """The snapshot at ``path`` if it belongs to ``generation``; None if missing or stale."""
        try:
            info = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            if info.get("generation") != generation or info.get("dim") != dim or info.get("metric", "ip") != metric:
                return None
            out = cls(dim, metric)
            out.index = out._faiss.read_index(str(path))
            ivf = out._faiss.try_extract_index_ivf(out.index)
            if ivf is not None:
                ivf.nprobe = NPROBE
                ivf.set_direct_map_type(out._faiss.DirectMap.Hashtable)
            return out
        except (OSError, ValueError, RuntimeError):
            return None


def _write_json_atomic(path: Path, obj: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
