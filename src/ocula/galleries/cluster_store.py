"""The stored clusters of a gallery's unknown faces (``ocula faces cluster -g NAME``).

They live beside the gallery, in a store named ``NAME.clusters`` of the same kind, descriptor,
metric and vector store: one item per cluster (``cluster-0001``, ...), one template per face,
each with its photo reference (path, sha256, box), as a gallery keeps its people. Cluster ids
are issued by the store (:meth:`~ocula.collections.Collection.issue`), so an id named away or
deleted never comes back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..collections import Collection
from ..config import Settings
from ..errors import InputError, UnknownName
from ..pipelines.faces import similarity
from .enrolment import store_templates
from .people import Person, people_of

__all__ = ["CLUSTERS_SUFFIX", "KIND", "ClusterStore"]

KIND = "galleries"  # the kind of store galleries (and their clusters) are
CLUSTERS_SUFFIX = ".clusters"  # bump when templates change: galleries then need re-enrolment
_CLUSTER_ID = re.compile(r"cluster-([0-9]{4,9})")  # matched whole


class ClusterStore:
    """A gallery's stored clusters. Open with :meth:`open`; use as a context manager or :meth:`close`."""

    def __init__(self, store: Collection):
        self._coll = store

    @classmethod
    def open(cls, gallery: Collection, settings: Settings, *, create: bool = False) -> ClusterStore | None:
        """The clusters beside the gallery whose store is ``gallery``; None if there are none yet
        (``create``: make the store, stamped as the gallery's). A cluster store of another
        descriptor than the gallery's is refused (InputError)."""
        try:
            store = Collection.open(
                f"{gallery.name}{CLUSTERS_SUFFIX}",
                settings=settings,
                embedder=gallery.embedder,
                dim=gallery.dim,
                create=create,
                vectors=gallery.vectors_uri if create else None,
                kind=KIND,
                metric="l2",
            )
        except UnknownName:
            return None
        return cls(store)

    # -- reading --------------------------------------------------------------------------
    def clusters(self) -> list[Person]:
        """The stored clusters, as :class:`Person` records named ``cluster-NNNN``."""
        return people_of(self._coll)

    def faces(self, cluster: str) -> tuple[np.ndarray, list[dict]]:
        """The descriptors and photo references of ``cluster``'s faces, in position order; an
        unknown id is an unknown *cluster* (UnknownName)."""
        if not isinstance(cluster, str) or not _CLUSTER_ID.fullmatch(cluster) or self._coll.get(cluster) is None:
            raise UnknownName("cluster", str(cluster), [c.name for c in self.clusters()])
        return self._faces(cluster)

    def _faces(self, cluster: str) -> tuple[np.ndarray, list[dict]]:
        item = self._coll.get(cluster)
        photos = [] if item is None else list(item.metadata.get("photos", []))
        return self._coll.vectors(cluster), photos

    # -- changes --------------------------------------------------------------------------
    def replace_all(self, clusters: Sequence[Sequence[dict[str, Any]]]) -> list[str]:
        """Replace every stored cluster with ``clusters`` (lists of faces ``{"descriptor", "path",
        "sha256", "box"}``); returns their new ids, freshly issued, in the order given."""
        self._coll.delete([c.name for c in self.clusters()])
        ids = self.issue_ids(len(clusters))
        for cid, faces in zip(ids, clusters, strict=True):
            refs = [{k: v for k, v in f.items() if k != "descriptor"} for f in faces]
            self.put(cid, np.stack([f["descriptor"] for f in faces]), refs, replace=True)
        return ids

    def put(self, cluster: str, descriptors: np.ndarray, refs: list[dict], *, replace: bool = False) -> int:
        """Add (``replace``: set) ``cluster``'s faces; returns how many it holds."""
        return store_templates(self._coll, cluster, descriptors, refs, replace=replace)

    def remove(self, cluster: str) -> None:
        """Erase ``cluster`` (its faces leave the store's files too, see :meth:`Collection.erase`)."""
        self._coll.erase([cluster])

    def merge(self, target: str, other: str) -> int:
        """Move the faces of ``other`` into ``target``; returns ``target``'s size."""
        if target == other:
            raise InputError("cannot merge a cluster with itself")
        descriptors, refs = self.faces(other)
        self.faces(target)  # must exist
        total = self.put(target, descriptors, refs)
        self.remove(other)
        return total

    def split(self, cluster: str, positions: Sequence[int]) -> str:
        """Move the faces at ``positions`` of ``cluster`` into a new cluster; returns its id."""
        descriptors, refs = self.faces(cluster)
        picked = sorted({int(i) for i in positions})
        if not picked or picked[0] < 0 or picked[-1] >= len(refs) or len(picked) == len(refs):
            raise InputError(f"split needs face positions in 0..{len(refs) - 1}, not all of them")
        rest = [i for i in range(len(refs)) if i not in picked]
        (new,) = self.issue_ids(1)
        self.put(new, descriptors[picked], [refs[i] for i in picked], replace=True)
        self.put(cluster, descriptors[rest], [refs[i] for i in rest], replace=True)
        return new

    def forget_faces(self, descriptors: np.ndarray, refs: list[dict], threshold: float) -> tuple[int, bool]:
        """Remove a forgotten person's faces: faces of the same photo and box as ``refs``, and
        faces ``descriptors`` reach ``threshold`` with. Returns how many, and whether their
        erasure is still pending on disk."""
        own = {(r.get("sha256"), tuple(r.get("box") or ())) for r in refs}
        removed = 0
        for cluster in self.clusters():
            d, r = self._faces(cluster.name)
            alike = similarity(d[:, None, :], descriptors[None, :, :]).max(axis=1) >= threshold
            same = np.array([(x.get("sha256"), tuple(x.get("box") or ())) in own for x in r])
            drop = alike | same
            if not drop.any():
                continue
            removed += int(drop.sum())
            if drop.all():
                self._coll.delete([cluster.name])
            else:
                keep = np.flatnonzero(~drop)
                self.put(cluster.name, d[keep], [r[i] for i in keep], replace=True)
        if removed:  # durable like the person's own erasure: snapshot rewritten, WAL truncated, noted till done
            return removed, self._coll.erase([]).pending
        return removed, False

    def issue_ids(self, n: int) -> list[str]:
        """``n`` cluster ids this store never issued before; a store from before the count
        numbers on past the highest id it holds."""
        held = [int(m.group(1)) for c in self.clusters() if (m := _CLUSTER_ID.fullmatch(c.name))]
        return [f"cluster-{i:04d}" for i in self._coll.issue("cluster ids", n, after=max(held, default=0))]

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        self._coll.close()

    def __enter__(self) -> ClusterStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
