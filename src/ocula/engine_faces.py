"""The Engine's face methods: detect, analyse, align, verify.

A mixin of :class:`ocula.engine.Engine`, kept in its own module so each file stays about one
thing; it relies on the Engine's model loading (``runner``, ``dlib_model``), lock and decoder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .errors import InputError, NoFaceFound, OculaError
from .face_types import FaceResult, Faces, Verification
from .io import ImageSource, load_image
from .models.registry import get_model
from .pipelines.calibration import CalibrationTable, shipped_calibration
from .pipelines.faces import DETECTOR_MODELS, EMBEDDER_MODEL, Detector, FaceAnalyzer, FaceOptions, as_detector, similarity

__all__ = ["FaceMethods"]


def _name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return f"<{type(source).__name__}>"


class FaceMethods:
    # Provided by Engine.
    settings: Any
    _lock: Any
    _face_analyzers: dict

    def face_analyzer(self, detector: Detector | str = Detector.HOG, *, landmarks68: bool = False) -> FaceAnalyzer:
        """The face pipeline for ``detector`` (models loaded on first use, kept by the Engine)."""
        detector = as_detector(detector)
        key = (detector, landmarks68)
        with self._lock:
            if key not in self._face_analyzers:
                spec = get_model(EMBEDDER_MODEL)
                assert spec.alignment is not None
                self._face_analyzers[key] = FaceAnalyzer(
                    self.dlib_model(DETECTOR_MODELS[detector]),  # type: ignore[attr-defined]
                    self.dlib_model(spec.alignment.landmarks),  # type: ignore[attr-defined]
                    self.runner(EMBEDDER_MODEL),  # type: ignore[attr-defined]
                    spec.alignment,
                    landmarks68=self.dlib_model("dlib_landmarks_68") if landmarks68 else None,  # type: ignore[attr-defined]
                )
            return self._face_analyzers[key]

    def faces(self, image: ImageSource, **options: Any) -> Faces:
        """Find, measure and describe the faces in one photo, largest first.

        Options are those of :class:`~ocula.pipelines.faces.FaceOptions`: ``detector`` ("hog" or
        "cnn"), ``upsample``, ``largest_only``, ``cropped``, ``landmarks68``, ``embed``.
        """
        opts = FaceOptions(**options)
        analyzer = self.face_analyzer(opts.detector, landmarks68=opts.landmarks68)
        return analyzer.analyze(load_image(image, settings=self.settings), opts)

    def faces_many(self, sources: Iterable[ImageSource], **options: Any) -> Iterator[FaceResult]:
        """:meth:`faces` over a stream, one :class:`FaceResult` per input in order; a bad input
        becomes a result with ``error`` and never stops the stream."""
        opts = FaceOptions(**options)
        analyzer = self.face_analyzer(opts.detector, landmarks68=opts.landmarks68)

        def run() -> Iterator[FaceResult]:
            for name, image, error in self.decoded(sources):  # type: ignore[attr-defined]
                if error is not None:
                    yield FaceResult(name, error=error)
                    continue
                try:
                    yield FaceResult(name, faces=analyzer.analyze(image, opts))
                except OculaError as exc:
                    yield FaceResult(name, error=exc)

        return run()

    def face_chips(self, image: ImageSource, faces: Faces, *, cropped: bool = False) -> np.ndarray:
        """The aligned (n, 150, 150, 3) RGB chips the descriptor sees, one per face."""
        return self.face_analyzer().chips(load_image(image, settings=self.settings), faces, cropped=cropped)

    def calibration(self) -> CalibrationTable:
        """The shipped FMR → threshold table of the face descriptor."""
        return shipped_calibration(EMBEDDER_MODEL)

    def verify(
        self,
        a: ImageSource | Faces,
        b: ImageSource | Faces,
        *,
        fmr: float = 1e-3,
        face_a: int | None = None,
        face_b: int | None = None,
        detector: Detector | str = Detector.HOG,
        cropped: bool = False,
        calibration: CalibrationTable | None = None,
    ) -> Verification:
        """Are the faces in ``a`` and ``b`` the same person, at false-match rate ``fmr``?

        ``a`` and ``b`` are photos (paths, bytes, arrays) or :class:`Faces` with embeddings. The
        largest face of each is compared unless ``face_a``/``face_b`` pick one by index.
        ``calibration`` replaces the shipped table, e.g. one measured on your own photos with
        ``ocula eval pairs --calibration``.

        Raises:
            NoFaceFound: a photo shows no face; InputError: ``fmr`` outside the calibrated range
            or a face index out of range; ImageError: a photo cannot be read.
        """
        table = calibration or self.calibration()
        threshold = table.threshold_for(fmr)  # checks fmr before any work
        fa = self._one_face(a, face_a, detector, cropped)
        fb = self._one_face(b, face_b, detector, cropped)
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
        )

    def _one_face(self, source: ImageSource | Faces, index: int | None, detector: Detector | str, cropped: bool) -> Faces:
        if isinstance(source, Faces):
            faces, name = source, "<Faces>"
            if faces.embeddings is None:
                raise InputError("Faces passed to verify need embeddings (computed with embed=True)")
        else:
            name = _name(source)
            faces = self.faces(source, detector=detector, cropped=cropped, largest_only=index is None)
        if len(faces) == 0:
            raise NoFaceFound(name)
        i = 0 if index is None else index
        if not -len(faces) <= i < len(faces):
            raise InputError(f"{name}: face {i} asked for, but {len(faces)} found")
        return faces[i]
