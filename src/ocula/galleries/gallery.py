"""Face galleries: enrol people from photos, identify faces 1:N with an honest "unknown", forget.

A gallery is a :class:`~ocula.collections.Collection` of kind ``galleries`` (same SQLite truth,
same crash safety, FAISS or Milvus, with the ``l2`` metric whose score is the face
similarity): one item per person, one vector per enrolled photo (the face's descriptor), the
face box as the vector's region, and the photos' paths and hashes in the item's metadata. A person is as close
to a face as their closest photo (max over templates), which is what the collection's search
returns per item.

Why every photo a template (``benchmarks/gallery_templates.py``, celeba-80, 3 photos per
person): rank-1 0.9677 and FNIR 0.0670 at FPIR 0.01, against 0.9099 / 0.1594 with one photo.
A single mean-descriptor template scores a little better at empirical thresholds (0.9746 /
0.0508), but an unknown face is closer to a mean than to a photo, so the calibrated threshold
let through 2.4% of strangers where 1% was asked. With photo templates every comparison is a
photo pair, as in the calibration, and the measured FPIR stays below the asked one (0.4%).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..collections import Collection, Item, NewItem, collection_names, drop_collection
from ..config import Settings
from ..errors import DescriptorMismatch, InputError, OculaError, UnknownName
from ..face_types import Faces, QualityGate
from ..io import ImageSource, load_image
from ..models.registry import get_model
from ..pipelines.faces import (
    DEFAULT_DESCRIPTOR,
    DEFAULT_DETECTORS,
    DESCRIPTOR_MODELS,
    Descriptor,
    Detector,
    as_descriptor,
)
from .cluster_store import CLUSTERS_SUFFIX, KIND, ClusterStore
from .enrolment import (
    Enrolment,
    check_metadata,
    choose_face,
    gate_reason,
    photo_file,
    photo_names,
    photo_sha256,
    store_templates,
)
from .fpir_thresholds import GalleryThreshold, threshold_for_fpir
from .identification import Candidate, Identification, identify_in
from .people import Person, check_new_person, check_person, people_of
from .thumbnails import (
    STORED_THUMBNAIL_PX,
    THUMBNAIL_KEY,
    data_url,
    face_crop_jpeg,
    reference_thumbnail,
    stored_thumbnail,
)

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "Candidate",
    "Enrolment",
    "Forgotten",
    "Gallery",
    "Identification",
    "Person",
    "drop_gallery",
    "gallery_names",
]

# How each descriptor's templates are made and compared: part of the gallery's stamp, so a
# gallery's templates are only ever compared with faces described the same way.
RECIPES = {
    Descriptor.DLIB: "flip-avg-l2-v1",
    Descriptor.SFACE: "flip-unit-cos-v1",
    Descriptor.FUSED: "flip-unit-fused-cos-v1",  # unit parts, weighted as the registry's entry says
}
RECIPE = RECIPES[Descriptor.DLIB]
#: The store a reindex builds beside a gallery, and the old one while the new is swapped in.
REINDEX_SUFFIX, RETIRED_SUFFIX = ".reindex", ".retired"
#: Names of stores that belong to a gallery: never a gallery's own name, never listed.
RESERVED_SUFFIXES = (CLUSTERS_SUFFIX, REINDEX_SUFFIX, RETIRED_SUFFIX)


def _stamp(descriptor: Descriptor = Descriptor.DLIB) -> str:
    """The stamp a gallery of ``descriptor`` carries: model name, weights version, recipe."""
    spec = get_model(DESCRIPTOR_MODELS[descriptor])
    return f"{spec.name}@{spec.version}/{RECIPES[descriptor]}"


def _descriptor_of(stamp: str) -> Descriptor | None:
    """The descriptor whose current stamp is ``stamp`` (None: another model, weights version
    or recipe than ocula's: the gallery must be reindexed)."""
    return next((d for d in Descriptor if _stamp(d) == stamp), None)


def _reindex_hint(name: str, descriptor: Descriptor) -> str:
    return f"run `ocula reindex --gallery {name} --descriptor {descriptor.value}` to describe its photos again"


def gallery_names(settings: Settings | None = None) -> list[str]:
    return [n for n in collection_names(settings, kind=KIND) if not n.endswith(RESERVED_SUFFIXES)]


def _check_gallery_name(name: str) -> str:
    """Gallery names leave room for the stores beside them (``.clusters``, and a reindex's
    ``.reindex`` / ``.retired``) and cannot be one: a client could otherwise make a store a
    reindex would drop, or one it would swap in."""
    if not isinstance(name, str) or name.endswith(RESERVED_SUFFIXES) or len(name) > 64 - len(CLUSTERS_SUFFIX):
        raise InputError(
            f"invalid gallery name {name!r}: up to {64 - len(CLUSTERS_SUFFIX)} characters, "
            f"not ending in {' or '.join(repr(x) for x in RESERVED_SUFFIXES)}"
        )
    return name


def drop_gallery(name: str, settings: Settings | None = None, *, only_if_empty: bool = False) -> bool:
    """Delete the gallery ``name`` and its stored clusters; with ``only_if_empty``, only when
    nobody is enrolled (checked under its write lock). Returns whether it was dropped."""
    _check_gallery_name(name)
    if not drop_collection(name, settings, kind=KIND, only_if_empty=only_if_empty):
        return False
    for companion in RESERVED_SUFFIXES:  # its clusters, and what an interrupted reindex left
        drop_collection(f"{name}{companion}", settings, kind=KIND, missing_ok=True)
    return True


@dataclass(frozen=True)
class Forgotten:
    """What :meth:`Gallery.forget` did: the person's faces removed from the stored clusters, and
    whether the erasure is still pending on disk (another connection, e.g. a long read by
    another process, kept SQLite's write-ahead log from being truncated: the erased rows may
    remain in the gallery's files until a later open or close of the gallery finishes it)."""

    person: str
    cluster_faces: int
    erasure_pending: bool


class Gallery:
    """A named face gallery. Open with :meth:`open`; use as a context manager or :meth:`close`.

    Photos are analysed by an :class:`~ocula.engine.Engine` (the one given, or one the gallery
    makes and closes). Every method that takes photos also takes :class:`Faces` with embeddings.
    """

    def __init__(self, collection: Collection, engine: Engine, owns_engine: bool, settings: Settings):
        self._coll, self._engine, self._owns_engine = collection, engine, owns_engine
        self.name, self.settings = collection.name, settings
        self._table = None  # the calibration, read once
        found = _descriptor_of(collection.embedder)
        if found is None:
            collection.close()
            raise DescriptorMismatch(
                f"gallery {collection.name} was built with {collection.embedder}, which this version of ocula "
                f"does not compute; {_reindex_hint(collection.name, Descriptor.DLIB)}"
            )
        #: The face descriptor of this gallery's templates: every face compared with them is
        #: described by it, whatever the default.
        self.descriptor: Descriptor = found

    @property
    def engine(self) -> Engine:
        """The engine that analyses this gallery's photos (a search by person embeds its query photo with it)."""
        return self._engine

    @classmethod
    def open(
        cls,
        name: str,
        *,
        settings: Settings | None = None,
        engine: Engine | None = None,
        create: bool = False,
        vectors: str | None = None,
        descriptor: Descriptor | str | None = None,
    ) -> Gallery:
        """Open the gallery ``name`` (``create``: make it if missing, its vectors in ``vectors``).

        ``descriptor``: the face descriptor a new gallery is built with (default ``DEFAULT_DESCRIPTOR``, sface+dlib). An
        existing gallery keeps the one it was built with (its stamp), and is refused with
        :class:`~ocula.errors.DescriptorMismatch` when another is named: ``ocula reindex
        --gallery`` describes its photos again."""
        _check_gallery_name(name)
        return cls._open_store_named(name, settings=settings, engine=engine, create=create, vectors=vectors,
                                     descriptor=descriptor)  # fmt: skip

    @classmethod
    def _open_store_named(
        cls,
        name: str,
        *,
        settings: Settings | None,
        engine: Engine,
        create: bool,
        vectors: str | None,
        descriptor: Descriptor | str | None,
    ) -> Gallery:
        """:meth:`open` without the name check: for the store a reindex builds (``G.reindex``)."""
        from ..engine import Engine  # the gallery sits above the Engine; imported here, not at load

        settings = settings or (engine.settings if engine is not None else Settings())
        wanted = None if descriptor is None else as_descriptor(descriptor)
        coll = open_gallery_store(name, settings, wanted, create=create, vectors=vectors)
        gallery = cls(coll, engine if engine is not None else Engine(settings), engine is None, settings)
        if wanted is not None and gallery.descriptor is not wanted:
            gallery.close()
            raise DescriptorMismatch(
                f"gallery {name} holds {gallery.descriptor.value} descriptors ({coll.embedder}), not "
                f"{wanted.value}; {_reindex_hint(name, wanted)}"
            )
        return gallery

    def check_descriptor(self, descriptor: Descriptor | str | None) -> None:
        """Refuse a descriptor other than the gallery's (its templates could not be compared)."""
        if descriptor is not None and as_descriptor(descriptor) is not self.descriptor:
            raise DescriptorMismatch(
                f"gallery {self.name} holds {self.descriptor.value} descriptors, not "
                f"{as_descriptor(descriptor).value}; "
                f"{_reindex_hint(self.name, as_descriptor(descriptor))}"
            )

    # -- people ---------------------------------------------------------------------------
    def people(self) -> list[Person]:
        return people_of(self._coll)

    def __len__(self) -> int:
        return len(self._coll)

    def __contains__(self, person: object) -> bool:
        return isinstance(person, str) and self._coll.get(person) is not None

    def _check_name_to_store(self, person: str) -> None:
        """A new person needs a name :func:`check_new_person` accepts; one enrolled before
        those rules keeps the name it has (more photos may be added, it can be forgotten)."""
        if check_person(person) not in self:
            check_new_person(person)

    def forget(self, person: str) -> Forgotten:
        """Erase ``person``: every template, photo reference and the metadata, and their faces
        in the stored clusters. Unknown → UnknownName. The result says how many cluster faces
        went and whether the erasure is still pending on disk (see :class:`Forgotten`)."""
        descriptors, refs = self.templates(person)
        # The clusters first: their faces are found through the person's templates and photo
        # references, so if this step fails (a busy or unreadable cluster store, a full disk)
        # the person must still be there for a retry to find them.
        removed, clusters_pending = self._forget_in_clusters(descriptors, refs)
        # A reindex's build copies the person; one left by an interrupted reindex is dropped (a
        # running reindex then fails, and its swap would be refused anyway: the gallery changed).
        # So is an old store a swap left aside when it was killed after putting the copy in
        # (``collections.swap``: only where the two cannot be exchanged in one step).
        for leftover in (REINDEX_SUFFIX, RETIRED_SUFFIX):
            drop_collection(f"{self.name}{leftover}", self.settings, kind=KIND, missing_ok=True)
        erased = self._coll.erase([person])  # no copy left in the store's files (see Collection.erase)
        return Forgotten(person, removed, erasure_pending=erased.pending or clusters_pending)

    # -- enrolment ------------------------------------------------------------------------
    def enroll(
        self,
        person: str,
        photos: Sequence[ImageSource | Faces],
        *,
        metadata: dict[str, Any] | None = None,
        face: int | None = None,
        detector: Detector | str | None = None,
        gate: QualityGate = QualityGate(),
        names: Sequence[str] | None = None,
        descriptor: Descriptor | str | None = None,
    ) -> Enrolment:
        """Add ``photos`` of ``person`` (created if new; not when no photo is accepted). Each
        photo must show exactly one face that passes ``gate``, or ``face`` picks one by index
        (largest first). Refused photos are listed with the reason; the accepted ones are stored
        in one transaction. ``names`` (one per photo) is how the photos are named in the answer
        and the stored references, e.g. an upload's filename for decoded pixels; by default a
        photo's path, or ``<ndarray>``-style for data. Faces are described by the gallery's
        descriptor (``descriptor``, if given, must be it: DescriptorMismatch otherwise) and found
        by ``detector`` (default: that descriptor's, ``DEFAULT_DETECTORS``)."""
        self.check_descriptor(descriptor)
        self._check_name_to_store(person)
        if not isinstance(photos, (list, tuple)):
            photos = [photos]  # one photo: a path, bytes, an array, a PIL image or Faces
        metadata = check_metadata(metadata)
        names = photo_names(photos, names)
        added, refused, templates, refs = [], [], [], []
        pixels = None  # the first accepted photo given as data (no file), with its face box
        # The same file (or bytes) twice for a person would be two equal templates, and a larger
        # gallery's stricter threshold: refused, as in this very call (a re-run enrolment script).
        existing = self._coll.get(person)
        enrolled = {ref.get("sha256") for ref in (existing.metadata.get("photos", []) if existing else [])}
        for photo, name in zip(photos, names, strict=True):
            try:
                faces = self._faces(photo, detector)
                i = choose_face(faces, face, gate, name)
            except OculaError as exc:  # the answer names the photo: its reason need not repeat it
                refused.append((name, str(exc).removeprefix(f"{name}: ")))
                continue
            reason = gate_reason(faces, i, gate)
            # Hashed after decoding (the file is a readable photo), and only if accepted so far.
            digest = photo_sha256(photo) if reason is None else None
            if digest is not None and digest in enrolled:
                reason = f"already enrolled for {person} (the same photo)"
            if reason is not None:
                refused.append((name, reason))
                continue
            assert faces.embeddings is not None
            enrolled.add(digest)
            templates.append(faces.embeddings[i])
            box = [round(float(v), 1) for v in faces.boxes[i]]
            refs.append({"path": name, "sha256": digest, "box": box} | photo_file(photo))
            added.append(name)
            if pixels is None and not isinstance(photo, Faces) and not photo_file(photo):
                pixels = (photo, box)
        if templates:
            total = store_templates(self._coll, person, np.stack(templates), refs, metadata)
            if pixels is not None:
                self._keep_thumbnail(person, *pixels)
        else:
            # Metadata only: merged in one write transaction, so a concurrent enrolment's photo
            # references are not overwritten.
            def merge(existing: Item | None, old: np.ndarray, regions: list[Any]) -> NewItem | None:
                if existing is None or not metadata:
                    return None
                return NewItem(person, old, metadata=existing.metadata | metadata, regions=regions)

            self._coll.update(person, merge)
            existing = self._coll.get(person)
            total = len(existing.metadata.get("photos", [])) if existing else 0
        return Enrolment(person, added, refused, total)

    def _keep_thumbnail(self, person: str, photo: ImageSource, box: list[float]) -> None:
        """A photo given as data (an upload's pixels, bytes, an array) leaves no file to make the
        person's thumbnail from later (:meth:`person_thumbnail`): keep a small face crop in their
        metadata instead, once. Forgetting the person erases it with the rest."""
        item = self._coll.get(person)
        if item is None or THUMBNAIL_KEY in item.metadata:
            return
        jpeg = face_crop_jpeg(load_image(photo, settings=self.settings), box, size=STORED_THUMBNAIL_PX)
        if jpeg is None:
            return
        url = data_url(jpeg)

        def add(existing: Item | None, old: np.ndarray, regions: list[Any]) -> NewItem | None:
            if existing is None or THUMBNAIL_KEY in existing.metadata:  # a concurrent enrolment kept one
                return None
            return NewItem(person, old, metadata=existing.metadata | {THUMBNAIL_KEY: url}, regions=regions)

        self._coll.update(person, add)

    def templates(self, person: str) -> tuple[np.ndarray, list[dict]]:
        """``person``'s enrolled descriptors (n, 128) and photo references (path, sha256, box)."""
        item = self._coll.get(check_person(person))
        if item is None:
            raise UnknownName("person", person, [p.name for p in self.people()])
        return self._coll.vectors(person), list(item.metadata.get("photos", []))

    def _faces(self, photo: ImageSource | Faces, detector: Detector | str | None) -> Faces:
        if isinstance(photo, Faces):
            if photo.embeddings is None:
                raise InputError("Faces given to a gallery need embeddings")
            if photo.descriptor is not None and photo.descriptor != DESCRIPTOR_MODELS[self.descriptor]:
                raise DescriptorMismatch(
                    f"these Faces were described by {photo.descriptor}; gallery {self.name} holds "
                    f"{self.descriptor.value} descriptors"
                )
            return photo
        chosen = DEFAULT_DETECTORS[self.descriptor] if detector is None else detector
        # Enrolment photos and identify's probes are meant to show a face: a head rolled too far
        # for the upright search is searched turned (FaceOptions.face_expected).
        return self._engine.faces(photo, detector=chosen, descriptor=self.descriptor, face_expected=True)

    # -- identification -------------------------------------------------------------------
    def threshold(self, fpir: float = 0.01) -> GalleryThreshold:
        """The similarity threshold that keeps FPIR at ``fpir`` for this gallery's size."""
        people, templates = self._coll.counts()
        return threshold_for_fpir(self._calibration(), fpir, templates, people=people)

    def _calibration(self):
        if self._table is None:
            self._table = self._engine.calibration(self.descriptor)
        return self._table

    def identify(
        self,
        photo: ImageSource | Faces,
        *,
        fpir: float = 0.01,
        k: int = 5,
        detector: Detector | str | None = None,
        descriptor: Descriptor | str | None = None,
    ) -> list[Identification]:
        """Who is each face in ``photo``? One :class:`Identification` per face, largest first.
        Faces are described by the gallery's descriptor (see :meth:`enroll`)."""
        self.check_descriptor(descriptor)
        faces = self._faces(photo, detector)
        return self.identify_faces(faces, fpir=fpir, k=k)

    def identify_faces(self, faces: Faces, *, fpir: float = 0.01, k: int = 5) -> list[Identification]:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise InputError("k must be a positive integer")
        limit = self.threshold(fpir)
        if len(faces) == 0:
            return []
        self._faces(faces, None)  # described by this gallery's descriptor
        return identify_in(self._coll, faces, limit.threshold, k)

    def nearest_people(self, descriptors: np.ndarray) -> list[str | None]:
        """For each descriptor (rows, this gallery's descriptor), the person whose template is
        the closest (None in an empty gallery): who :meth:`identify` would name, threshold aside."""
        d = np.atleast_2d(np.asarray(descriptors, np.float32))
        if len(d) == 0 or len(self._coll) == 0:
            return [None] * len(d)
        return [found[0].id if found else None for found in self._coll.search(d, 1)]

    # -- clusters of unknown faces -------------------------------------------------------
    def _cluster_store(self, create: bool = False) -> ClusterStore | None:
        """Unknown people's clusters, beside the gallery (see :mod:`.cluster_store`); None if
        there are none yet."""
        return ClusterStore.open(self._coll, self.settings, create=create)

    def save_clusters(self, clusters: Sequence[Sequence[dict[str, Any]]]) -> list[str]:
        """Replace the stored clusters with ``clusters``: lists of faces ``{"descriptor" (128,),
        "path", "sha256", "box"}``. Returns the new cluster ids, largest cluster first: fresh
        ones, numbered on from the last id the store ever issued (the first run's start at
        ``cluster-0001``)."""
        store = self._cluster_store(create=True)
        assert store is not None
        with store:
            return store.replace_all(clusters)

    def clusters(self) -> list[Person]:
        """Stored clusters of unknown faces (as :class:`Person` records named ``cluster-NNNN``)."""
        store = self._cluster_store()
        if store is None:
            return []
        with store:
            return store.clusters()

    def cluster_faces(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(cluster id, its faces' photo references in position order) for each stored cluster."""
        store = self._cluster_store()
        if store is None:
            return []
        with store:
            return [(c.name, store.faces(c.name)[1]) for c in store.clusters()]

    def person_thumbnail(self, person: str) -> bytes | None:
        """A JPEG of ``person``'s face: the crop stored at enrolment through the service, else
        one made from the first enrolled photo still on disk unchanged (None: neither)."""
        item = self._coll.get(check_person(person))
        if item is None:
            raise UnknownName("person", person, [p.name for p in self.people()])
        stored = stored_thumbnail(item.metadata)
        if stored is not None:
            return stored
        refs = item.metadata.get("photos", [])
        return next((t for ref in refs if (t := reference_thumbnail(ref, self.settings)) is not None), None)

    def cluster_thumbnail(self, cluster: str, position: int) -> bytes | None:
        """A JPEG of the face at ``position`` of ``cluster`` (None: its photo is gone or changed)."""
        with self._open_clusters() as store:
            _, refs = store.faces(cluster)
        if not isinstance(position, int) or not 0 <= position < len(refs):
            raise InputError(f"{cluster} has faces 0..{len(refs) - 1}, not {position}")
        return reference_thumbnail(refs[position], self.settings)

    def _open_clusters(self) -> ClusterStore:
        store = self._cluster_store()
        if store is None:
            raise InputError(f"gallery {self.name} has no clusters; run `ocula faces cluster PHOTOS -g {self.name}`")
        return store

    def name_cluster(self, cluster: str, person: str, *, metadata: dict[str, Any] | None = None) -> int:
        """Enrol the faces of ``cluster`` as ``person`` (new or existing) and drop the cluster.
        Returns the person's number of photos."""
        self._check_name_to_store(person)
        metadata = check_metadata(metadata)
        with self._open_clusters() as store:
            descriptors, refs = store.faces(cluster)
            # The person first: a crash before the cluster is removed loses nothing.
            total = store_templates(self._coll, person, descriptors, refs, metadata)
            store.remove(cluster)
        return total

    def merge_clusters(self, target: str, other: str) -> int:
        """Move the faces of ``other`` into ``target``; returns ``target``'s size."""
        if target == other:
            raise InputError("cannot merge a cluster with itself")
        with self._open_clusters() as store:
            return store.merge(target, other)

    def split_cluster(self, cluster: str, faces: Sequence[int]) -> str:
        """Move the faces at positions ``faces`` (as listed by ``clusters``) of ``cluster`` into
        a new cluster; returns its id."""
        with self._open_clusters() as store:
            return store.split(cluster, faces)

    def _forget_in_clusters(self, descriptors: np.ndarray, refs: list[dict]) -> tuple[int, bool]:
        """Remove a forgotten person's faces from the stored clusters: faces of the same photo
        and box, and faces the person's templates identify at FPIR 0.01. Returns how many, and
        whether their erasure is still pending on disk."""
        store = self._cluster_store()
        if store is None:
            return 0, False
        with store:
            limit = threshold_for_fpir(self._calibration(), 0.01, len(descriptors), people=1).threshold
            return store.forget_faces(descriptors, refs, limit)

    # -- lifetime -------------------------------------------------------------------------
    @property
    def dropped(self) -> bool:
        """Another process dropped this gallery since it was opened: open the name again."""
        return self._coll.dropped

    def info(self) -> dict[str, Any]:
        info = self._coll.info()
        return {
            "name": self.name,
            "people": info["items"],
            "templates": info["vectors"],
            "store": info["vectors_store"],
        }

    def close(self) -> None:
        try:
            self._coll.close()
        finally:
            if self._owns_engine:
                self._engine.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_gallery_store(
    name: str, settings: Settings, descriptor: Descriptor | None, *, create: bool, vectors: str | None
) -> Collection:
    """The gallery's store: an existing one as it is (its stamp says its descriptor), a new
    one stamped with ``descriptor`` (default: ``DEFAULT_DESCRIPTOR``, sface+dlib)."""
    try:
        return Collection.open(name, settings=settings, vectors=vectors, kind=KIND, metric="l2")
    except UnknownName:
        if not create:
            raise
    chosen = descriptor or DEFAULT_DESCRIPTOR
    dim = int(get_model(DESCRIPTOR_MODELS[chosen]).architecture["dim"])
    return Collection.open(
        name, settings=settings, embedder=_stamp(chosen), dim=dim, create=True, vectors=vectors, kind=KIND, metric="l2"
    )
