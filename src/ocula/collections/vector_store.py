"""What a collection asks of the store that answers its vector searches.

SQLite holds the truth (items, metadata and every vector); a :class:`VectorStore` answers
nearest-neighbour searches over those vectors by vector id. Two kinds implement it, one module
each:

- :class:`~ocula.collections.vectors.FaissVectors`: this process's own copy, in memory. The
  collection rebuilds it from SQLite (or loads its snapshot) when another process writes, and
  keeps its snapshot on disk; it has nothing to catch up on, so its outbox steps do nothing.
- :class:`~ocula.collections.milvus.MilvusVectors`: one store every process shares (a Milvus
  server or a Milvus Lite file), kept in step with SQLite through the ``vector_sync`` outbox:
  :meth:`VectorStore.note_changes` writes the changed ids in the same transaction as the change,
  :meth:`VectorStore.push` applies the change once committed and clears them, and
  :meth:`VectorStore.catch_up` replays what a killed process left there.

The collection only calls these methods; nothing in it depends on which store it holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["VectorStore", "drop_shared_store", "open_shared_store"]


@runtime_checkable
class VectorStore(Protocol):
    """A vector index searched by vector id, in step with a collection's SQLite store."""

    @property
    def kind(self) -> str:
        """What the store is, for ``info()`` and ``ocula doctor`` (e.g. ``faiss flat (exact)``)."""
        ...

    def __len__(self) -> int:
        """How many vectors the store holds."""
        ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Hold ``vectors`` (rows) under ``ids``, replacing any held under the same id."""
        ...

    def remove(self, ids: np.ndarray) -> None:
        """Drop the vectors of ``ids`` (ids it does not hold are ignored)."""
        ...

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (q, k), higher scores better; ids are -1 where fewer than k
        vectors qualify; ``allowed`` restricts the answer to those ids."""
        ...

    def note_changes(self, db: sqlite3.Connection, vids: Sequence[int]) -> None:
        """Inside the write transaction that changes the vectors ``vids``: note what the store
        must catch up on should the process stop before :meth:`push`."""
        ...

    def push(self, db: sqlite3.Connection, removed: np.ndarray, ids: np.ndarray, vectors: np.ndarray) -> None:
        """After that transaction committed: drop ``removed``, add ``vectors`` under ``ids``, and
        clear what :meth:`note_changes` noted for them (the caller holds the collection's lock)."""
        ...

    def catch_up(self, db: sqlite3.Connection) -> None:
        """Apply the changes noted in ``db`` that no process pushed (it was stopped in between)."""
        ...

    def close(self) -> None:
        """Release what the store holds open (a client, a Milvus Lite file)."""
        ...


def open_shared_store(uri: str, name: str, dim: int, metric: str, *, load: bool = True) -> VectorStore:
    """The shared store at ``uri`` (a canonical ``milvus…`` URI) holding the collection ``name``."""
    from .milvus import MilvusVectors  # imported here: pymilvus is an optional extra

    return MilvusVectors(uri, name, dim, metric, load=load)


def drop_shared_store(uri: str, name: str, dim: int, metric: str) -> None:
    """Drop the collection ``name`` from the shared store at ``uri`` (``ocula … drop``)."""
    from .milvus import MilvusVectors

    store = MilvusVectors(uri, name, dim, metric, load=False)
    try:
        store.drop()
    finally:
        store.close()
