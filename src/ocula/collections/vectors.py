"""The vector index of a collection: FAISS, as a rebuildable cache of what SQLite holds.

Vectors are L2-normalised float32 rows; the index answers inner-product (cosine) searches by
vector id. It is exact (``IndexFlatIP``) — IVF for large collections comes with the scale work.
Snapshots are written to a temporary file and renamed (FAISS files have no journal), tagged with
the store's generation; a snapshot whose generation differs from the store's is discarded and
rebuilt, so a crash can cost time, never correctness.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ConfigError

__all__ = ["FaissVectors"]


class FaissVectors:
    def __init__(self, dim: int):
        import faiss  # imported here: keeps `import ocula` light

        self._faiss = faiss
        self.dim = dim
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.asarray(ids, np.int64))

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self.index.remove_ids(np.asarray(ids, np.int64))

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (q, k); ids are -1 where fewer than k vectors qualify."""
        q = np.ascontiguousarray(queries, np.float32)
        k = max(1, min(k, len(self))) if len(self) else 1
        if allowed is not None:
            if len(allowed) == 0:
                return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
            params = self._faiss.SearchParameters(sel=self._faiss.IDSelectorBatch(np.asarray(allowed, np.int64)))
            return self.index.search(q, k, params=params)
        return self.index.search(q, k)

    # -- snapshots ------------------------------------------------------------------------
    def save(self, path: Path, generation: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            self._faiss.write_index(self.index, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _write_json_atomic(path.with_suffix(".json"), {"generation": generation, "dim": self.dim})
        except (OSError, RuntimeError) as exc:
            raise ConfigError(f"cannot write the vector index {path} ({exc})") from None
        finally:
            Path(tmp).unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, dim: int, generation: int) -> FaissVectors | None:
        """The snapshot at ``path`` if it belongs to ``generation``; None if missing or stale."""
        try:
            info = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            if info.get("generation") != generation or info.get("dim") != dim:
                return None
            out = cls(dim)
            out.index = out._faiss.read_index(str(path))
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
