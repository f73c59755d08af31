"""The Engine: one model pool, and the face, tag and search services that run on it.

Models are loaded on first use and kept by the Engine's :class:`~ocula.engine.pool.ModelPool` -
never in a module-level cache - so two Engines with different settings (threads, data dir)
coexist, and ``close()`` (or leaving a ``with`` block) frees them. Methods are safe to call from
several threads; models load once under the pool's lock. Every verb is a one-line delegate to
the service that does the work (:mod:`.faces`, :mod:`.tagging`, :mod:`.search`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ..config import Settings
from ..errors import OculaError
from ..io import ImageSource, PendingPhoto, load_image
from ..models.backends.base import Runner
from ..models.loading import load_dlib_model, load_runner
from ..models.registry import ModelSpec
from ..pipelines.dedupe import DEFAULT_THRESHOLD
from ..pipelines.faces import DEFAULT_DESCRIPTOR, Descriptor, Detector, FaceAnalyzer, FaceDetector, FaceOptions
from .decode import DECODE_AHEAD, decode_ahead
from .faces import FaceService
from .pool import ModelPool
from .tagging import TagService

if TYPE_CHECKING:
    from ..collections import Collection, Match
    from ..face_types import FaceResult, Faces, Verification
    from ..pipelines.calibration import CalibrationTable
    from ..pipelines.search_embed import ImageEmbedder
    from ..pipelines.sface import SFaceDescriptor
    from ..pipelines.tag import Tagger
    from ..types import TagResult, Tags
    from .pool import DlibModel
    from .results import Dedupe, Embedded
    from .search import CatalogEntry, IndexReport, SearchService

__all__ = ["Engine"]

T = TypeVar("T")


class Engine:
    """Loaded models plus the pipelines that use them.

    >>> with Engine() as engine:
    ...     tags = engine.tag("cat.jpg")
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        runner_factory: Callable[[ModelSpec, Settings], Runner] = load_runner,
        dlib_factory: Callable[[ModelSpec, Settings], DlibModel] = load_dlib_model,
    ):
        """``runner_factory`` builds a Runner for a model, ``dlib_factory`` a dlib detector or
        shape predictor; tests of the layers above pass ones that return fakes."""
        self.settings = settings or Settings()
        self.pool = ModelPool(self.settings, runner_factory=runner_factory, dlib_factory=dlib_factory)
        self.face_service = FaceService(self.pool)
        self.tag_service = TagService(self.pool)

    @functools.cached_property
    def search_service(self) -> SearchService:
        """The search service, built on first use: its module and ocula.collections are not
        imported by commands that never search (``faces verify``: 39 ms of start-up)."""
        from .search import SearchService

        return SearchService(self.pool, self.face_service)

    # -- models ---------------------------------------------------------------------------
    def runner(self, model: str) -> Runner:
        """The loaded runner for a registered model (loaded on first use)."""
        return self.pool.runner(model)

    def dlib_model(self, model: str) -> DlibModel:
        """The loaded dlib detector or shape predictor for a registered model."""
        return self.pool.dlib_model(model)

    def tagger(self, preset: str = "fast") -> Tagger:
        return self.tag_service.tagger(preset)

    # -- tagging --------------------------------------------------------------------------
    def tag(
        self,
        images: ImageSource | Sequence[ImageSource],
        *,
        top_k: int = 5,
        preset: str = "fast",
        levels: Sequence[str] = (),
        within: str | None = None,
        min_score: float = 0.0,
        recognised_at: float | None = None,
    ) -> Tags | list[Tags]:
        """Tag one image (returns :class:`Tags`) or a list of images (returns a list).

        Raises the first input's :class:`~ocula.errors.ImageError`; use :meth:`tag_many` to get
        per-input errors instead.
        """
        return self.tag_service.tag(
            images,
            top_k=top_k,
            preset=preset,
            levels=levels,
            within=within,
            min_score=min_score,
            recognised_at=recognised_at,
        )

    def tag_many(
        self,
        sources: Iterable[ImageSource],
        *,
        top_k: int = 5,
        preset: str = "fast",
        levels: Sequence[str] = (),
        within: str | None = None,
        min_score: float = 0.0,
        recognised_at: float | None = None,
    ) -> Iterator[TagResult]:
        """Tag a stream of images in batches, yielding one :class:`TagResult` per input, in order.

        Images are decoded on worker threads while the previous batch runs; a bad input becomes
        a result with ``error`` set and never stops the stream. ``recognised_at`` is the
        confidence floor of ``Tags.recognised`` (None: the preset's, chosen by measurement).
        """
        return self.tag_service.tag_many(
            sources,
            top_k=top_k,
            preset=preset,
            levels=levels,
            within=within,
            min_score=min_score,
            recognised_at=recognised_at,
        )

    def class_probabilities(
        self, sources: Iterable[ImageSource], *, preset: str = "fast"
    ) -> Iterator[tuple[str, np.ndarray | None, OculaError | None]]:
        """Per input, in order: ``(name, (1000,) ImageNet probabilities, None)`` or
        ``(name, None, error)``. The raw material of :meth:`tag_many`, for evaluation."""
        return self.tag_service.class_probabilities(sources, preset=preset)

    # -- decoding -------------------------------------------------------------------------
    def decoded(self, sources: Iterable[ImageSource]) -> Iterator[tuple[str, np.ndarray | None, OculaError | None]]:
        """Per input, in order: ``(name, RGB image, None)`` or ``(name, None, error)``, decoded
        ahead on worker threads while the caller works on the current one."""
        for name, _, image, error in self.decoded_sources(sources):
            yield name, image, error

    def decoded_sources(
        self, sources: Iterable[ImageSource], decode: Callable[[ImageSource], T] | None = None
    ) -> Iterator[tuple[str, ImageSource, T | None, OculaError | None]]:
        """:meth:`decoded` with each input itself in the tuples, ``(name, source, decoded,
        error)``, and ``decode`` (default: :func:`~ocula.io.load_image` with the Engine's
        settings) run on the worker threads."""
        decode = decode or functools.partial(load_image, settings=self.settings)  # type: ignore[assignment]
        for d in decode_ahead(sources, decode, ahead=DECODE_AHEAD):  # type: ignore[arg-type]
            yield d.name, d.source, d.value, d.error

    # -- faces ----------------------------------------------------------------------------
    def face_analyzer(
        self,
        detector: Detector | str | None = None,
        *,
        landmarks68: bool = False,
        descriptor: Descriptor | str = DEFAULT_DESCRIPTOR,
    ) -> FaceAnalyzer:
        """The face pipeline for ``detector`` and ``descriptor`` (see :meth:`FaceService.face_analyzer`)."""
        return self.face_service.face_analyzer(detector, landmarks68=landmarks68, descriptor=descriptor)

    def load_descriptor(self, descriptor: Descriptor | str = DEFAULT_DESCRIPTOR) -> None:
        """Load a descriptor's models now (see :meth:`FaceService.load_descriptor`)."""
        self.face_service.load_descriptor(descriptor)

    def face_detector(self, name: str) -> FaceDetector:
        """A face detector by name (see :meth:`FaceService.face_detector`)."""
        return self.face_service.face_detector(name)

    def face_descriptor(self, name: str, *, flip: bool = True) -> SFaceDescriptor:
        """A face descriptor of faces v2 by name (see :meth:`FaceService.face_descriptor`)."""
        return self.face_service.face_descriptor(name, flip=flip)

    def isolate_cnn(self, *, timeout: float) -> None:
        """Run dlib's CNN face detector in a child process from now on (see :meth:`FaceService.isolate_cnn`)."""
        self.face_service.isolate_cnn(timeout=timeout)

    def limit_cnn_pixels(self, max_pixels: int) -> None:
        """Let dlib's CNN search at most ``max_pixels`` per call (see :meth:`FaceService.limit_cnn_pixels`)."""
        self.face_service.limit_cnn_pixels(max_pixels)

    @property
    def cnn_max_pixels(self) -> int:
        """The most pixels dlib's CNN searches in one call when ocula chooses the upsampling."""
        return self.face_service.cnn_max_pixels

    def faces(
        self,
        image: ImageSource | PendingPhoto,
        *,
        detector: Detector | str | None = None,
        descriptor: Descriptor | str = DEFAULT_DESCRIPTOR,
        upsample: int | None = None,
        largest_only: bool = False,
        cropped: bool = False,
        landmarks68: bool = False,
        embed: bool = True,
        turned: bool = False,
        face_expected: bool = False,
        square: bool = True,
    ) -> Faces:
        """Find, measure and describe the faces in one photo, largest first.

        The options are those of :class:`~ocula.pipelines.faces.FaceOptions`: ``detector``
        ("hog", "cnn", "hog+cnn" or "yunet"), ``descriptor`` ("sface+dlib", "sface" or "dlib"), ``upsample``,
        ``largest_only``, ``cropped``, ``landmarks68``, ``embed``, ``turned``, ``face_expected``,
        ``square``.
        ``image`` may be a :class:`~ocula.io.PendingPhoto` (decoded under its own limits).
        """
        opts = FaceOptions(  # names become enums in FaceOptions
            detector=detector, descriptor=descriptor, upsample=upsample, largest_only=largest_only,  # type: ignore[arg-type]
            cropped=cropped, landmarks68=landmarks68, embed=embed, turned=turned, face_expected=face_expected,
            square=square,
        )  # fmt: skip
        return self.face_service.faces(image, opts)

    def faces_many(
        self,
        sources: Iterable[ImageSource],
        *,
        detector: Detector | str | None = None,
        descriptor: Descriptor | str = DEFAULT_DESCRIPTOR,
        upsample: int | None = None,
        largest_only: bool = False,
        cropped: bool = False,
        landmarks68: bool = False,
        embed: bool = True,
        turned: bool = False,
        face_expected: bool = False,
        square: bool = True,
    ) -> Iterator[FaceResult]:
        """:meth:`faces` over a stream, one :class:`FaceResult` per input in order; a bad input
        becomes a result with ``error`` and never stops the stream."""
        opts = FaceOptions(  # names become enums in FaceOptions
            detector=detector, descriptor=descriptor, upsample=upsample, largest_only=largest_only,  # type: ignore[arg-type]
            cropped=cropped, landmarks68=landmarks68, embed=embed, turned=turned, face_expected=face_expected,
            square=square,
        )  # fmt: skip
        return self.face_service.faces_many(sources, opts)

    def face_chips(self, image: ImageSource, faces: Faces, *, cropped: bool = False) -> np.ndarray:
        """The aligned RGB chips the descriptor of ``faces`` sees, one per face (dlib: 150 px,
        SFace and sface+dlib: SFace's 112 px; faces without descriptors: dlib's chips)."""
        return self.face_service.face_chips(image, faces, cropped=cropped)

    def calibration(self, descriptor: Descriptor | str = DEFAULT_DESCRIPTOR) -> CalibrationTable:
        """The shipped FMR → threshold table of the face ``descriptor``
        (:class:`~ocula.errors.NotCalibrated` when none ships for it)."""
        return self.face_service.calibration(descriptor)

    def verify(
        self,
        a: ImageSource | PendingPhoto | Faces,
        b: ImageSource | PendingPhoto | Faces,
        *,
        fmr: float = 1e-3,
        face_a: int | None = None,
        face_b: int | None = None,
        detector: Detector | str | None = None,
        cropped: bool = False,
        calibration: CalibrationTable | str | os.PathLike | None = None,
        descriptor: Descriptor | str = DEFAULT_DESCRIPTOR,
    ) -> Verification:
        """Are the faces in ``a`` and ``b`` the same person, at false-match rate ``fmr``?
        See :meth:`FaceService.verify` for the options and the errors."""
        return self.face_service.verify(
            a,
            b,
            fmr=fmr,
            face_a=face_a,
            face_b=face_b,
            detector=detector,
            cropped=cropped,
            calibration=calibration,
            descriptor=descriptor,
        )

    # -- search ---------------------------------------------------------------------------
    def image_embedder(self) -> ImageEmbedder:
        return self.search_service.image_embedder()

    def embed_images(self, sources: Iterable[ImageSource]) -> Iterator[Embedded]:
        """Per input, in order, an :class:`~ocula.engine.results.Embedded`: its name and its
        L2-normalised vector, or the error that kept it from one."""
        return self.search_service.embed_images(sources)

    def embed_all(
        self, sources: Iterable[ImageSource]
    ) -> tuple[list[int], np.ndarray, list[tuple[str, OculaError | None]]]:
        """Embed every input: (positions of the readable inputs, their (n, dim) vectors,
        [(name, error)] of the others)."""
        return self.search_service.embed_all(sources)

    def open_collection(self, name: str, *, create: bool = False, vectors: str | None = None) -> Collection:
        """The collection ``name``, stamped with (and checked against) the search embedder;
        ``vectors`` chooses the store of a new one (see :meth:`Collection.open`)."""
        return self.search_service.open_collection(name, create=create, vectors=vectors)

    def index_folder(
        self,
        root: Path,
        collection: str,
        *,
        progress: Callable[[int, int], None] | None = None,
        on_commit: Callable[[int], None] | None = None,
        vectors: str | None = None,
        ray: str | None = None,
        faces: bool = True,
    ) -> IndexReport:
        """Index every image under ``root`` into ``collection`` (see :meth:`SearchService.index_folder`)."""
        return self.search_service.index_folder(
            root, collection, progress=progress, on_commit=on_commit, vectors=vectors, ray=ray, faces=faces
        )

    def index_csv(
        self,
        csv_path: Path,
        collection: str,
        *,
        path_column: str = "path",
        id_column: str | None = None,
        meta_columns: Sequence[str] = (),
        progress: Callable[[int, int], None] | None = None,
        on_commit: Callable[[int], None] | None = None,
        vectors: str | None = None,
        ray: str | None = None,
        allow_outside: bool = False,
        faces: bool = True,
    ) -> IndexReport:
        """Index the images a catalog CSV lists (see :meth:`SearchService.index_csv`)."""
        return self.search_service.index_csv(
            csv_path,
            collection,
            path_column=path_column,
            id_column=id_column,
            meta_columns=meta_columns,
            progress=progress,
            on_commit=on_commit,
            vectors=vectors,
            ray=ray,
            allow_outside=allow_outside,
            faces=faces,
        )

    def index_entries(
        self,
        entries: Sequence[CatalogEntry],
        collection: str,
        *,
        source: str,
        progress: Callable[[int, int], None] | None = None,
        on_commit: Callable[[int], None] | None = None,
        vectors: str | None = None,
        ray: str | None = None,
        within: Path | None = None,
        faces: bool = True,
    ) -> IndexReport:
        """Bring the items ``source`` contributed to ``collection`` in line with ``entries``
        (see :meth:`SearchService.index_entries`)."""
        return self.search_service.index_entries(
            entries,
            collection,
            source=source,
            progress=progress,
            on_commit=on_commit,
            vectors=vectors,
            ray=ray,
            within=within,
            faces=faces,
        )

    def reindex(
        self,
        collection: str,
        *,
        drop_missing: bool = False,
        progress: Callable[[int, int], None] | None = None,
        faces: bool = True,
    ) -> IndexReport:
        """Rebuild ``collection`` with the current search embedder (see :meth:`SearchService.reindex`)."""
        return self.search_service.reindex(collection, drop_missing=drop_missing, progress=progress, faces=faces)

    def dedupe(self, sources: Iterable[ImageSource], *, threshold: float = DEFAULT_THRESHOLD) -> Dedupe:
        """Near-duplicate groups among ``sources``, largest first, and the unreadable inputs."""
        return self.search_service.dedupe(sources, threshold=threshold)

    def search(
        self,
        image: ImageSource,
        collection: str | Collection,
        *,
        k: int = 10,
        where: str | None = None,
        region: Sequence[float] | None = None,
        windows: bool = True,
        text: str | None = None,
    ) -> list[Match]:
        """The ``k`` most similar items of ``collection`` to ``image``, best first, among those
        ``text`` matches if given (see :meth:`SearchService.search`)."""
        return self.search_service.search(
            image, collection, k=k, where=where, region=region, windows=windows, text=text
        )

    def search_words(
        self, text: str, collection: str | Collection, *, k: int = 10, where: str | None = None
    ) -> list[Match]:
        """The ``k`` items of ``collection`` that best show what ``text`` names
        (see :meth:`SearchService.search_words`)."""
        return self.search_service.search_words(text, collection, k=k, where=where)

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
