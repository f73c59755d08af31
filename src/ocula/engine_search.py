"""The Engine's visual-search methods: embed images, index folders into collections, search.

A mixin of :class:`ocula.engine.Engine`, like :mod:`ocula.engine_faces`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .collections import Collection, Match, NewItem
from .errors import OculaError
from .io import ImageSource, iter_image_paths, load_image
from .models.registry import get_model
from .pipelines.dedupe import DEFAULT_THRESHOLD, duplicate_groups
from .pipelines.search_embed import SEARCH_MODEL, ImageEmbedder

__all__ = ["IndexReport", "SearchMethods"]

COMMIT_EVERY = 32  # images per transaction: a killed run keeps all but the last few


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class SearchMethods:
    # Provided by Engine (declared here so the methods below type-check on their own).
    settings: Any
    _lock: Any
    runner: Callable[[str], Any]
    decoded: Callable[[Iterable[ImageSource]], Iterator[tuple[str, Any, OculaError | None]]]

    def image_embedder(self) -> ImageEmbedder:
        return ImageEmbedder(get_model(SEARCH_MODEL), self.runner(SEARCH_MODEL))

    def embed_images(
        self, sources: Iterable[ImageSource]
    ) -> Iterator[tuple[str, np.ndarray | None, OculaError | None]]:
        """Per input, in order: ``(name, (1280,) L2-normalised vector, None)`` or ``(name, None, error)``."""
        embedder = self.image_embedder()
        batch: list[tuple[str, np.ndarray]] = []

        def flush() -> Iterator[tuple[str, np.ndarray | None, OculaError | None]]:
            vectors = embedder.embed([p for _, p in batch])
            for (name, _), v in zip(batch, vectors):
                yield name, v, None
            batch.clear()

        for name, image, error in self.decoded(sources):
            if error is not None:
                yield from flush()
                yield name, None, error
                continue
            batch.append((name, embedder.prepare(image)))
            if len(batch) >= self.settings.batch_size:
                yield from flush()
        yield from flush()

    def open_collection(self, name: str, *, create: bool = False) -> Collection:
        """The collection ``name``, stamped with (and checked against) the search embedder."""
        embedder = self.image_embedder()
        return Collection.open(name, settings=self.settings, embedder=embedder.stamp, dim=embedder.dim, create=create)

    def index_folder(
        self,
        root: Path,
        collection: str,
        *,
        progress: Callable[[int, int], None] | None = None,
        on_commit: Callable[[int], None] | None = None,
    ) -> IndexReport:
        """Index every image under ``root`` into ``collection`` (created if missing), by path
        relative to ``root``. Incremental: unchanged files (same sha256) are skipped, changed
        ones re-embedded, and items whose file is gone are removed. Bad files are reported in
        the result, never fatal. Work is committed every few images; ``on_commit(n)`` is called
        after each commit with the number of items committed so far in this run."""
        root = Path(root).resolve()  # stored paths are absolute, ids relative to the folder
        paths = sorted(iter_image_paths([root]))
        report = IndexReport()
        with self.open_collection(collection, create=True) as coll:
            known = coll.hashes()
            wanted: dict[str, tuple[Path, str]] = {}
            for p in paths:
                item_id = p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)
                try:
                    wanted[item_id] = (p, _sha256(p))
                except OSError as exc:
                    report.failed.append((str(p), f"cannot read ({exc})"))
            gone = [i for i, (path, _) in known.items() if i not in wanted and path and Path(path).is_relative_to(root)]
            if gone:
                report.removed = coll.delete(gone)
            todo = [(i, p, h) for i, (p, h) in wanted.items() if known.get(i, (None, None))[1] != h]
            report.unchanged = len(wanted) - len(todo)
            by_path = {str(p): (i, h) for i, p, h in todo}
            pending: list[NewItem] = []
            done = committed = 0

            def commit() -> None:
                nonlocal committed
                coll.add(pending)
                committed += len(pending)
                pending.clear()
                if on_commit:
                    on_commit(committed)

            for name, vector, error in self.embed_images([p for _, p, _ in todo]):
                done += 1
                if progress:
                    progress(done, len(todo))
                item_id, sha = by_path[name]
                if error is not None or vector is None:
                    report.failed.append((name, str(error) if error else "no vector"))
                    continue
                if item_id in known:
                    report.updated += 1
                else:
                    report.added += 1
                pending.append(NewItem(item_id, vector[None], path=name, content_sha256=sha))
                if len(pending) >= COMMIT_EVERY:
                    commit()
            if pending:
                commit()
        return report

    def dedupe(
        self, sources: Iterable[ImageSource], *, threshold: float = DEFAULT_THRESHOLD
    ) -> tuple[list[list[tuple[str, float]]], list[tuple[str, OculaError]]]:
        """Near-duplicate groups among ``sources``: ``([[(name, similarity to the group's first)],
        ...], [(name, error) of unreadable inputs])``, largest group first."""
        names, vectors, failed = [], [], []
        for name, vector, error in self.embed_images(sources):
            if error is not None or vector is None:
                failed.append((name, error))
            else:
                names.append(name)
                vectors.append(vector)
        if not vectors:
            return [], failed
        groups = duplicate_groups(np.stack(vectors), threshold)
        return [[(names[m], s) for m, s in zip(g.members, g.scores)] for g in groups], failed

    def search(self, image: ImageSource, collection: str, *, k: int = 10, where: str | None = None) -> list[Match]:
        """The ``k`` most similar items of ``collection`` to ``image``, best first."""
        embedder = self.image_embedder()
        with self.open_collection(collection) as coll:
            query = embedder.embed([embedder.prepare(load_image(image, settings=self.settings))])
            return coll.search(query, k, where=where)[0]
