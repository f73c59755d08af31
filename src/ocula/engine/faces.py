"""Faces: detect, analyse, align, verify, on the models of a :class:`ModelPool`."""

from __future__ import annotations

import functools
import operator
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DescriptorMismatch, ImageError, InputError, NoFaceFound, OculaError, UnknownName
from ..face_types import FaceResult, Faces, Verification
from ..io import ImageSource, PendingPhoto, Reduced, load_image, load_reduced, source_name
from ..models.backends.base import LazyRunner
from ..models.backends.dlib import LazyShapePredictor, ShapePredictorModel
from ..models.backends.dlib_isolated import IsolatedDetector
from ..models.files import resolve_files
from ..models.registry import Backend, get_model
from ..pipelines.blazeface import BlazeFaceDetector
from ..pipelines.calibration import CalibrationTable, shipped_calibration
from ..pipelines.faces import (
    DEFAULT_DESCRIPTOR,
    DEFAULT_DETECTORS,
    DESCRIPTOR_MODELS,
    DETECT_DETECTORS,
    DETECT_MAX_PIXELS,
    DETECTOR_MODELS,
    FACE_DESCRIPTORS,
    FACE_DETECTORS,
    Descriptor,
    Detector,
    FaceAnalyzer,
    FaceDetector,
    FaceOptions,
    Found,
    as_descriptor,
    as_detector,
    face_at,
    similarity,
)
from ..pipelines.sface import SFaceDescriptor
from ..pipelines.yunet import YuNetDetector
from .decode import DECODE_AHEAD, decode_ahead
from .pool import ModelPool

if TYPE_CHECKING:
    from ..models.backends.dlib import FaceDetectorModel

__all__ = ["FaceService"]


def _face_index(index: object) -> int | None:
    if index is None:
        return None
    if isinstance(index, bool):
        raise InputError("a face index must be an integer, not a bool")
    try:
        return operator.index(index)  # type: ignore[call-overload]
    except TypeError:
        raise InputError(f"a face index must be an integer, not {type(index).__name__}") from None


def _descriptor_name(model: str) -> str:
    """The user's name of a descriptor model ("dlib", "sface"), or the model's own name."""
    return next((d.value for d, m in DESCRIPTOR_MODELS.items() if m == model), model)


def _named(models: dict[str, str], name: str, what: str) -> str:
    try:
        return models[name]
    except (KeyError, TypeError):
        raise UnknownName(what, str(name), list(models)) from None


def _described_by(descriptor: Descriptor) -> tuple[bool, bool]:
    """Whether SFace and whether dlib's ResNet describe faces for ``descriptor``, alone or as a
    part of the fusion."""
    return descriptor in (Descriptor.SFACE, Descriptor.FUSED), descriptor in (Descriptor.DLIB, Descriptor.FUSED)


@dataclass(frozen=True)
class _Search:
    """A photo searched on a reduced copy, its faces not yet described (see
    :meth:`FaceService._search`): ``full`` decodes the photo whole to describe them."""

    analyzer: FaceAnalyzer
    reduced: Reduced
    found: Found
    opts: FaceOptions
    full: Callable[[], np.ndarray]


class FaceService:
    """Face finding, description and verification on the models of ``pool``."""

    def __init__(self, pool: ModelPool):
        self._pool = pool
        # None: dlib's CNN runs in this process; else seconds a CNN call may take in its child process.
        self._cnn_timeout: float | None = None
        # None: the library's pixel budget of the CNN (pipelines.faces.DETECT_MAX_PIXELS); else this.
        self._cnn_max_pixels: int | None = None

    def face_analyzer(
        self,
        detector: Detector | str | None = None,
        *,
        landmarks68: bool = False,
        descriptor: Descriptor | str = DEFAULT_DESCRIPTOR,
    ) -> FaceAnalyzer:
        """The face pipeline for ``detector`` and ``descriptor`` (models loaded on first use,
        kept by the Engine). Only the models the pair needs are loaded: YuNet with SFace uses
        no dlib model at all; the fusion (``sface+dlib``) loads SFace, dlib's 5-point model and
        dlib's ResNet."""
        descriptor = as_descriptor(descriptor)
        detector = as_detector(DETECT_DETECTORS[descriptor] if detector is None else detector)
        key = (detector, landmarks68, descriptor)
        return self._pool.derived("face analyzer", key, lambda: self._build_analyzer(detector, descriptor, landmarks68))

    def _build_analyzer(self, detector: Detector, descriptor: Descriptor, landmarks68: bool) -> FaceAnalyzer:
        dlib_spec = get_model(DESCRIPTOR_MODELS[Descriptor.DLIB])
        assert dlib_spec.alignment is not None
        yunet = detector is Detector.YUNET
        sface, dlib = _described_by(descriptor)
        # dlib's 5 points: for dlib's detectors (the Faces' landmarks) and dlib's chips.
        # dlib's models are loaded when a face is first described (a faceless photo loads none).
        landmarks5 = (
            LazyShapePredictor(functools.partial(self._shape_predictor, dlib_spec.alignment.landmarks))
            if dlib or not yunet
            else None
        )
        # dlib's 68 points: asked for, or SFace's five points on a dlib detector's faces.
        wants68 = landmarks68 or (sface and not yunet)
        return FaceAnalyzer(
            tuple(self.face_detector("yunet") if yunet else self._detector_model(n) for n in DETECTOR_MODELS[detector]),
            landmarks5,
            LazyRunner(dlib_spec.name, functools.partial(self._pool.runner, dlib_spec.name)) if dlib else None,
            dlib_spec.alignment,
            landmarks68=self._pool.dlib_model("dlib_landmarks_68") if wants68 else None,
            cnn_max_pixels=self._cnn_max_pixels,
            sface=self.face_descriptor("sface") if sface else None,
            fusion=get_model(DESCRIPTOR_MODELS[descriptor]).fusion,
        )

    def load_descriptor(self, descriptor: Descriptor | str = DEFAULT_DESCRIPTOR) -> None:
        """Load now the models that describe faces with ``descriptor`` (SFace; dlib's ResNet and
        5-point model; all three for the fusion), which otherwise load when a face is first
        described: a caller that will describe faces can load them on a thread meanwhile (the
        video does, while it reads and searches the first frames)."""
        sface, dlib = _described_by(as_descriptor(descriptor))
        dlib_spec = get_model(DESCRIPTOR_MODELS[Descriptor.DLIB])
        assert dlib_spec.alignment is not None
        if sface:
            self._pool.runner(DESCRIPTOR_MODELS[Descriptor.SFACE])
        if dlib:
            self._pool.runner(dlib_spec.name)
            self._pool.dlib_model(dlib_spec.alignment.landmarks)

    def _shape_predictor(self, name: str) -> ShapePredictorModel:
        model = self._pool.dlib_model(name)
        assert isinstance(model, ShapePredictorModel), f"{name} is not a shape predictor"
        return model

    def face_detector(self, name: str) -> FaceDetector:
        """A face detector by name (``FACE_DETECTORS``: "hog", "cnn", "yunet", "blazeface",
        "blazeface-short"), loaded on first use. YuNet's
        :meth:`~ocula.pipelines.yunet.YuNetDetector.detect_faces` also gives the five landmarks
        SFace aligns with; BlazeFace's gives MediaPipe's six keypoints."""
        model = _named(FACE_DETECTORS, name, "face detector")
        spec = get_model(model)
        if spec.backend is Backend.DLIB:
            return self._detector_model(model)
        if spec.architecture.get("kind") == "blazeface":
            return BlazeFaceDetector(self._pool.runner(model), spec)
        return YuNetDetector(self._pool.runner(model), spec)

    def face_descriptor(self, name: str, *, flip: bool = True) -> SFaceDescriptor:
        """A face descriptor of faces v2 by name (``FACE_DESCRIPTORS``: "sface"); its graph is
        loaded when it first describes a face (a photo without one never loads it). With
        ``flip`` each face is described with its mirror image too."""
        model = _named(FACE_DESCRIPTORS, name, "face descriptor")
        runner = LazyRunner(model, functools.partial(self._pool.runner, model))
        return SFaceDescriptor(runner, get_model(model), flip=flip)

    def isolate_cnn(self, *, timeout: float) -> None:
        """Run dlib's CNN face detector in a child process from now on, each call ended (an
        ImageError) after ``timeout`` seconds. For servers: the CNN holds Python's GIL for its
        whole run (~10 s for 1 MP), which would stop every other thread, the event loop too."""
        with self._pool.lock:
            self._cnn_timeout = timeout
            self._pool.forget("face analyzer")

    def limit_cnn_pixels(self, max_pixels: int) -> None:
        """Let dlib's CNN search at most ``max_pixels`` per call from now on, when ocula chooses
        the upsampling (larger photos are searched on a shrunk copy; see
        :data:`~ocula.pipelines.faces.DETECT_MAX_PIXELS`). For servers: the CNN takes about
        1 KB and 10 us per pixel, and the library's default budget is 2.56 MP."""
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
            raise InputError("max_pixels must be a positive integer")
        with self._pool.lock:
            self._cnn_max_pixels = max_pixels
            self._pool.forget("face analyzer")

    @property
    def cnn_max_pixels(self) -> int:
        """The most pixels dlib's CNN searches in one call when ocula chooses the upsampling."""
        return self._cnn_max_pixels or DETECT_MAX_PIXELS["mmod"]

    def _detector_model(self, name: str) -> FaceDetectorModel | IsolatedDetector:
        spec = get_model(name)
        timeout = self._cnn_timeout
        if timeout is None or spec.architecture.get("kind") != "mmod":
            return self._pool.dlib_model(name)  # type: ignore[return-value]

        def isolated() -> IsolatedDetector:
            weights = resolve_files(spec, self._pool.settings).get("weights")
            return IsolatedDetector("mmod", weights, timeout=timeout)

        return self._pool.owned(f"{name} in a child process", isolated)  # closed with the pool

    def faces(self, image: ImageSource | PendingPhoto, opts: FaceOptions) -> Faces:
        """See :meth:`ocula.Engine.faces`. ``image`` may be a :class:`~ocula.io.PendingPhoto`:
        decoded under its own limits, perhaps decoding ahead already
        (:func:`ocula.io.decode_reduced_ahead`)."""
        return self._described(self._search(image, opts))

    def _search(self, image: ImageSource | PendingPhoto, opts: FaceOptions) -> _Search | Faces:
        """The first half of :meth:`faces`: where the detector searches a reduced copy (YuNet), the
        faces found there, with nothing described yet and no descriptor model loaded (a photo
        without a face is then empty :class:`Faces` already); for dlib's detectors, which search
        the full photo, the whole analysis."""
        analyzer = self.face_analyzer(opts.detector, landmarks68=opts.landmarks68, descriptor=opts.descriptor)
        side = analyzer.detection_side
        photo = image if isinstance(image, PendingPhoto) else PendingPhoto(image, self._pool.settings)
        if side is None:
            return analyzer.analyze(photo.full(), opts, name=source_name(photo))
        return self._search_reduced(analyzer, photo.reduced(side), opts, source_name(photo), photo.full)

    @staticmethod
    def _search_reduced(
        analyzer: FaceAnalyzer, reduced: Reduced, opts: FaceOptions, name: str, full: Callable[[], np.ndarray]
    ) -> _Search | Faces:
        """The faces found on ``reduced`` (the photo decoded at the size the detector looks at);
        ``full`` decodes it whole, should there be faces to describe."""
        found = analyzer.find(reduced.pixels, opts, name=name)
        if len(found) == 0 and reduced.factor != 1:
            return Faces.empty(
                reduced.full_size,
                embedding_dim=analyzer.embedding_dim if opts.embed else None,
                landmark_layout="yunet5",
                descriptor=analyzer.descriptor_model,
            )
        return _Search(analyzer, reduced, found, opts, full)

    def _described(self, search: _Search | Faces) -> Faces:
        """The second half of :meth:`faces`: the faces found on the reduced copy, described on
        the photo at full resolution, decoded only now that there is a face to describe (a
        faceless 40 MP photo costs one reduced decode; the chips the descriptor sees are cut
        from the full-resolution pixels as they always were)."""
        if isinstance(search, Faces):
            return search
        analyzer, reduced, found, opts = search.analyzer, search.reduced, search.found, search.opts
        if reduced.factor == 1:
            return analyzer.describe(reduced.pixels, found, opts)
        image = search.full()
        return analyzer.describe(image, analyzer.refine(image, found.scaled(reduced.factor, reduced.full_size)), opts)

    def faces_many(self, sources: Iterable[ImageSource], opts: FaceOptions) -> Iterator[FaceResult]:
        """See :meth:`ocula.Engine.faces_many`."""
        analyzer = self.face_analyzer(opts.detector, landmarks68=opts.landmarks68, descriptor=opts.descriptor)
        side, settings = analyzer.detection_side, self._pool.settings
        # With YuNet, photos are decoded (ahead, on worker threads) at the size it looks at, and
        # again at full resolution only when a face is found (see _described).
        decode: Callable[[ImageSource], np.ndarray | Reduced] = (
            functools.partial(load_image, settings=settings)
            if side is None
            else functools.partial(load_reduced, longer_side=side, settings=settings)
        )

        def analyzed(source: ImageSource, image: np.ndarray | Reduced, name: str) -> Faces:
            if isinstance(image, Reduced):
                full = functools.partial(load_image, source, settings=settings)
                return self._described(self._search_reduced(analyzer, image, opts, name, full))
            return analyzer.analyze(image, opts, name=name)

        def run() -> Iterator[FaceResult]:
            for d in decode_ahead(sources, decode, ahead=DECODE_AHEAD):
                if d.value is None:
                    yield FaceResult(d.name, error=d.error)
                    continue
                try:
                    yield FaceResult(d.name, faces=analyzed(d.source, d.value, d.name))
                except OculaError as exc:
                    yield FaceResult(d.name, error=exc)
                except MemoryError:
                    yield FaceResult(d.name, error=ImageError(f"{d.name}: out of memory while finding faces"))

        return run()

    def face_chips(self, image: ImageSource, faces: Faces, *, cropped: bool = False) -> np.ndarray:
        """The aligned RGB chips the descriptor of ``faces`` sees, one per face (dlib: 150 px,
        SFace and the fusion: SFace's 112 px; faces without descriptors: dlib's chips)."""
        sface = faces.descriptor in (DESCRIPTOR_MODELS[Descriptor.SFACE], DESCRIPTOR_MODELS[Descriptor.FUSED])
        analyzer = self.face_analyzer(Detector.HOG, descriptor=Descriptor.SFACE if sface else Descriptor.DLIB)
        return analyzer.chips(load_image(image, settings=self._pool.settings), faces, cropped=cropped)

    def calibration(self, descriptor: Descriptor | str = DEFAULT_DESCRIPTOR) -> CalibrationTable:
        """The shipped FMR → threshold table of the face ``descriptor``
        (:class:`~ocula.errors.NotCalibrated` when none ships for it)."""
        return shipped_calibration(DESCRIPTOR_MODELS[as_descriptor(descriptor)])

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

        ``a`` and ``b`` are photos (paths, bytes, arrays) or :class:`Faces` with embeddings. The
        largest face of each is compared unless ``face_a``/``face_b`` pick one by index. The
        largest face is face 0 of :meth:`faces` (the largest box of the full search, as
        ``ocula faces detect`` lists them); the answer says which face and box of each photo
        it compared (``index_a``, ``box_a``, ...).
        ``descriptor``: ``sface+dlib`` (the default), ``sface`` (faces v2) or ``dlib``; the threshold comes from
        that descriptor's shipped table. ``detector`` defaults to the descriptor's own
        (``DEFAULT_DETECTORS``): ``hog+cnn`` for dlib (the CNN only where HOG finds no face),
        ``yunet`` for sface+dlib and SFace.
        ``calibration`` (a table or its JSON file) replaces the shipped table, e.g. one measured
        on your own photos with ``ocula eval pairs --calibration``.

        With an explicit face index, every face of that photo is searched (one upsampling for
        photos up to 1600 px) rather than the largest only, so its box, and the similarity, can
        differ slightly (by about 0.002) from the default's.

        Raises:
            NoFaceFound: a photo shows no face; InputError: ``fmr`` outside the calibrated range
            or a face index out of range; ImageError: a photo cannot be read; NotCalibrated: no
            table ships for ``descriptor`` and none was given; DescriptorMismatch: given
            :class:`Faces` were described by another model.
        """
        descriptor = as_descriptor(descriptor)
        if detector is None:  # a crop skips detection: any detector but YuNet (whose points come with it)
            detector = Detector.HOG if cropped else DEFAULT_DETECTORS[descriptor]
        detector = as_detector(detector)
        if isinstance(calibration, (str, os.PathLike)):
            calibration = CalibrationTable.load(Path(calibration))
        table = calibration or self.calibration(descriptor)
        made_for = table.meta.get("model")  # a table measured on another descriptor's scores
        if made_for is not None and made_for != DESCRIPTOR_MODELS[descriptor]:
            raise DescriptorMismatch(
                f"the calibration table was measured for {made_for}, not {DESCRIPTOR_MODELS[descriptor]} "
                f"(descriptor {descriptor.value}): its thresholds mean nothing for these similarities"
            )
        face_a, face_b = _face_index(face_a), _face_index(face_b)
        threshold = table.threshold_for(fmr)  # checks fmr before any work
        # Both photos are searched before either is described: a photo without a face is refused
        # before the descriptor's models load or the other photo is described, whichever it is.
        search_a = self._search_one(a, face_a, detector, cropped, descriptor)
        search_b = self._search_one(b, face_b, detector, cropped, descriptor)
        fa, index_a = self._one_face(search_a, face_a)
        fb, index_b = self._one_face(search_b, face_b)
        assert fa.embeddings is not None and fb.embeddings is not None
        score = float(similarity(fa.embeddings[0], fb.embeddings[0]))
        return Verification(
            same=score >= threshold,
            similarity=score,
            threshold=threshold,
            fmr=fmr,
            fmr_at_similarity=table.fmr_at(score),
            face_a=fa,
            face_b=fb,
            index_a=index_a,
            index_b=index_b,
        )

    def _search_one(
        self,
        source: ImageSource | PendingPhoto | Faces,
        index: int | None,
        detector: Detector,
        cropped: bool,
        descriptor: Descriptor,
    ) -> tuple[_Search | Faces, str]:
        """One photo of :meth:`verify` searched (given :class:`Faces` checked), and its name; a
        photo without a face is refused here, before anything is described."""
        if isinstance(source, Faces):
            if source.embeddings is None:
                raise InputError("Faces passed to verify need embeddings (computed with embed=True)")
            wanted = DESCRIPTOR_MODELS[descriptor]
            if source.descriptor is not None and source.descriptor != wanted:
                raise DescriptorMismatch(
                    f"Faces passed to verify were described by {source.descriptor}, not {wanted}: "
                    f"pass descriptor={_descriptor_name(source.descriptor)!r}"
                )
            return source, "<Faces>"
        name = source_name(source)
        # A photo to verify shows a face: search it turned too if need be (face_expected).
        opts = FaceOptions(detector, descriptor, cropped=cropped, largest_only=index is None, face_expected=True)
        search = self._search(source, opts)
        if len(search.found if isinstance(search, _Search) else search) == 0:
            raise NoFaceFound(name)
        return search, name

    def _one_face(self, searched: tuple[_Search | Faces, str], index: int | None) -> tuple[Faces, int]:
        """The face to compare, described, and its index among the photo's faces (largest first)."""
        search, name = searched
        faces = self._described(search)
        i = face_at(faces, index, name)
        return faces[[i]], i
