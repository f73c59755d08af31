"""Instance-retrieval evaluation: can a transformed copy of a photo find its original?

Without ground truth, a deterministic sample of the folder's photos is turned into queries by
seven edits a catalog photo suffers in practice (crop, downscale, rotation, mirror, colour
shift, heavy JPEG, overlaid text) and by one "photograph it, find it" query: the photo pasted
small (30-55% of the width), off-centre, into a 640 x 480 scene made of other catalog photos
(one photo, a blurred photo or a mosaic of twelve, in turn; folders of 13 photos or more) and
saved as JPEG. Every original photo of the folder is the catalog, and the right answer for a
query is its original. Each
query is searched as ``ocula search`` searches: the whole photo plus a 3 x 3 grid of half-size
windows, every catalog photo scored by its best part (``windows=False``: the whole photo only).
With ``groups`` (``image,duplicate_group``), every photo of a group of two or more is a query
and the rest of its group are the right answers.

Reported: recall@k (a right answer among the first k) at k = 1, 2, 5, 10, 20, overall, by kind of
query and over all scenes; mean average precision; and queries per second, one search at a time
(cutting and embedding the query's parts and ranking the catalog). The rank of each query's first
right answer is kept in the report, so any recall@k, and its curve, can be drawn.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from ..errors import DatasetError
from ..io import iter_image_paths, load_image
from ..pipelines.search_embed import query_parts
from ..text_file import MAX_CSV_BYTES, check_text_file

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "QUERY_KINDS",
    "SCENES",
    "TRANSFORMS",
    "RetrievalReport",
    "evaluate_retrieval",
    "paste_into_scene",
    "recall_curve",
    "transform",
]

TRANSFORMS = ("crop", "scale", "rotate", "flip", "colour", "jpeg", "text")
SCENES = ("photo", "blurred", "mosaic")  # what an item is pasted into
SCENE_SIZE = (640, 480)
QUERY_KINDS = (*TRANSFORMS, *(f"scene-{b}" for b in SCENES))
SCENE_PHOTOS = 12  # a mosaic's tiles; a folder of SCENE_PHOTOS photos or fewer gets no scene queries
MAX_QUERY_SOURCES = 100
SEED = 20240611


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
        out = _jpeg(pil, 15)
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


def _jpeg(pil: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _cover(image: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """``image`` resized and centre-cropped to exactly ``size`` (w, h)."""
    pil = Image.fromarray(image)
    s = max(size[0] / pil.width, size[1] / pil.height)
    pil = pil.resize(
        (max(size[0], round(pil.width * s)), max(size[1], round(pil.height * s))), Image.Resampling.BILINEAR
    )
    left, top = (pil.width - size[0]) // 2, (pil.height - size[1]) // 2
    return pil.crop((left, top, left + size[0], top + size[1]))


def paste_into_scene(
    image: np.ndarray, others: list[np.ndarray], background: str, rng: np.random.Generator
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """``image`` pasted at 30-55% of the width, off-centre, into a 640 x 480 scene of ``others``
    (``background``: one of :data:`SCENES`; a mosaic takes twelve, the others one), saved as JPEG
    quality 75.
    Returns the scene and the pasted box as fractions of its width and height."""
    cw, ch = SCENE_SIZE
    if background == "photo":
        canvas = _cover(others[0], SCENE_SIZE)
    elif background == "blurred":
        canvas = _cover(others[0], SCENE_SIZE).filter(ImageFilter.GaussianBlur(6))
    elif background == "mosaic":
        canvas = Image.new("RGB", SCENE_SIZE)
        for k in range(SCENE_PHOTOS):
            canvas.paste(_cover(others[k], (cw // 4, ch // 3)), ((k % 4) * cw // 4, (k // 4) * ch // 3))
    else:
        raise ValueError(f"unknown background {background!r}")
    h, w = image.shape[:2]
    pw = round(cw * rng.uniform(0.30, 0.55))
    ph = round(h * pw / w)
    if ph > 0.9 * ch:
        ph = round(0.9 * ch)
        pw = round(w * ph / h)
    fx = rng.choice([rng.uniform(0.0, 0.3), rng.uniform(0.7, 1.0)])  # off-centre: left or right part
    left, top = round((cw - pw) * fx), round((ch - ph) * rng.uniform(0.0, 1.0))
    canvas.paste(Image.fromarray(image).resize((pw, ph), Image.Resampling.BICUBIC), (left, top))
    box = (left / cw, top / ch, (left + pw) / cw, (top + ph) / ch)
    return np.asarray(_jpeg(canvas, 75)), box


#: Embeds a catalog: (positions of the readable photos, their vectors, [(name, error)] of the
#: others), as :meth:`Engine.embed_all`.
EmbedAll = Callable[[Iterable[Path]], tuple[list[int], np.ndarray, list[tuple[str, Any]]]]

#: The ks of ``recall_at_k`` in :meth:`RetrievalReport.to_dict`.
REPORTED_KS = (1, 2, 5, 10, 20)


@dataclass
class RetrievalReport:
    n_catalog: int
    first_rank: np.ndarray  # (n_queries,) 1-based rank of each query's first right answer
    transform_of: np.ndarray  # (n_queries,) the kind of each query (QUERY_KINDS); "" for --groups queries
    map: float
    queries_per_second: float
    failed: list[str]

    @property
    def n_queries(self) -> int:
        return len(self.first_rank)

    def recall_at(self, k: int, kind: str | None = None) -> float:
        """Share of queries (all, or of one kind; ``"scene"``: every scene) with a right answer
        among the first ``k``; NaN if there are no such queries."""
        if kind is None:
            ranks = self.first_rank
        elif kind == "scene":
            ranks = self.first_rank[np.char.startswith(self.transform_of.astype(str), "scene-")]
        else:
            ranks = self.first_rank[self.transform_of == kind]
        return float(np.mean(ranks <= k)) if len(ranks) else float("nan")

    @property
    def recall_at_1(self) -> float:
        return self.recall_at(1)

    @property
    def recall_at_10(self) -> float:
        return self.recall_at(10)

    @property
    def has_scenes(self) -> bool:
        return bool(np.char.startswith(self.transform_of.astype(str), "scene-").any())

    @property
    def per_transform(self) -> dict[str, float]:
        """recall@1 by kind of query (built-in queries only)."""
        return {t: self.recall_at(1, t) for t in QUERY_KINDS if np.any(self.transform_of == t)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_catalog": self.n_catalog,
            "n_queries": self.n_queries,
            "recall_at_1": round(self.recall_at_1, 4),
            "recall_at_10": round(self.recall_at_10, 4),
            "recall_at_k": {str(k): round(self.recall_at(k), 4) for k in REPORTED_KS},
            "map": round(self.map, 4),
            "queries_per_second": round(self.queries_per_second, 1),
            "recall_at_1_by_transform": {k: round(v, 4) for k, v in self.per_transform.items()},
            "recall_at_k_scenes": {str(k): round(self.recall_at(k, "scene"), 4) for k in REPORTED_KS}
            if self.has_scenes
            else None,
            "failed": len(self.failed),
        }


def recall_curve(first_rank: np.ndarray, max_k: int) -> np.ndarray:
    """recall@k for k = 1..``max_k`` from each query's first right rank (NaN for no queries)."""
    ranks = np.asarray(first_rank)
    if not len(ranks):
        return np.full(max_k, np.nan)
    return np.array([np.mean(ranks <= k) for k in range(1, max_k + 1)])


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


class _Search:
    """Queries searched as :meth:`Engine.search` searches: the whole photo and (``windows``) its
    3 x 3 windows embedded in one batch, each catalog photo scored by its best part. Keeps the
    seconds spent searching (cutting, embedding and ranking), not making the queries."""

    def __init__(self, engine: Engine, catalog: np.ndarray, windows: bool):
        self.embedder = engine.image_embedder()
        self.catalog = catalog
        self.windows = windows
        self.seconds = 0.0

    def scores(self, image: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        _, parts = query_parts(image, windows=self.windows)
        vectors = self.embedder.embed([self.embedder.prepare(part) for part in parts])
        best = (self.catalog @ vectors.T).max(axis=1)
        self.seconds += time.perf_counter() - start
        return best


def evaluate_retrieval(
    engine: Engine,
    folder: Path,
    *,
    groups: Path | None = None,
    windows: bool = True,
    progress: Callable[[int], None] | None = None,
    embed_all: EmbedAll | None = None,
) -> RetrievalReport:
    """Search ``folder`` with edited copies and scenes of its photos (or, with ``groups``, with
    its photos that have duplicates). ``progress(1)`` is called per catalog photo embedded, then
    per photo whose queries were searched. ``embed_all`` embeds the catalog (default
    ``engine.embed_all``; ``ocula eval report`` passes its run's, which embeds a photo once)."""
    folder = Path(folder)
    embed_all = embed_all or engine.embed_all
    if groups is not None:
        return _evaluate_groups(engine, folder, Path(groups), windows, progress, embed_all)
    paths = sorted(iter_image_paths([folder]))
    kept, catalog, failures = embed_all(_counted(paths, progress))
    names = [str(paths[i]) for i in kept]
    failed = [name for name, _ in failures]
    if len(names) < 2:
        raise DatasetError(f"{folder} needs at least two readable images")
    scenes = len(names) > SCENE_PHOTOS  # a mosaic scene needs 12 other catalog photos
    step = max(1, len(names) // MAX_QUERY_SOURCES)
    sources = list(range(0, len(names), step))[:MAX_QUERY_SOURCES]
    search = _Search(engine, catalog, windows)
    first, kinds, aps = [], [], []
    for n, source in enumerate(sources):
        image = load_image(names[source], settings=engine.settings)
        queries = [(t, transform(image, t)) for t in TRANSFORMS]
        if scenes:
            background = SCENES[n % len(SCENES)]
            rng = np.random.default_rng([SEED, source])
            others = [int(o) for o in rng.permutation(np.delete(np.arange(len(names)), source))[:SCENE_PHOTOS]]
            shown = others if background == "mosaic" else others[:1]
            scene, _ = paste_into_scene(
                image, [load_image(names[o], settings=engine.settings) for o in shown], background, rng
            )
            queries.append((f"scene-{background}", scene))
        for kind, query in queries:
            ranks = _ranks(search.scores(query), np.array([source]))
            first.append(ranks[0])
            kinds.append(kind)
            aps.append(_average_precision(ranks))
        if progress:
            progress(1)
    return RetrievalReport(
        n_catalog=len(names),
        first_rank=np.array(first, np.int64),
        transform_of=np.array(kinds),
        map=float(np.mean(aps)),
        queries_per_second=len(first) / max(search.seconds, 1e-9),
        failed=failed,
    )


def _evaluate_groups(
    engine: Engine,
    folder: Path,
    groups: Path,
    windows: bool,
    progress: Callable[[int], None] | None,
    embed_all: EmbedAll,
) -> RetrievalReport:
    check_text_file(groups, max_bytes=MAX_CSV_BYTES, what="groups CSV", error=DatasetError)
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
    kept, catalog, failures = embed_all(_counted(paths, progress))
    names = [str(paths[i]) for i in kept]
    failed = [name for name, _ in failures]
    labels_arr = np.array([rows[i]["duplicate_group"] for i in kept])
    search = _Search(engine, catalog, windows)
    first, aps = [], []
    for i in range(len(names)):
        others = np.arange(len(names)) != i
        relevant = np.flatnonzero(labels_arr[others] == labels_arr[i])
        if len(relevant) == 0:
            continue  # a photo without duplicates is catalog only
        scores = search.scores(load_image(names[i], settings=engine.settings))[others]  # not itself
        ranks = _ranks(scores, relevant)
        first.append(ranks[0])
        aps.append(_average_precision(ranks))
        if progress:
            progress(1)
    if not first:
        raise DatasetError(f"{groups}: no group has two or more readable images")
    return RetrievalReport(
        n_catalog=len(names),
        first_rank=np.array(first, np.int64),
        transform_of=np.full(len(first), ""),
        map=float(np.mean(aps)),
        queries_per_second=len(first) / max(search.seconds, 1e-9),
        failed=failed,
    )
