"""A collection's vectors on Milvus: a server (``milvus://host:port``) or a Milvus Lite file.

Milvus takes the place of the FAISS cache; SQLite stays the truth for items, metadata and the
vectors themselves. Every change also writes the changed vector ids to an outbox table in the
same SQLite transaction; once Milvus has them, the ids leave the outbox. A process killed in
between leaves them there, and the next open replays them: each id is made to match SQLite
(present there: upserted; gone: deleted), which is idempotent and order-free, so replays by
several processes cannot disagree. (Two live writers can still race: one upserting
an id after the other deleted it leaves a stale vector in Milvus. It is never returned, since
matches are joined with SQLite, but it takes a result slot until the collection is dropped or
reindexed; the widening search keeps k correct.) Searches use Strong consistency: right after a delete, a
server on its default (Bounded) level may still return the deleted id.

Milvus Lite (pymilvus's embedded mode) runs the same client code as a server; it is meant for
tests and small setups (it scans and masks deletes per query), not as a fast default.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError

__all__ = ["MAX_TOPK", "MilvusVectors", "canonical_vectors_uri", "milvus_collection_name"]

MAX_TOPK = 16_384  # Milvus refuses a larger limit per search
IN_FILTER_MAX = 16_384  # filtered searches over at most this many ids pass them to Milvus (pre-filter)
_BATCH = 1_000
# Milvus Lite serves a file from inside the process that opened it, and only one process may
# hold it; the file is released when the last store of this process using it closes.
_lite_users: dict[str, int] = {}
_lite_lock = threading.Lock()
_FIELD_ID, _FIELD_VECTOR = "vid", "vector"


def canonical_vectors_uri(uri: str) -> str:
    """``faiss`` | ``milvus://host:port`` | ``milvus+https://host:port`` | ``milvus-lite:/abs/file.db``
    (a bare path ending in ``.db`` means Milvus Lite). Relative Lite paths become absolute, so a
    collection finds its file from any working directory."""
    text = str(uri).strip()
    if text in ("", "faiss"):
        return "faiss"
    if re.match(r"^milvus(\+https?)?://[^/\s]+/?$", text):
        return text.rstrip("/")
    if text.startswith("milvus-lite:") or text.endswith(".db"):
        path = Path(text.removeprefix("milvus-lite:")).expanduser().resolve()
        return f"milvus-lite:{path}"
    raise InputError(
        f"unknown vector store {uri!r}: use 'faiss', 'milvus://host:port', 'milvus+https://host:port' "
        "or a Milvus Lite file 'milvus-lite:PATH.db'"
    )


def _client_uri(canonical: str) -> str:
    if canonical.startswith("milvus-lite:"):
        return canonical.removeprefix("milvus-lite:")
    if canonical.startswith("milvus+"):
        return canonical.removeprefix("milvus+")
    return "http://" + canonical.removeprefix("milvus://")


def milvus_collection_name(name: str, token: str) -> str:
    """A Milvus collection name (letters, digits, '_') for the ocula collection ``name``; the
    token keeps a rebuilt collection (ocula reindex) apart from the one it replaces."""
    return f"ocula_{re.sub(r'[^A-Za-z0-9_]', '_', name)}_{token}"


class MilvusVectors:
    """A :class:`~ocula.collections.vector_store.VectorStore` every process shares, kept in step
    with SQLite through the ``vector_sync`` outbox (see the module's docstring)."""

    def __init__(self, uri: str, collection: str, dim: int, metric: str = "ip", *, load: bool = True):
        try:
            from pymilvus import DataType, MilvusClient, MilvusException
        except ImportError:
            raise ConfigError(f"the vector store {uri} needs pymilvus: pip install 'ocula[milvus]'") from None
        self._error = MilvusException
        self.uri, self.collection, self.dim, self.metric = uri, collection, dim, metric
        self._metric_type = "IP" if metric == "ip" else "L2"
        target = _client_uri(uri)
        if uri.startswith("milvus-lite:"):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self._lite = target if uri.startswith("milvus-lite:") else None
        try:
            # A token for a secured server comes from the environment, never from the stored URI.
            self._client = MilvusClient(uri=target, token=os.environ.get("OCULA_MILVUS_TOKEN", ""))
            if self._lite:
                with _lite_lock:
                    _lite_users[self._lite] = _lite_users.get(self._lite, 0) + 1
            if not self._client.has_collection(collection):
                schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
                schema.add_field(_FIELD_ID, DataType.INT64, is_primary=True)
                schema.add_field(_FIELD_VECTOR, DataType.FLOAT_VECTOR, dim=dim)
                index = self._client.prepare_index_params()
                index.add_index(field_name=_FIELD_VECTOR, index_type="AUTOINDEX", metric_type=self._metric_type)
                self._client.create_collection(
                    collection, schema=schema, index_params=index, consistency_level="Strong"
                )
            elif load:  # a restarted server (or Lite file) holds collections released from memory
                self._client.load_collection(collection)
        except (MilvusException, OSError, ValueError) as exc:
            hint = (
                " (a Milvus Lite file serves one process at a time; use a Milvus server for more)" if self._lite else ""
            )
            raise ConfigError(f"cannot use the Milvus vector store {uri} ({exc}){hint}") from None

    @property
    def kind(self) -> str:
        return f"milvus {self.uri} (collection {self.collection})"

    def __len__(self) -> int:
        rows = self._call(
            self._client.query, self.collection, filter="", output_fields=["count(*)"], consistency_level="Strong"
        )
        return int(rows[0]["count(*)"])

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._error as exc:
            raise ConfigError(f"Milvus ({self.uri}) failed: {exc}") from None

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, np.float32)
        for start in range(0, len(ids), _BATCH):
            rows = [
                {_FIELD_ID: int(i), _FIELD_VECTOR: v.tolist()}
                for i, v in zip(ids[start : start + _BATCH], vectors[start : start + _BATCH], strict=False)
            ]
            self._call(self._client.upsert, self.collection, rows)

    def remove(self, ids: np.ndarray) -> None:
        for start in range(0, len(ids), _BATCH):
            self._call(self._client.delete, self.collection, ids=[int(i) for i in ids[start : start + _BATCH]])

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (q, k); ids are -1 where fewer than k vectors qualify.

        A filter of up to :data:`IN_FILTER_MAX` ids is passed to Milvus, which applies it before
        ranking (exact k). A larger one is applied to widening result lists (up to
        :data:`MAX_TOPK`), which can return fewer than k only when the filter is both that
        large and rarer than 1 in ``MAX_TOPK / k`` of the collection."""
        q = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
        k = max(1, min(int(k), MAX_TOPK))
        scores = np.full((len(q), k), -np.inf, np.float32)
        ids = np.full((len(q), k), -1, np.int64)
        if allowed is not None and len(allowed) == 0:
            return scores, ids
        if allowed is not None and len(allowed) <= IN_FILTER_MAX:
            expr = f"{_FIELD_ID} in [{','.join(str(int(i)) for i in allowed)}]"
            return self._search(q, k, expr, scores, ids)
        if allowed is None:
            return self._search(q, k, "", scores, ids)
        allowed_set = np.asarray(allowed, np.int64)
        limit = min(MAX_TOPK, 4 * k)
        while True:
            s, i = self._search(
                q, limit, "", np.full((len(q), limit), -np.inf, np.float32), np.full((len(q), limit), -1, np.int64)
            )
            keep = np.isin(i, allowed_set)
            for row in range(len(q)):
                hit = np.flatnonzero(keep[row])[:k]
                scores[row, : len(hit)], ids[row, : len(hit)] = s[row, hit], i[row, hit]
            if (ids >= 0).all() or limit >= MAX_TOPK or (i < 0).any():
                return scores, ids
            limit = min(MAX_TOPK, limit * 4)

    def _search(self, q, k, expr, scores, ids):
        hits = self._call(
            self._client.search,
            self.collection,
            data=q.tolist(),
            limit=k,
            filter=expr,
            output_fields=[_FIELD_ID],
            search_params={"metric_type": self._metric_type},
            consistency_level="Strong",
        )
        for row, found in enumerate(hits):
            for j, hit in enumerate(found[:k]):
                # Milvus reports L2 as the squared distance: score 1 - d^2 / 2, as FAISS's store.
                distance = hit["distance"]
                scores[row, j] = distance if self.metric == "ip" else 1.0 - 0.5 * distance
                ids[row, j] = hit[_FIELD_ID]
        return scores, ids

    # -- the outbox ------------------------------------------------------------------------
    def note_changes(self, db: sqlite3.Connection, vids: Sequence[int]) -> None:
        """Inside the write transaction: note the vector ids Milvus must catch up on."""
        db.executemany("INSERT OR IGNORE INTO vector_sync (vid) VALUES (?)", [(int(v),) for v in vids])

    def push(self, db: sqlite3.Connection, removed: np.ndarray, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Apply a committed change and clear its ids from the outbox. Changes an earlier failed
        push left in the outbox go first (not only at open). Milvus is shared by every process,
        so another process's write does not make this store stale."""
        done = [int(v) for v in [*removed, *ids]]
        if db.execute("SELECT 1 FROM vector_sync WHERE vid NOT IN (SELECT value FROM json_each(?)) LIMIT 1",
                      (json.dumps(done),)).fetchone():  # fmt: skip
            self.catch_up(db)
        self.remove(removed)
        if len(ids):
            self.add(ids, vectors)
        with db:
            db.executemany("DELETE FROM vector_sync WHERE vid = ?", [(v,) for v in done])

    def catch_up(self, db: sqlite3.Connection) -> None:
        """Replay the changes a killed process committed to SQLite but may not have pushed: each
        noted id is made to match SQLite (upserted if present, else deleted)."""
        while True:
            vids = [r[0] for r in db.execute("SELECT vid FROM vector_sync ORDER BY vid LIMIT 1000")]
            if not vids:
                return
            marks = ",".join("?" * len(vids))
            present = db.execute(f"SELECT vid, vector FROM vectors WHERE vid IN ({marks})", vids).fetchall()
            kept = {r[0] for r in present}
            self.remove(np.array([v for v in vids if v not in kept], np.int64))
            if present:
                self.add(
                    np.array([r[0] for r in present], np.int64),
                    np.stack([np.frombuffer(r[1], np.float32) for r in present]),
                )
            with db:
                db.execute(f"DELETE FROM vector_sync WHERE vid IN ({marks})", vids)

    def drop(self) -> None:
        try:  # a server stopped right after dropping a loaded collection can hang for minutes
            self._client.release_collection(self.collection)
        except self._error:
            pass
        self._call(self._client.drop_collection, self.collection)

    def close(self) -> None:
        try:
            self._client.close()
        except self._error:
            pass
        if self._lite:
            with _lite_lock:
                _lite_users[self._lite] -= 1
                last = _lite_users[self._lite] == 0
            if last:
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(self._lite)
            self._lite = None
