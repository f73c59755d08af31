"""Instance-retrieval evaluation: can a transformed copy of a photo find its original?

Without ground truth, a deterministic sample of the folder's photos is turned into queries by
seven edits a catalog photo suffers in practice (crop, downscale, rotation, mirror, colour
shift, heavy JPEG, overlaid text); every original photo of the folder is the catalog, and the
right answer for a query is its original. With ``groups`` (``image,duplicate_group``), every
photo of a group of two or more is a query and the rest of its group are the right answers.

Reported: recall@1 and recall@10 (a right answer among the first 1 / 10), mean average
precision, and queries per second (embedding the query and ranking the catalog).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

from ..errors import DatasetError
from ..io import iter_image_paths, load_image

__all__ = ["TRANSFORMS", "RetrievalReport", "evaluate_retrieval", "transform"]

TRANSFORMS = ("crop", "scale", "rotate", "flip", "colour", "jpeg", "text")
MAX_QUERY_SOURCES = 100


def transform(image: np.ndarray, name: str) -> np.ndarray:
    """One deterministic edit of an RGB uint8 image."""
    pil = Image.fromarray(image)
    w, h = pil.size
    if name == "crop":  # keep the central 70% of each side
        dx, dy = round(w * 0.15), round(h * 0.15)
        out = pil.crop((dx, dy, w - dx, h - dy))
    elif name == "scale":
        out = pil.resize((max(1, w // 3), max(1, h // 3)), Image.Resampling.BILINEAR)
    elif name == "rotate":
        out = pil.rotate(12, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=(255, 255, 255))
    elif name == "flip":
        out = pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    elif name == "colour":
        out = ImageEnhance.Contrast(
            ImageEnhance.Color(ImageEnhance.Brightness(pil).enhance(1.25)).enhance(0.5)
        ).enhance(0.8)
    elif name == "jpeg":
        buf = io.BytesIO()
        pil.save(buf, "JPEG", quality=15)
        out = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    elif name == "text":
        out = pil.copy()
        draw = ImageDraw.Draw(out)
        size = max(10, h // 10)
        for row in range(3):
            y = h * (0.2 + 0.3 * row)
            draw.text((w * 0.05, y), "SALE -50% ocula.example", fill=(255, 0, 0), font_size=size)
    else:
        raise ValueError(f"unknown transform {name!r}")
    return np.asarray(out.convert("RGB"))


@dataclass
class RetrievalReport:
    n_catalog: int
    n_queries: int
    recall_at_1: float
    recall_at_10: float
    map: float
    queries_per_second: float
    per_transform: dict[str, float]  # recall@1 by transform (built-in queries only)
    failed: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_catalog": self.n_catalog,
            "n_queries": self.n_queries,
            "recall_at_1": round(self.recall_at_1, 4),
            "recall_at_10": round(self.recall_at_10, 4),
            "map": round(self.map, 4),
            "queries_per_second": round(self.queries_per_second, 1),
            "recall_at_1_by_transform": {k: round(v, 4) for k, v in self.per_transform.items()},
            "failed": len(self.failed),
        }


def _counted(paths: list[Path], progress: Callable[[int], None] | None) -> Iterator[Path]:
    """``paths``, calling ``progress(1)`` as each is taken for embedding."""
    for path in paths:
        yield path
        if progress:
            progress(1)


def _ranks(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1-based ranks of the relevant catalog entries for one query (scores: (n_catalog,))."""
    order = np.argsort(-scores, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(1, len(order) + 1)
    return np.sort(position[relevant])


def _average_precision(ranks: np.ndarray) -> float:
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks)) if len(ranks) else 0.0


def evaluate_retrieval(
    engine: Any,
    folder: Path,
    *,
    groups: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> RetrievalReport:
    folder = Path(folder)
    if groups is not None:
        return _evaluate_groups(engine, folder, Path(groups), progress)
    paths = sorted(iter_image_paths([folder]))
    kept, catalog, failures = engine.embed_all(_counted(paths, progress))
    names = [str(paths[i]) for i in kept]
    failed = [name for name, _ in failures]
    if len(names) < 2:
        raise DatasetError(f"{folder} needs at least two readable images")
    step = max(1, len(names) // MAX_QUERY_SOURCES)
    sources = names[::step][:MAX_QUERY_SOURCES]
    embedder = engine.image_embedder()
    index_of = {n: i for i, n in enumerate(names)}
    hits1, hits10, aps = [], [], []
    by_transform: dict[str, list[bool]] = {t: [] for t in TRANSFORMS}
    start = time.perf_counter()  # queries: load, transform, embed, rank against the catalog
    n_queries = 0
    for name in sources:
        image = load_image(name, settings=engine.settings)
        q = embedder.embed([embedder.prepare(transform(image, t)) for t in TRANSFORMS])
        for t, row in zip(TRANSFORMS, q):
            ranks = _ranks(catalog @ row, np.array([index_of[name]]))
            hits1.append(ranks[0] == 1)
            hits10.append(ranks[0] <= 10)
            aps.append(_average_precision(ranks))
            by_transform[t].append(bool(ranks[0] == 1))
            n_queries += 1
    seconds = max(time.perf_counter() - start, 1e-9)
    return RetrievalReport(
        n_catalog=len(names),
        n_queries=n_queries,
        recall_at_1=float(np.mean(hits1)),
        recall_at_10=float(np.mean(hits10)),
        map=float(np.mean(aps)),
        queries_per_second=n_queries / seconds,
        per_transform={t: float(np.mean(v)) for t, v in by_transform.items()},
        failed=failed,
    )


def _evaluate_groups(
    engine: Any, folder: Path, groups: Path, progress: Callable[[int], None] | None
) -> RetrievalReport:
    try:
        with open(groups, newline="", encoding="utf-8-sig") as fh:
            rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in csv.DictReader(fh)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {groups} ({exc})") from None
    if not rows or not {"image", "duplicate_group"} <= set(rows[0]):
        raise DatasetError(f"{groups}: expected columns image,duplicate_group")
    paths = [folder / r["image"] for r in rows]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(f"{len(missing)} images of {groups} are missing under {folder}: {', '.join(missing[:3])}")
    start = time.perf_counter()
    kept, v, failures = engine.embed_all(_counted(paths, progress))
    names = [str(paths[i]) for i in kept]
    failed = [name for name, _ in failures]
    labels_arr = np.array([rows[i]["duplicate_group"] for i in kept])
    hits1, hits10, aps = [], [], []
    for i in range(len(names)):
        others = np.arange(len(names)) != i
        relevant = np.flatnonzero((labels_arr[others] == labels_arr[i]))
        if len(relevant) == 0:
            continue  # a photo without duplicates is catalog only
        ranks = _ranks((v[others] @ v[i]), relevant)
        hits1.append(ranks[0] == 1)
        hits10.append(ranks[0] <= 10)
        aps.append(_average_precision(ranks))
    if not hits1:
        raise DatasetError(f"{groups}: no group has two or more readable images")
    seconds = max(time.perf_counter() - start, 1e-9)
    return RetrievalReport(
        n_catalog=len(names),
        n_queries=len(hits1),
        recall_at_1=float(np.mean(hits1)),
        recall_at_10=float(np.mean(hits10)),
        map=float(np.mean(aps)),
        queries_per_second=len(names) / seconds,
        per_transform={},
        failed=failed,
    )
