"""Clustering the unknown faces of a photo library (``ocula faces cluster``).

Every face of every photo is found and described; faces that fail the quality gate are left
out (a blurred or tiny face clusters with anyone); with a gallery, faces it identifies (at the
chosen FPIR) are counted as known people and left out too. The rest are clustered with
cannot-link per photo (:mod:`ocula.galleries.clustering`). Clusters of one face are reported as
singletons, not stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DescriptorMismatch
from ..face_types import Faces, QualityGate
from ..io import ImageSource
from ..pipelines.faces import DEFAULT_DESCRIPTOR, DEFAULT_DETECTORS, DESCRIPTOR_MODELS, Descriptor, as_descriptor
from .clustering import cluster_faces, cluster_threshold
from .enrolment import photo_file, photo_sha256
from .gallery import Gallery

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["LibraryClusters", "cluster_library"]


@dataclass
class LibraryClusters:
    """What clustering a library found: clusters (faces as ``{"path", "sha256", "box",
    "descriptor"}``, largest first), and the faces it left out and why."""

    clusters: list[list[dict[str, Any]]] = field(default_factory=list)
    singletons: int = 0
    known: dict[str, int] = field(default_factory=dict)  # person -> faces identified
    low_quality: int = 0
    photos: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # cluster ids once saved in a gallery

    def to_dicts(self) -> list[dict[str, Any]]:
        return [
            {
                "cluster": self.ids[n] if self.ids else n,
                "size": len(faces),
                "faces": [{"path": f["path"], "box": f["box"]} for f in faces],
            }
            for n, faces in enumerate(self.clusters)
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "photos": self.photos,
            "clusters": len(self.clusters),
            "clustered_faces": sum(len(c) for c in self.clusters),
            "singletons": self.singletons,
            "known": self.known,
            "low_quality": self.low_quality,
            "failed": len(self.failed),
        }


def cluster_library(
    engine: Engine,
    photos: Sequence[ImageSource],
    *,
    gallery: Gallery | None = None,
    threshold: float | None = None,
    fpir: float = 0.01,
    detector: str | None = None,
    descriptor: Descriptor | str | None = None,
    gate: QualityGate = QualityGate(),
    progress: Callable[[int, int], None] | None = None,
) -> LibraryClusters:
    """Find, describe and cluster the faces of ``photos``.

    ``descriptor``: the gallery's (naming another is refused), else ``DEFAULT_DESCRIPTOR``;
    ``detector``: the descriptor's own by default; ``threshold``: the descriptor's clustering
    threshold by default (its registry entry's, :func:`~ocula.galleries.clustering.cluster_threshold`)."""
    chosen = _descriptor(gallery, descriptor)
    if threshold is None:
        threshold = cluster_threshold(DESCRIPTOR_MODELS[chosen])
    detector = detector or DEFAULT_DETECTORS[chosen].value
    out = LibraryClusters(photos=len(photos))
    faces: list[dict[str, Any]] = []
    for n, result in enumerate(engine.faces_many(photos, detector=detector, descriptor=chosen.value), start=1):
        if progress:
            progress(n, len(photos))
        if not result.ok:
            out.failed.append((result.source, str(result.error)))
            continue
        found = _usable_faces(result.faces, gate, out)
        if found is None:
            continue
        names: list[str | None] = [None] * len(found)
        if gallery is not None and len(gallery):
            names = [i.person for i in gallery.identify_faces(found, fpir=fpir, k=1)]
        faces += _unknown_faces(found, names, photos[n - 1], result.source, n, out)
    if faces:
        _group(faces, threshold, out)
    if gallery is not None:
        out.ids = gallery.save_clusters(out.clusters)
    return out


def _usable_faces(found: Faces, gate: QualityGate, out: LibraryClusters) -> Faces | None:
    """The faces that pass ``gate`` (the others counted as low quality); None when none do."""
    if not len(found):
        return None
    usable = found.usable(gate)
    out.low_quality += int((~usable).sum())
    found = found[usable]
    return found if len(found) else None


def _unknown_faces(
    found: Faces, names: list[str | None], photo: ImageSource, source: str, n: int, out: LibraryClusters
) -> list[dict[str, Any]]:
    """The records of the faces no enrolled person was named for; the named ones are counted."""
    sha = photo_sha256(photo)
    faces = []
    for i, person in enumerate(names):
        if person is not None:
            out.known[person] = out.known.get(person, 0) + 1
            continue
        faces.append(
            {
                "path": source,
                "photo": n,  # cannot-link key: in-memory inputs all share one source name
                "sha256": sha,
                "box": [round(float(v), 1) for v in found.boxes[i]],
                "descriptor": found.embeddings[i],
            }
            | photo_file(photo)
        )
    return faces


def _group(faces: list[dict[str, Any]], threshold: float, out: LibraryClusters) -> None:
    """Cluster the faces' descriptors: groups of two or more into ``out.clusters``, the rest counted."""
    labels = cluster_faces(np.stack([f["descriptor"] for f in faces]), [f["path"] for f in faces], threshold=threshold)
    for label in range(int(labels.max()) + 1):
        members = [faces[i] for i in np.flatnonzero(labels == label)]
        if len(members) > 1:
            out.clusters.append(members)
        else:
            out.singletons += 1


def _descriptor(gallery: Gallery | None, asked: Descriptor | str | None) -> Descriptor:
    """The descriptor a library is clustered with: the gallery's, when there is one."""
    wanted = None if asked is None else as_descriptor(asked)
    if gallery is None:
        return wanted or DEFAULT_DESCRIPTOR
    if wanted is not None and wanted is not gallery.descriptor:
        raise DescriptorMismatch(
            f"gallery {gallery.name} holds {gallery.descriptor.value} descriptors, not {wanted.value}: "
            "its people and clusters are compared with the library's faces"
        )
    return gallery.descriptor
