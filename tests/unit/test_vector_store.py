"""The VectorStore protocol: each store (FAISS, Milvus Lite for real) through the protocol's
methods alone, and a collection that does not depend on which one it holds."""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import ocula.collections.collection as collection_module
from ocula.collections.vector_store import VectorStore
from ocula.collections.vectors import FaissVectors

DIM = 8


def _unit(n: int) -> np.ndarray:
    v = np.random.default_rng(0).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _sqlite_with(ids: list[int], vectors: np.ndarray) -> sqlite3.Connection:
    """The two tables a store's outbox steps read: SQLite's vectors and the outbox."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(
        "CREATE TABLE vectors (vid INTEGER PRIMARY KEY, vector BLOB NOT NULL);"
        "CREATE TABLE vector_sync (vid INTEGER PRIMARY KEY);"
    )
    db.executemany("INSERT INTO vectors VALUES (?, ?)", [(i, v.tobytes()) for i, v in zip(ids, vectors, strict=True)])
    return db


def _faiss(tmp_path: Path) -> VectorStore:
    return FaissVectors(DIM, "ip")


def _milvus_lite(tmp_path: Path) -> VectorStore:
    pytest.importorskip("pymilvus", reason="the milvus extra is not installed")
    from ocula.collections.vector_store import open_shared_store

    return open_shared_store(f"milvus-lite:{tmp_path / 'vectors.db'}", "ocula_protocol_test", DIM, "ip")


@pytest.fixture(params=[_faiss, _milvus_lite], ids=["faiss", "milvus-lite"])
def store(request, tmp_path):
    made = request.param(tmp_path)
    yield made
    made.close()


def test_each_store_implements_the_protocol(store):
    assert isinstance(store, VectorStore)
    vectors = _unit(6)
    db = _sqlite_with(list(range(1, 7)), vectors)
    # A change noted in the write transaction, then pushed: the store holds it, the outbox is empty.
    with db:
        db.execute("BEGIN IMMEDIATE")
        store.note_changes(db, [1, 2, 3, 4, 5])
    store.push(db, np.zeros(0, np.int64), np.arange(1, 6), vectors[:5])
    assert len(store) == 5 and db.execute("SELECT COUNT(*) FROM vector_sync").fetchone()[0] == 0
    scores, ids = store.search(vectors[2:3], 2)
    assert ids[0, 0] == 3 and scores[0, 0] == pytest.approx(1.0, abs=1e-5) and ids.shape == (1, 2)
    assert store.search(vectors[2:3], 1, allowed=np.array([4]))[1][0, 0] == 4
    store.push(db, np.array([3]), np.zeros(0, np.int64), np.zeros((0, DIM), np.float32))
    assert len(store) == 4 and 3 not in store.search(vectors[2:3], 4)[1][0]
    assert isinstance(store.kind, str) and store.kind


def test_a_shared_store_catches_up_on_what_a_stopped_process_noted(store):
    """Noted but never pushed (the process stopped): catch_up makes the store match SQLite. A
    store that is this process's own copy (FAISS) is rebuilt from SQLite instead, so its
    catch_up leaves the outbox to the shared stores and changes nothing."""
    vectors = _unit(3)
    db = _sqlite_with([1, 2, 3], vectors)
    store.push(db, np.zeros(0, np.int64), np.array([9]), _unit(10)[9:])  # 9: gone from SQLite since
    db.executemany("INSERT INTO vector_sync VALUES (?)", [(1,), (2,), (9,)])
    store.catch_up(db)
    if isinstance(store, FaissVectors):
        assert len(store) == 1 and db.execute("SELECT COUNT(*) FROM vector_sync").fetchone()[0] == 3
        return
    assert len(store) == 2 and db.execute("SELECT COUNT(*) FROM vector_sync").fetchone()[0] == 0
    assert sorted(store.search(vectors[:1], 3)[1][0][:2]) == [1, 2]


def test_collection_does_not_branch_on_the_store_type():
    """collection.py talks to its store through VectorStore only: no isinstance on a store
    class, no Milvus client or outbox SQL of its own (they live in milvus.py)."""
    source = Path(collection_module.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    store_classes = {"FaissVectors", "MilvusVectors", "VectorStore"}
    checked = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance"
    ]
    assert checked, "expected some isinstance calls (on names, counts) to inspect"
    for call in checked:
        named = {n.id for n in ast.walk(call.args[1]) if isinstance(n, ast.Name)}
        assert not named & store_classes, f"line {call.lineno}: isinstance on a store type"
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert "MilvusVectors" not in imported
    statements = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert not [s for s in statements if re.search(r"(INTO|FROM)\s+vector_sync", s)]
