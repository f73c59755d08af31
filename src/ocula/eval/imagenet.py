"""ImageNet-style classification evaluation: top-1/top-5 error of a tagging preset.

Data: a folder of images and a CSV with at least the columns ``filename`` (relative to the
folder) and ``class_index`` (0-999, sorted-wnid order), e.g. ``../shared/data/imagenet/sample-334``.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..engine import Engine
from ..errors import DatasetError
from ..text_file import MAX_CSV_BYTES, check_text_file
from .metrics import topk_correct

__all__ = ["ImageNetResult", "evaluate_imagenet", "read_labels"]


@dataclass(frozen=True)
class ImageNetResult:
    n: int  # images scored
    top1_error: float
    top5_error: float
    images_per_second: float  # end to end: decode, preprocess, inference
    preset: str
    models: list[str]
    failures: int  # images that could not be read (not scored)

    def to_dict(self) -> dict:
        return asdict(self)


def read_labels(path: Path, root: Path) -> list[tuple[Path, int]]:
    """(image path, class index) pairs from a labels CSV; raises DatasetError when malformed."""
    check_text_file(path, max_bytes=MAX_CSV_BYTES, what="labels CSV", error=DatasetError)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"filename", "class_index"} - set(reader.fieldnames or ())
            if missing:
                raise DatasetError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            rows = []
            for line, row in enumerate(reader, start=2):
                try:
                    index = int(row["class_index"])
                except (TypeError, ValueError):
                    raise DatasetError(f"{path}:{line}: class_index {row['class_index']!r} is not an integer") from None
                if not 0 <= index <= 999:
                    raise DatasetError(f"{path}:{line}: class_index {index} is outside 0-999")
                rows.append((root / row["filename"], index))
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such labels file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the labels file ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: not a readable CSV ({exc})") from None
    if not rows:
        raise DatasetError(f"{path}: no rows")
    return rows


def evaluate_imagenet(
    root: str | Path,
    labels_csv: str | Path,
    *,
    preset: str = "fast",
    engine: Engine,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImageNetResult:
    """Top-1/top-5 error of ``preset`` on the labelled images. Unreadable images are counted in
    ``failures`` and left out of the error rates."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    rows = read_labels(Path(labels_csv), root)[:limit]
    tagger = engine.tagger(preset)  # models load here, outside the timed part
    list(engine.class_probabilities([rows[0][0]], preset=preset))  # warm-up run, not timed

    probs, labels, failures = [], [], 0
    start = time.perf_counter()
    stream = engine.class_probabilities([p for p, _ in rows], preset=preset)
    for i, ((_name, row, _error), (_path, label)) in enumerate(zip(stream, rows, strict=False)):
        if row is None:
            failures += 1
        else:
            probs.append(row)
            labels.append(label)
        if progress:
            progress(i + 1, len(rows))
    elapsed = time.perf_counter() - start
    if not probs:
        raise DatasetError(f"{labels_csv}: none of the {len(rows)} images could be read")
    p, y = np.stack(probs), np.array(labels)
    return ImageNetResult(
        n=len(y),
        top1_error=round(float(1 - topk_correct(p, y, 1).mean()), 6),
        top5_error=round(float(1 - topk_correct(p, y, 5).mean()), 6),
        images_per_second=round(len(rows) / elapsed, 2),
        preset=tagger.preset.name,
        models=list(tagger.preset.models),
        failures=failures,
    )
