"""Search a collection by person: the items whose stored faces match a gallery's templates.

The person's templates and the gallery's threshold are read when the search runs, never copied
into the collection: a photo enrolled since is used at once, and a person forgotten
(``ocula faces forget``) is unknown at once, so nothing about them stays findable through a
collection. A face matches when its similarity to any of the person's templates reaches the
gallery's threshold at ``fpir`` (:meth:`Gallery.threshold`, the one ``ocula faces identify``
names people at) and no other person of the gallery is closer to it: the faces ``ocula faces
identify`` would name as the person. Items are ranked by their best face's similarity.

Combined with words (``text``) and/or an example photo, the person's items are kept only where
the words match, and ranked by ``score`` = best face similarity x word score (1 without words)
x similarity to the photo (1 without one): the person first (only their items), then what else
the photo shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..collections import Collection, FaceRows
from ..engine.search import item_faces_stamp
from ..errors import DescriptorMismatch, InputError
from ..io import ImageSource
from .gallery import Gallery

__all__ = ["PersonMatch", "PersonSearch", "search_person"]


@dataclass(frozen=True)
class PersonMatch:
    """An item showing the person: its best-matching face's box and similarity."""

    id: str
    path: str | None
    metadata: dict[str, Any]
    similarity: float
    box: list[float]
    #: What the matches are ranked by: ``similarity`` alone, or times word score and photo similarity.
    score: float | None = None
    concepts: list[dict[str, Any]] | None = None  # with words: the item's best concepts
    query_region: list[int] | None = None  # with a photo: the part of it that matched

    @property
    def rank_score(self) -> float:
        return self.similarity if self.score is None else self.score

    def to_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "path": self.path,
            "score": round(self.rank_score, 6),
            "similarity": round(self.similarity, 4),
            "metadata": self.metadata,
            "face_box": [round(float(v), 1) for v in self.box],
        }
        if self.concepts is not None:
            out["concepts"] = self.concepts
        if self.query_region is not None:
            out["query_region"] = self.query_region
        return out


@dataclass(frozen=True)
class PersonSearch:
    """The answer: the matches (best first) and the threshold they were held to."""

    person: str
    gallery: str
    threshold: float
    fpir: float
    matches: list[PersonMatch]

    def to_dict(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "gallery": self.gallery,
            "threshold": round(self.threshold, 4),
            "fpir": self.fpir,
            "matches": [m.to_dict() for m in self.matches],
        }


def _check_faces(coll: Collection, gallery: Gallery) -> None:
    """Refuse a collection without faces, or with faces of another descriptor than the gallery's."""
    stored = coll.faces_descriptor
    if stored is None:
        raise InputError(
            f"collection {coll.name} has no faces stored (indexed before faces were, or with --no-faces); "
            f"add them with `ocula reindex --collection {coll.name}`"
        )
    wanted = item_faces_stamp(gallery.descriptor)
    if stored != wanted:
        raise DescriptorMismatch(
            f"collection {coll.name} holds faces described by {stored}, gallery {gallery.name} templates of "
            f"{wanted}: their similarities mean nothing to each other"
        )


def best_similarities(faces: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Each face's highest similarity to any template: ``1 - |a - b|^2 / 2``
    (:func:`~ocula.pipelines.faces.similarity`), as one matrix product."""
    f, t = np.asarray(faces, np.float32), np.asarray(templates, np.float32)
    if len(f) == 0 or len(t) == 0:
        return np.full(len(f), -np.inf, np.float32)
    sq_f = np.einsum("ij,ij->i", f, f)[:, None]
    sq_t = np.einsum("ij,ij->i", t, t)[None, :]
    return (1.0 + f @ t.T - 0.5 * (sq_f + sq_t)).max(axis=1)


def search_person(
    gallery: Gallery,
    coll: Collection,
    person: str,
    *,
    k: int = 10,
    where: str | None = None,
    fpir: float = 0.01,
    text: str | None = None,
    photo: ImageSource | None = None,
    region: Sequence[float] | None = None,
    windows: bool = True,
) -> PersonSearch:
    """The ``k`` items of ``coll`` (those ``where`` keeps) where a face is ``person`` of
    ``gallery`` at its FPIR threshold, best face first. An unknown person: UnknownName.

    With ``text`` (words) and/or ``photo`` (``region``, ``windows`` as :meth:`Engine.search`
    takes them): only the person's items the words match, ranked by face similarity x word
    score x similarity to the photo (see the module's docstring)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError("k must be a positive integer")
    templates, _ = gallery.templates(person)  # UnknownName for a person not (or no longer) enrolled
    _check_faces(coll, gallery)
    limit = gallery.threshold(fpir)
    rows = coll.face_rows(where)
    faces = _best_faces(gallery, rows, templates, person, limit.threshold)
    if text is None and photo is None:
        return PersonSearch(person, gallery.name, limit.threshold, fpir, _plain_matches(coll, rows, faces, k))
    ranked = gallery.engine.search_service.rank_items(
        coll, list(faces), text=text, image=photo, region=region, windows=windows
    )
    matches = [
        PersonMatch(
            m.id,
            m.path,
            m.metadata,
            faces[m.id][0],
            rows.boxes[faces[m.id][1]].tolist(),
            score=faces[m.id][0] * m.score,
            concepts=m.concepts,
            query_region=m.query_region,
        )
        for m in ranked.values()
    ]
    matches.sort(key=lambda m: -m.rank_score)
    return PersonSearch(person, gallery.name, limit.threshold, fpir, matches[:k])


def _best_faces(
    gallery: Gallery, rows: FaceRows, templates: np.ndarray, person: str, threshold: float
) -> dict[str, tuple[float, int]]:
    """Item id -> (similarity, row) of its best face that is ``person``."""
    sims = best_similarities(rows.descriptors, templates)
    above = np.flatnonzero(sims >= threshold)
    # A face as close to another enrolled person is theirs (identify names the closest person).
    named = gallery.nearest_people(rows.descriptors[above])
    best: dict[str, tuple[float, int]] = {}
    for row in (r for r, who in zip(above, named, strict=True) if who == person):
        item_id = rows.item_ids[row]
        if item_id not in best or sims[row] > best[item_id][0]:
            best[item_id] = (float(sims[row]), int(row))
    return best


def _plain_matches(coll: Collection, rows: FaceRows, faces: dict[str, tuple[float, int]], k: int) -> list[PersonMatch]:
    """The ``k`` items of ``faces`` with the most similar face, best first."""
    matches = []
    for item_id, (similarity, row) in sorted(faces.items(), key=lambda kv: -kv[1][0])[:k]:
        item = coll.get(item_id)
        if item is None:  # deleted by another process since the faces were read
            continue
        matches.append(PersonMatch(item_id, item.path, item.metadata, similarity, rows.boxes[row].tolist()))
    return matches
