"""Enrolment's steps: which photos are accepted, which face of each, and how a person's templates
and photo references are stored (in one write transaction, so concurrent enrolments add up)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..collections import Collection, Item, NewItem
from ..errors import InputError
from ..face_types import Faces, QualityGate
from ..hashing import file_sha256
from ..io import ImageSource, source_name
from ..pipelines.faces import contenders, face_at
from .thumbnails import THUMBNAIL_KEY

__all__ = [
    "Enrolment",
    "check_metadata",
    "choose_face",
    "gate_reason",
    "photo_file",
    "photo_names",
    "photo_sha256",
    "store_templates",
]


@dataclass(frozen=True)
class Enrolment:
    """What :meth:`Gallery.enroll` did: photos added for ``person`` and photos refused (reasons)."""

    person: str
    added: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    photos: int = 0  # the person's enrolled photos afterwards

    def to_dict(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "added": self.added,
            "refused": [{"photo": p, "reason": r} for p, r in self.refused],
            "photos": self.photos,
        }


def photo_names(photos: Sequence[ImageSource | Faces], names: Sequence[str] | None) -> list[str]:
    """How each photo is named in an enrolment's answer: as given, else its path or ``<type>``."""
    if names is None:
        return ["<Faces>" if isinstance(p, Faces) else source_name(p) for p in photos]
    if isinstance(names, str) or len(names) != len(photos) or not all(isinstance(n, str) for n in names):
        raise InputError(f"names must be {len(photos)} string(s), one per photo")
    return list(names)


def photo_sha256(source: ImageSource) -> str | None:
    """The sha256 of a photo given as a file or as bytes (None: pixels, or a file unreadable)."""
    if isinstance(source, (str, Path)):
        try:
            return file_sha256(Path(source))
        except OSError:
            return None
    if isinstance(source, (bytes, bytearray)):
        return hashlib.sha256(source).hexdigest()
    return None


def photo_file(source: ImageSource | Faces) -> dict[str, str]:
    """``{"file": absolute path}`` for a photo given as a path (what a face thumbnail is made
    from later, see :mod:`.thumbnails`); nothing for data."""
    if isinstance(source, (str, os.PathLike)):
        return {"file": os.path.abspath(os.fspath(source))}
    return {}


def check_metadata(metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        raise InputError("metadata must be a dict with string keys")
    for key, holds in (("photos", "the enrolled photos"), (THUMBNAIL_KEY, "the face crop kept at enrolment")):
        if key in metadata:
            raise InputError(f"{key!r} is reserved: ocula keeps {holds} there")
    return dict(metadata)


def gate_reason(faces: Faces, i: int, gate: QualityGate) -> str | None:
    if faces.size[i] < gate.min_size:
        return f"face too small (eyes {faces.size[i]:.0f} px apart, need {gate.min_size:.0f})"
    if faces.sharpness[i] < gate.min_sharpness:
        return f"face too blurred (sharpness {faces.sharpness[i]:.5f}, need {gate.min_sharpness})"
    if faces.frontal[i] < gate.min_frontal:
        return f"face turned away (frontal {faces.frontal[i]:.2f}, need {gate.min_frontal})"
    return None


def choose_face(faces: Faces, face: int | None, gate: QualityGate, name: str) -> int:
    """The face of ``faces`` to enrol from the photo ``name``: ``face`` if given, else the one
    usable face (NoFaceFound, or InputError when several faces rival it)."""
    if len(faces) == 0 or face is not None:
        return face_at(faces, face, name)
    # A face far less certain than face 0 (YuNet: a face in a painting behind the person)
    # is no rival for it: the same rule as face 0's (pipelines.faces.contenders).
    # A face at least as large as face 0 stays a rival however it scores: a turned subject
    # (lower score) behind a smaller frontal bystander must make the enrolment ambiguous,
    # not enrol the bystander under the subject's name.
    area = (faces.boxes[:, 2] - faces.boxes[:, 0]) * (faces.boxes[:, 3] - faces.boxes[:, 1])
    rivals = contenders(faces.scores, score_aware=faces.landmark_layout == "yunet5") | (area >= area[0])
    usable = np.flatnonzero(faces.usable(gate) & rivals)
    if len(faces) == 1 or len(usable) == 0:
        return 0  # one face, or none usable: the gate gives the reason
    if len(usable) > 1:
        raise InputError(
            f"{len(usable)} usable faces; pick one by index "
            "(face=, --face; 0 = the face `ocula faces detect` lists first)"
        )
    return int(usable[0])


def store_templates(
    store: Collection,
    person: str,
    descriptors: np.ndarray,
    refs: list[dict],
    metadata: dict | None = None,
    *,
    replace: bool = False,
) -> int:
    """Append (or with ``replace``, set) ``person``'s templates and photo references in ``store``
    (a gallery's, or its clusters') in one transaction; returns how many photos ``person`` has."""

    def change(existing: Item | None, old: np.ndarray, old_regions: list[Any]) -> NewItem:
        if replace or existing is None:
            old, old_regions, old_meta = old[:0], [], {}
        else:
            old_meta = existing.metadata
        old_refs = list(old_meta.get("photos", []))
        meta = {k: v for k, v in old_meta.items() if k != "photos"} | dict(metadata or {})
        vectors = np.vstack([old, np.asarray(descriptors, np.float32)])
        regions = list(old_regions) + [r.get("box") for r in refs]
        return NewItem(person, vectors, metadata=meta | {"photos": old_refs + refs}, regions=regions)

    stored = store.update(person, change)  # one transaction: concurrent enrolments add up
    assert stored is not None
    return len(stored.metadata["photos"])
