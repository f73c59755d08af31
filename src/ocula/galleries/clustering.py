"""Grouping the faces of unknown people: average-linkage clustering with cannot-link.

Faces are merged bottom-up, the two groups with the highest average pairwise face similarity
first, until no two groups are at least ``threshold`` alike on average. Two faces from the same
photo are two people: their similarity is set to -inf, and average linkage carries the -inf
into every group that contains either, so such groups can never be merged (the mistake Immich's
users report: one person twice in one photo).

Average linkage rather than single linkage (DBSCAN's chaining) because one look-alike pair must
not join two people's whole groups; ``benchmarks/face_clustering.py`` compares both on celeba-80.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..models.registry import get_model
from ..pipelines.faces import DESCRIPTOR_MODELS, Descriptor, similarity

__all__ = ["DEFAULT_CLUSTER_THRESHOLD", "bcubed", "cluster_faces", "cluster_threshold"]


def cluster_threshold(descriptor_model: str) -> float:
    """The average similarity at which two groups of faces described by ``descriptor_model``
    (a registry name: ``dlib_resnet_face``, ``sface_face``, ``sface_dlib_face``) are one person:
    the registry entry's ``cluster_threshold``, chosen by ``benchmarks/face_clustering.py
    --split``. Each descriptor needs its own: dlib's similarity of two strangers is about 0.6,
    SFace's cosine about 0.1, the fusion's about 0.6."""
    threshold = get_model(descriptor_model).cluster_threshold
    if threshold is None:
        raise InputError(f"{descriptor_model} has no clustering threshold: pass one")
    return threshold


# dlib's threshold (the default descriptor's before faces v2; kept as a name for callers).
DEFAULT_CLUSTER_THRESHOLD = cluster_threshold(DESCRIPTOR_MODELS[Descriptor.DLIB])
MAX_FACES = 20_000  # the similarity matrix is n^2 float32: 1.6 GB at this size


def cluster_faces(
    descriptors: np.ndarray, photos: Sequence[object] | None = None, *, threshold: float = DEFAULT_CLUSTER_THRESHOLD
) -> np.ndarray:
    """Cluster labels (n,) for face ``descriptors`` (n, d); ``photos[i]`` names the photo of face
    i (faces of one photo never share a label). Labels are numbered by size, largest first."""
    x = np.asarray(descriptors, np.float32)
    n = len(x)
    if x.ndim != 2:
        raise InputError("descriptors must be a 2-D array")
    if n > MAX_FACES:
        raise InputError(f"{n:,} faces: clustering takes at most {MAX_FACES:,} at once")
    if n == 0:
        return np.zeros(0, np.int64)
    sim = similarity(x[:, None, :], x[None, :, :]).astype(np.float32)
    np.fill_diagonal(sim, -np.inf)
    if photos is not None:
        if len(photos) != n:
            raise InputError("one photo per face")
        keys = np.unique(np.array([str(p) for p in photos]), return_inverse=True)[1]
        sim[keys[:, None] == keys[None, :]] = -np.inf
    size = np.ones(n, np.int64)
    alive = np.ones(n, bool)
    parent = np.arange(n)
    arg = sim.argmax(axis=1)  # each group's most similar other group, and how similar
    best = sim[np.arange(n), arg]
    while True:
        i = int(np.argmax(np.where(alive, best, -np.inf)))
        if not alive[i] or best[i] < threshold:
            break
        j = int(arg[i])
        # Lance-Williams update for average linkage: the merged group's row is the size-weighted
        # mean of the two rows; -inf (cannot-link) stays -inf, so it is inherited.
        merged = (size[i] * sim[i] + size[j] * sim[j]) / (size[i] + size[j])
        merged[i] = merged[j] = -np.inf
        sim[i], sim[:, i] = merged, merged
        sim[j, :], sim[:, j] = -np.inf, -np.inf
        size[i] += size[j]
        alive[j] = False
        best[j] = -np.inf
        parent[parent == j] = i
        stale = alive & ((arg == i) | (arg == j))
        stale[i] = True
        rows = np.flatnonzero(stale)
        arg[rows] = sim[rows].argmax(axis=1)
        best[rows] = sim[rows, arg[rows]]
        up = alive & ~stale & (merged > best)
        arg[up], best[up] = i, merged[up]
    _roots, labels = np.unique(parent, return_inverse=True)
    order = np.argsort(-np.bincount(labels), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[labels].astype(np.int64)


def bcubed(labels: np.ndarray, truth: Sequence[object]) -> tuple[float, float, float]:
    """BCubed (precision, recall, F) of cluster ``labels`` against true identities."""
    labels = np.asarray(labels)
    t = np.unique(np.array([str(v) for v in truth]), return_inverse=True)[1]
    same_cluster = labels[:, None] == labels[None, :]
    same_truth = t[:, None] == t[None, :]
    both = (same_cluster & same_truth).sum(axis=1)
    precision = float(np.mean(both / same_cluster.sum(axis=1)))
    recall = float(np.mean(both / same_truth.sum(axis=1)))
    return precision, recall, 2 * precision * recall / (precision + recall)
