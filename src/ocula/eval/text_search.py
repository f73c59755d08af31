"""Search by words, evaluated: mAP of word queries on ImageNet-labelled photos.

Every concept of the taxonomy that covers at least ``MIN_PHOTOS`` labelled photos is queried by
its first lemma, as a user would type it (ocula.text_query: all the senses of that word); a photo
is relevant when its label is the concept or lies under it. The ranking is the concept index's
(ocula.collections.concept_index) over the photos' compact concept scores, all matches ranked.

The baseline is label-only search, as many photo apps do it: a photo matches a word when its top-1
class, or an ancestor of it, is one of the word's concepts; matches are ranked by the top-1
probability.

Metrics, per query then averaged: AP over the whole ranking (relevant photos never retrieved
count as misses), and precision at 10 divided by ``min(10, relevant)`` so that a perfect ranking
scores 1 whatever the number of relevant photos.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..collections.concept_index import ConceptIndex
from ..concepts import DEFAULT_FLOOR, ConceptSpace, concept_space
from ..errors import DatasetError
from ..text_query import Query, Vocabulary, parse_query, vocabulary
from .imagenet import read_labels

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["MIN_PHOTOS", "TextSearchResult", "evaluate_text_search", "score_text_search"]

#: A concept is queried when it covers at least this many labelled photos.
MIN_PHOTOS = 3


@dataclass(frozen=True)
class TextSearchResult:
    n_items: int
    n_queries: int
    map: float
    precision_at_10: float
    by_depth: dict[int, dict[str, float]]  # WordNet depth of the queried concept -> n_queries, map, baseline_map
    baseline_map: float
    baseline_precision_at_10: float
    floor: float  # concept scores below it are not stored
    bytes_per_item: float  # mean size of the stored compact scores
    preset: str = ""
    failures: int = 0  # photos that could not be read (left out)
    seconds: float = 0.0
    per_query: list[dict] = field(default_factory=list, repr=False)

    def to_dict(self, *, per_query: bool = False) -> dict:
        out = asdict(self)
        if not per_query:
            out.pop("per_query")
        return out


def average_precision(ranked_relevant: np.ndarray, n_relevant: int) -> float:
    """AP of a ranking given as a bool per retrieved item; relevant items not retrieved are misses."""
    if n_relevant == 0:
        return 0.0
    hits = np.cumsum(ranked_relevant)
    ranks = np.flatnonzero(ranked_relevant) + 1
    return float((hits[ranked_relevant] / ranks).sum() / n_relevant)


def _precision_at_10(ranked_relevant: np.ndarray, n_relevant: int) -> float:
    return float(ranked_relevant[:10].sum() / min(10, n_relevant))


def _queried_concepts(space: ConceptSpace, label_classes: np.ndarray) -> list[int]:
    counts = np.bincount(label_classes, minlength=len(space.taxonomy.classes))
    return [c for c in range(len(space)) if counts[space.classes_of(c)].sum() >= MIN_PHOTOS]


def _baseline_ranking(query: Query, space: ConceptSpace, probabilities: np.ndarray) -> np.ndarray:
    """Rows whose top-1 class lies under one of the query's concepts, by top-1 probability."""
    top1 = probabilities.argmax(axis=1)
    classes = np.concatenate([space.classes_of(c) for c in query.concepts])
    rows = np.flatnonzero(np.isin(top1, classes))
    confidence = probabilities[rows, top1[rows]]
    return rows[np.lexsort((rows, -confidence))]


def score_text_search(
    probabilities: np.ndarray,
    label_classes: np.ndarray,
    *,
    floor: float = DEFAULT_FLOOR,
    top_k: int | None = None,
    space: ConceptSpace | None = None,
    vocab: Vocabulary | None = None,
) -> TextSearchResult:
    """The evaluation on given (N, 1000) class probabilities and (N,) label class indices, each
    photo storing its concept scores at or above ``floor`` (at most ``top_k`` of them if given)."""
    space, vocab = space or concept_space(), vocab or vocabulary()
    probabilities = np.asarray(probabilities, np.float32)
    label_classes = np.asarray(label_classes, np.int64)
    compact = space.compact(space.scores(probabilities), floor, top_k=top_k)
    index = ConceptIndex.build(np.arange(len(compact)), compact, len(space))
    per_query = []
    for concept in _queried_concepts(space, label_classes):
        wnid = space.wnids[concept]
        query = parse_query(space.taxonomy.lemmas[wnid][0], vocab)
        relevant = np.isin(label_classes, space.classes_of(concept))
        n_relevant = int(relevant.sum())
        ranked = relevant[index.search(query, k=None).ids]
        baseline = relevant[_baseline_ranking(query, space, probabilities)]
        per_query.append({
            "wnid": wnid, "query": query.text, "depth": int(space.depths[concept]), "relevant": n_relevant,
            "ap": average_precision(ranked, n_relevant), "p10": _precision_at_10(ranked, n_relevant),
            "baseline_ap": average_precision(baseline, n_relevant),
            "baseline_p10": _precision_at_10(baseline, n_relevant),
        })  # fmt: skip
    if not per_query:
        raise DatasetError(f"no concept covers {MIN_PHOTOS} or more of the {len(label_classes)} labelled photos")
    return TextSearchResult(
        n_items=len(label_classes),
        n_queries=len(per_query),
        map=_mean(per_query, "ap"),
        precision_at_10=_mean(per_query, "p10"),
        by_depth=_by_depth(per_query),
        baseline_map=_mean(per_query, "baseline_ap"),
        baseline_precision_at_10=_mean(per_query, "baseline_p10"),
        floor=floor,
        bytes_per_item=float(np.mean([len(c.to_bytes()) for c in compact])),
        per_query=per_query,
    )


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def _by_depth(per_query: list[dict]) -> dict[int, dict[str, float]]:
    out = {}
    for depth in sorted({r["depth"] for r in per_query}):
        rows = [r for r in per_query if r["depth"] == depth]
        out[depth] = {"n_queries": len(rows), "map": _mean(rows, "ap"), "baseline_map": _mean(rows, "baseline_ap")}
    return out


def evaluate_text_search(
    root: str | Path,
    labels_csv: str | Path,
    *,
    engine: Engine,
    preset: str = "fast",
    floor: float = DEFAULT_FLOOR,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TextSearchResult:
    """Tag the labelled photos of ``root`` and run :func:`score_text_search` on them. Unreadable
    photos are counted in ``failures`` and left out."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    rows = read_labels(Path(labels_csv), root)[:limit]
    start = time.perf_counter()
    probabilities, labels, failures = [], [], 0
    for done, ((_, probs, error), (_, label)) in enumerate(
        zip(engine.class_probabilities([p for p, _ in rows], preset=preset), rows, strict=True), start=1
    ):
        if error is None:
            probabilities.append(probs)
            labels.append(label)
        else:
            failures += 1
        if progress:
            progress(done, len(rows))
    if not probabilities:
        raise DatasetError(f"{labels_csv}: none of the {len(rows)} photos could be read")
    result = score_text_search(np.stack(probabilities), np.array(labels), floor=floor)
    return TextSearchResult(**{**asdict(result), "preset": preset, "failures": failures,
                               "seconds": time.perf_counter() - start})  # fmt: skip
