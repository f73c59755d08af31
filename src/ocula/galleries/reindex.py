"""Describe a gallery's enrolled photos again with another face descriptor (``ocula reindex --gallery``).

A gallery keeps, for every template, the photo's path, its sha256 and the face's box. The new
gallery is built beside the old one (``NAME.reindex``) from those files: each photo is read
again, checked against its sha256, its faces found with the new descriptor's detector, and the
face at the stored box described. Only when every template was described again (or the caller
accepted to drop those that could not be) is the new gallery swapped in; any failure before
leaves the old gallery as it was.

Erasure: only the templates the gallery holds now are read, so a forgotten person (whose
templates and photo references were erased) is not brought back. If the gallery changes while
it is being reindexed (an enrolment, a ``forget`` by another process), the reindex is refused
rather than swapping in a copy made before that change. The stored clusters of unknown faces
hold old-descriptor faces: they are dropped (``ocula faces cluster`` makes them again).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..collections import Collection, drop_collection, swap_collection
from ..config import Settings
from ..errors import InputError, OculaError, StoreError, UnknownName
from ..pipelines.faces import DEFAULT_DETECTORS, Descriptor, Detector, as_descriptor, as_detector
from .cluster_store import CLUSTERS_SUFFIX, KIND
from .enrolment import photo_sha256, store_templates
from .gallery import REINDEX_SUFFIX, _check_gallery_name, open_gallery_store

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["GalleryReindex", "reindex_gallery"]


@dataclass
class GalleryReindex:
    """What a gallery reindex did.

    Attributes:
        gallery, descriptor: the gallery and the descriptor it now holds.
        people, templates: people and templates in the rebuilt gallery.
        failed: (person, photo, reason) of each template that could not be described again.
        dropped_people: people left without any template (only with ``drop_missing``).
        clusters_dropped: stored clusters of unknown faces removed (old-descriptor faces).
    """

    gallery: str
    descriptor: str
    people: int = 0
    templates: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    dropped_people: list[str] = field(default_factory=list)
    clusters_dropped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "gallery": self.gallery,
            "descriptor": self.descriptor,
            "people": self.people,
            "templates": self.templates,
            "dropped": [{"person": p, "photo": f, "reason": r} for p, f, r in self.failed],
            "dropped_people": self.dropped_people,
            "clusters_dropped": self.clusters_dropped,
        }


def reindex_gallery(
    name: str,
    *,
    engine: Engine,
    descriptor: Descriptor | str,
    detector: Detector | str | None = None,
    drop_missing: bool = False,
    progress: Callable[[int, int], None] | None = None,
    settings: Settings | None = None,
) -> GalleryReindex:
    """Rebuild gallery ``name`` with ``descriptor`` from its enrolled photos' files.

    A template whose photo is gone, changed since enrolment (sha256) or no longer shows a face
    at the stored box makes the reindex fail with an InputError listing it, and the gallery is
    left unchanged, unless ``drop_missing``: then such templates are dropped (and a person left
    without any, too) and listed in the report. People keep their names and metadata.
    ``settings``: where the gallery lives (default the engine's)."""
    _check_gallery_name(name)
    descriptor = as_descriptor(descriptor)
    chosen = as_detector(detector) if detector is not None else DEFAULT_DETECTORS[descriptor]
    settings = settings or engine.settings
    # Read as a plain store, not a Gallery: a gallery whose stamp this ocula no longer computes
    # (older weights) cannot be opened as a Gallery, and is exactly what a reindex is for.
    with Collection.open(name, settings=settings, kind=KIND, metric="l2") as old:
        store, generation = old.vectors_uri, old._generation()
        people = [
            (item.id, list(item.metadata.get("photos", [])), _without_photos(item.metadata)) for item in old.items()
        ]
    clusters = _cluster_count(name, settings)
    report = GalleryReindex(name, descriptor.value, clusters_dropped=clusters)
    building = f"{name}{REINDEX_SUFFIX}"
    drop_collection(building, settings, kind=KIND, missing_ok=True)  # a reindex that was interrupted
    try:
        _build(engine, settings, building, store, descriptor, chosen, people, report, progress)
        if report.failed and not drop_missing:
            person, photo, reason = report.failed[0]
            raise InputError(
                f"{len(report.failed)} template(s) of gallery {name} cannot be described again (first: {person}, "
                f"{photo}: {reason}); {name} is unchanged. Restore the photos, or pass --drop-missing to rebuild "
                "without those templates (a person left with none is dropped)"
            )
        # The stored clusters hold the old descriptor's faces: dropped first, so a crash after the
        # swap cannot leave a cluster store the new gallery's forget would refuse.
        drop_collection(f"{name}{CLUSTERS_SUFFIX}", settings, kind=KIND, missing_ok=True)
        _swap(name, building, generation, settings)
    finally:
        drop_collection(building, settings, kind=KIND, missing_ok=True)
    return report


def _without_photos(metadata: dict) -> dict:
    return {k: v for k, v in metadata.items() if k != "photos"}


def _cluster_count(name: str, settings: Settings) -> int:
    try:
        with Collection.open(f"{name}{CLUSTERS_SUFFIX}", settings=settings, kind=KIND, metric="l2") as clusters:
            return len(clusters)
    except UnknownName:
        return 0


def _build(
    engine: Engine,
    settings: Settings,
    building: str,
    store: str,
    descriptor: Descriptor,
    detector: Detector,
    people: list[tuple[str, list[dict], dict]],
    report: GalleryReindex,
    progress: Callable[[int, int], None] | None,
) -> None:
    total, done = sum(len(refs) for _, refs, _ in people), 0
    with open_gallery_store(building, settings, descriptor, create=True, vectors=store) as new:
        for person, refs, metadata in people:
            vectors, kept = [], []
            for ref in refs:
                photo = str(ref.get("path"))
                try:
                    vector, box = _describe_again(engine, ref, descriptor, detector)
                except OculaError as exc:
                    report.failed.append((person, photo, str(exc).removeprefix(f"{photo}: ")))
                else:
                    vectors.append(vector)
                    kept.append(ref | {"box": [round(float(v), 1) for v in box]})
                done += 1
                if progress is not None:
                    progress(done, total)
            if not vectors:
                report.dropped_people.append(person)
                continue
            store_templates(new, person, np.stack(vectors), kept, metadata)
            report.people += 1
            report.templates += len(vectors)


def _describe_again(
    engine: Engine, ref: dict, descriptor: Descriptor, detector: Detector
) -> tuple[np.ndarray, np.ndarray]:
    """The descriptor and box of the face a template was made from, found again in its photo:
    only a file a local enrolment recorded (its absolute path, ``file``) and only while it has the
    sha256 recorded then. An upload's ``path`` is a name a client chose, never opened."""
    path, digest = ref.get("file"), ref.get("sha256")
    if not isinstance(path, str) or not isinstance(digest, str):
        raise InputError("no photo file was kept for it (enrolled from an upload or from pixels): enrol it again")
    if not Path(path).is_file():
        raise InputError(f"the photo file is gone (no file {path!r})")
    if photo_sha256(path) != digest:
        raise InputError("the photo file changed since it was enrolled (its sha256 differs)")
    # An enrolment photo shows a face: searched turned too, as when it was enrolled (Gallery._faces).
    faces = engine.faces(path, detector=detector, descriptor=descriptor, face_expected=True)
    i = _same_face(faces.boxes, ref.get("box"))
    assert faces.embeddings is not None
    return faces.embeddings[i], faces.boxes[i]


def _same_face(boxes: np.ndarray, stored: Any) -> int:
    """The found face that is the enrolled one: of the boxes whose centre lies inside the
    stored box and which hold its centre, the one overlapping it most. Detectors draw boxes
    differently (YuNet's reach the forehead and chin, HOG's do not), so overlap alone is a poor
    test, but a face's centre is inside any detector's box of it."""
    if len(boxes) == 0:
        raise InputError("no face found in the photo any more")
    if not isinstance(stored, (list, tuple)) or len(stored) != 4:
        if len(boxes) == 1:
            return 0
        raise InputError(f"{len(boxes)} faces and no stored box to tell the enrolled one")
    s = np.asarray(stored, np.float64)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    centre = (s[:2] + s[2:]) / 2
    inside = np.all((centres >= s[:2]) & (centres <= s[2:]), axis=1)
    holds = np.all((boxes[:, :2] <= centre) & (boxes[:, 2:] >= centre), axis=1)
    candidates = np.flatnonzero(inside & holds)
    if len(candidates) == 0:
        raise InputError(f"no face found at the enrolled box {[round(float(v)) for v in s]}")
    x0, y0 = np.maximum(boxes[candidates, :2], s[:2]).T
    x1, y1 = np.minimum(boxes[candidates, 2:], s[2:]).T
    overlap = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    return int(candidates[int(np.argmax(overlap))])


def _swap(name: str, building: str, generation: int, settings: Settings) -> None:
    """Put the rebuilt gallery in the old one's place, unless the old one changed meanwhile. The
    old store's SQLite write lock is held from the check to the renames: an enrolment or forget
    either commits before (the swap is refused) or waits and then finds its store replaced
    (StoreError: it is never lost silently, nor a forgotten person brought back)."""

    @contextlib.contextmanager
    def unchanged(target: Path) -> Iterator[None]:
        db = sqlite3.connect(target / "items.sqlite", timeout=30, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            (current,) = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
            if int(current) != generation:
                raise StoreError(
                    f"gallery {name} changed while it was being reindexed (an enrolment or erasure); it is "
                    "unchanged: run the reindex again"
                )
            yield
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot lock gallery {name} to swap in its reindexed copy ({exc})") from None
        finally:
            db.close()

    swap_collection(name, building, settings, kind=KIND, hold=unchanged)
