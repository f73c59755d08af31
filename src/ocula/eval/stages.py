"""Speed per stage: the milliseconds of each step of the tagging, face and search pipelines.

The evaluations time whole runs, where decoding overlaps inference on worker threads. Here each
step runs alone, in order, on a sample of real photos, with the engine's own objects and batch
sizes, so a slow step shows as itself: decoding, resizing, the network, detection, alignment,
the descriptor, ranking. Each step is warmed up once (not timed); the figure is the total time
divided by the photos, faces or queries it handled.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["StageTime", "time_face_stages", "time_search_stages", "time_tagging_stages"]

T = TypeVar("T")


@dataclass(frozen=True)
class StageTime:
    pipeline: str  # "tagging", "faces", "search"
    stage: str
    per: str  # what one unit is: "photo", "face", "query"
    ms: float  # milliseconds per unit
    units: int  # how many units were timed

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ms": round(self.ms, 2)}


def _timed(fn: Callable[[Any], T], inputs: Sequence[Any]) -> tuple[list[T], float]:
    """``fn`` over ``inputs`` after one untimed warm-up call: (outputs, total seconds)."""
    if inputs:
        fn(inputs[0])
    start = time.perf_counter()
    outputs = [fn(x) for x in inputs]
    return outputs, time.perf_counter() - start


def _batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _check(photos: Sequence[Path]) -> None:
    if not photos:
        raise ValueError("timing stages needs at least one photo")


def time_tagging_stages(engine: Engine, photos: Sequence[Path], *, preset: str = "fast") -> list[StageTime]:
    """Decode (reduced by DCT scaling, as tagging does), resize and crop, the network (in the
    engine's batches) and turning probabilities into WordNet tags, per photo."""
    from ..io import load_image

    _check(photos)
    tagger = engine.tagger(preset)
    n = len(photos)
    images, decode = _timed(lambda p: load_image(p, min_side=tagger.decode_min_side, settings=engine.settings), photos)
    prepared, resize = _timed(tagger.prepare, images)
    batches = _batches(prepared, engine.settings.batch_size)
    probs, network = _timed(tagger.probabilities, batches)
    rows = np.concatenate(probs)
    _, tags = _timed(tagger.to_tags, list(rows))
    name = f"tagging ({preset})"
    return [
        StageTime(name, "decode", "photo", 1000 * decode / n, n),
        StageTime(name, "resize + centre crop", "photo", 1000 * resize / n, n),
        StageTime(name, f"network (batches of {engine.settings.batch_size})", "photo", 1000 * network / n, n),
        StageTime(name, "tags + WordNet ancestors", "photo", 1000 * tags / n, n),
    ]


def time_face_stages(engine: Engine, photos: Sequence[Path]) -> list[StageTime]:
    """Decode and detection (HOG, and HOG with the CNN where it finds nothing) per photo;
    5-point landmarks with the aligned chip, and the descriptor (with its mirror image, as
    shipped), per face HOG found."""
    from ..io import load_image
    from ..models.backends.dlib import face_chips
    from ..pipelines.faces import FaceOptions

    _check(photos)
    analyzer = engine.face_analyzer("hog", descriptor="dlib")  # this stage times dlib's pipeline
    align = analyzer.alignment
    images, decode = _timed(lambda p: load_image(p, settings=engine.settings), photos)
    found, detect = _timed(lambda im: analyzer.detect(im, FaceOptions(detector="hog", descriptor="dlib")), images)
    # Galleries (enrol, identify) use HOG and, on a photo where it finds no face, the CNN.
    both = engine.face_analyzer("hog+cnn", descriptor="dlib")
    _, detect_both = _timed(lambda im: both.detect(im, FaceOptions(detector="hog+cnn", descriptor="dlib")), images)
    work = [(im, boxes) for im, (boxes, _) in zip(images, found, strict=False) if len(boxes)]

    def chips_of(item: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        image, boxes = item
        _, shapes = analyzer.landmarks5.predict(image, boxes)
        return face_chips(image, shapes, size=align.chip_size, padding=align.padding)

    chips, landmarks = _timed(chips_of, work)
    _, describe = _timed(analyzer.embed, chips)
    faces = sum(len(c) for c in chips)
    n = len(photos)
    return [
        StageTime("faces", "decode", "photo", 1000 * decode / n, n),
        StageTime("faces", "detection (HOG: ocula faces)", "photo", 1000 * detect / n, n),
        StageTime("faces", "detection (HOG, else CNN: galleries)", "photo", 1000 * detect_both / n, n),
        StageTime("faces", "5-point landmarks + aligned chip", "face", 1000 * landmarks / max(faces, 1), faces),
        StageTime("faces", "descriptor (+ mirror image)", "face", 1000 * describe / max(faces, 1), faces),
    ]


def time_search_stages(
    engine: Engine, queries: Sequence[Path], catalog: Sequence[Path], *, embed_all: Callable[..., Any] | None = None
) -> list[StageTime]:
    """One search per query photo as ``Engine.search`` does it: decode, resize and crop the
    whole photo and its 3 x 3 subject windows, embed the 10 parts, and rank them in a real
    collection (FAISS) holding ``catalog`` (embedded, untimed, by ``embed_all``: default
    ``engine.embed_all``; the report passes its run's, which has embedded them already)."""
    from ..collections.collection import Collection, NewItem
    from ..config import Settings
    from ..io import load_image
    from ..pipelines.search_embed import query_parts

    _check(queries)
    embedder = engine.image_embedder()
    kept, vectors, _ = (embed_all or engine.embed_all)(catalog)
    n = len(queries)

    def parts_of(image: np.ndarray) -> list[np.ndarray]:
        return [embedder.prepare(part) for part in query_parts(image)[1]]

    images, decode = _timed(lambda p: load_image(p, settings=engine.settings), queries)
    parts, resize = _timed(parts_of, images)
    embedded, embed = _timed(embedder.embed, parts)
    with tempfile.TemporaryDirectory(prefix="ocula-stages-") as tmp:
        # FAISS, whatever OCULA_VECTORS says: nothing of this leaves the temporary folder.
        settings = Settings(data_dir=Path(tmp), cache_dir=engine.settings.cache_dir, vectors="faiss")
        with Collection.open(
            "stages", settings=settings, embedder=embedder.stamp, dim=embedder.dim, create=True
        ) as coll:
            coll.add(NewItem(str(i), vectors[j : j + 1]) for j, i in enumerate(kept))
            _, rank = _timed(lambda q: coll.search(q, 10), embedded)
    windows = len(parts[0]) - 1  # 0 for a photo too small for windows
    return [
        StageTime("search", "decode", "query", 1000 * decode / n, n),
        StageTime("search", f"resize + crop (whole + {windows} windows)", "query", 1000 * resize / n, n),
        StageTime("search", f"embedding ({windows + 1} parts)", "query", 1000 * embed / n, n),
        StageTime("search", f"rank, top 10 of {len(kept)} items (FAISS)", "query", 1000 * rank / n, n),
    ]
