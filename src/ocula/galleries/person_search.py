"""Search a collection by person: the items whose stored faces match a gallery's templates.

The person's templates and the gallery's threshold are read when the search runs, never copied
into the collection: a photo enrolled since is used at once, and a person forgotten
(``ocula faces forget``) is unknown at once, so nothing about them stays findable through a
collection. A face matches when its similarity to any of the person's templates reaches the
gallery's threshold at ``fpir`` (:meth:`Gallery.threshold`, the one ``ocula faces identify``
names people at) and no other person of the gallery is closer to it: the faces ``ocula faces
identify`` would name as the person. Items are ranked by their best face's similarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..collections import Collection
from ..engine.search import item_faces_stamp
from ..errors import DescriptorMismatch, InputError
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "score": round(self.similarity, 6),
            "similarity": round(self.similarity, 4),
            "metadata": self.metadata,
            "face_box": [round(float(v), 1) for v in self.box],
        }


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
    gallery: Gallery, coll: Collection, person: str, *, k: int = 10, where: str | None = None, fpir: float = 0.01
) -> PersonSearch:
    """The ``k`` items of ``coll`` (those ``where`` keeps) where a face is ``person`` of
    ``gallery`` at its FPIR threshold, best face first. An unknown person: UnknownName."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError("k must be a positive integer")
    templates, _ = gallery.templates(person)  # UnknownName for a person not (or no longer) enrolled
    _check_faces(coll, gallery)
    limit = gallery.threshold(fpir)
    rows = coll.face_rows(where)
    sims = best_similarities(rows.descriptors, templates)
    above = np.flatnonzero(sims >= limit.threshold)
    # A face as close to another enrolled person is theirs (identify names the closest person).
    named = gallery.nearest_people(rows.descriptors[above])
    best: dict[str, int] = {}  # item id -> its best face's row
    for row in (r for r, who in zip(above, named, strict=True) if who == person):
        item_id = rows.item_ids[row]
        if item_id not in best or sims[row] > sims[best[item_id]]:
            best[item_id] = int(row)
    ranked = sorted(best.items(), key=lambda kv: -sims[kv[1]])[:k]
    matches = []
    for item_id, row in ranked:
        item = coll.get(item_id)
        if item is None:  # deleted by another process since the faces were read
            continue
        matches.append(PersonMatch(item_id, item.path, item.metadata, float(sims[row]), rows.boxes[row].tolist()))
    return PersonSearch(person, gallery.name, limit.threshold, fpir, matches)
