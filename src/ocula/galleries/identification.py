"""Identification's answer: who each face of a probe photo is, at a gallery's threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..collections import Collection
from ..face_types import Faces

__all__ = ["Candidate", "Identification", "identify_in"]


@dataclass(frozen=True)
class Candidate:
    person: str
    similarity: float

    def to_dict(self) -> dict[str, Any]:
        return {"person": self.person, "similarity": round(self.similarity, 4)}


@dataclass(frozen=True)
class Identification:
    """One face of a probe photo: who it is (``person``; None = unknown) at the gallery's threshold.

    Attributes:
        box: the face, x0, y0, x1, y1 pixels.
        person: the best candidate if it reaches ``threshold``, else None.
        similarity: the best candidate's similarity (None for an empty gallery).
        threshold: the similarity that keeps FPIR at the asked rate for this gallery's size.
        candidates: the ``k`` best people, best first, whatever their similarity.
        usable: the face passes the quality gate (decisions on faces that do not are unreliable).
    """

    box: list[float]
    person: str | None
    similarity: float | None
    threshold: float
    candidates: list[Candidate]
    usable: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [round(v, 1) for v in self.box],
            "person": self.person,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "threshold": round(self.threshold, 4),
            "usable": self.usable,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def identify_in(store: Collection, faces: Faces, threshold: float, k: int) -> list[Identification]:
    """One :class:`Identification` per face of ``faces`` (described as ``store``'s templates): its
    ``k`` nearest people in ``store`` (a gallery's), named when the best reaches ``threshold``."""
    assert faces.embeddings is not None
    usable = faces.usable()
    found = store.search(faces.embeddings, k) if len(store) else [[] for _ in range(len(faces))]
    out = []
    for i, matches in enumerate(found):
        candidates = [Candidate(m.id, float(m.score)) for m in matches]  # the l2 store's score is the similarity
        best = candidates[0] if candidates else None
        named = best is not None and best.similarity >= threshold
        out.append(
            Identification(
                box=[float(v) for v in faces.boxes[i]],
                person=best.person if named else None,
                similarity=best.similarity if best else None,
                threshold=threshold,
                candidates=candidates,
                usable=bool(usable[i]),
            )
        )
    return out
