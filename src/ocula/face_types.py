"""Typed face results: :class:`Faces` (one photo's faces), :class:`Face` (one of them),
:class:`FaceResult` (one input of a stream) and :class:`Verification` (a 1:1 decision).

``Faces`` follows the same rules as :class:`~ocula.types.Tags`: parallel arrays with one row per
face, checked on construction, sliceable with masks and index arrays
(``faces[faces.size >= 80]``) into another ``Faces``; an integer index returns one
:class:`Face` record (as ``tags[0]`` is a :class:`~ocula.types.Tag`). Drawing lives in
:mod:`ocula.annotate`, not here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, overload

import numpy as np

from .errors import OculaError
from .types import InputResult, error_record

__all__ = ["Face", "FaceResult", "Faces", "QualityGate", "Verification"]


@dataclass(frozen=True)
class QualityGate:
    """Minimum quality for a face to be compared or enrolled.

    Attributes:
        min_size: eye-to-eye distance in pixels of the original photo.
        min_sharpness: focus measure of the aligned chip (see :attr:`Faces.sharpness`).
        min_frontal: pose measure in [0, 1] (see :attr:`Faces.frontal`).
    """

    min_size: float = 20.0
    min_sharpness: float = 0.0008
    min_frontal: float = 0.35


def _point(x: float, y: float) -> list[float]:
    return [round(float(x), 1), round(float(y), 1)]


@dataclass(frozen=True, eq=False)
class Face:
    """One face of a photo: ``faces[i]``. The fields are row ``i`` of :class:`Faces`' arrays
    (see there), with the photo's ``landmark_layout`` and ``descriptor``."""

    box: np.ndarray  # (4,) float32 x0, y0, x1, y1
    score: float  # NaN where the face was given, not detected
    landmarks: np.ndarray  # (5, 2) float32
    size: float
    sharpness: float
    frontal: float
    embedding: np.ndarray | None = None  # (d,) float32
    landmarks68: np.ndarray | None = None  # (68, 2) float32
    landmark_layout: str = "dlib5"
    descriptor: str | None = None

    def usable(self, gate: QualityGate = QualityGate()) -> bool:
        """Whether the face passes ``gate`` (large, sharp and frontal enough)."""
        return self.size >= gate.min_size and self.sharpness >= gate.min_sharpness and self.frontal >= gate.min_frontal

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-ready record (the embedding left out; it is large)."""
        record: dict[str, Any] = {
            "box": [round(float(v), 1) for v in self.box],
            "score": None if math.isnan(self.score) else round(self.score, 4),
            "landmarks": [_point(x, y) for x, y in self.landmarks],
            "landmark_layout": self.landmark_layout,
            "quality": {
                "size": round(self.size, 1),
                "sharpness": round(self.sharpness, 5),
                "frontal": round(self.frontal, 3),
            },
        }
        if self.landmarks68 is not None:
            record["landmarks68"] = [_point(x, y) for x, y in self.landmarks68]
        return record


@dataclass(frozen=True, eq=False)
class Faces:
    """The faces found in one photo, largest first.

    Attributes:
        boxes: (n, 4) float32 ``x0, y0, x1, y1`` in pixels of the (EXIF-rotated) photo.
        scores: (n,) float32 detector confidence; NaN where the face was given, not detected
            (``cropped`` inputs).
        landmarks: (n, 5, 2) float32 ``(x, y)``: two corners of each eye and the base of the nose.
        size: (n,) float32 eye-to-eye distance in pixels, the ISO/IEC 19794-5 size measure.
        sharpness: (n,) float32 variance of the Laplacian of the aligned gray chip (0..1 scale);
            blur and heavy JPEG make it small.
        frontal: (n,) float32 in [0, 1]; 1 when the nose sits midway between the eyes, towards 0
            as the head turns to profile.
        embeddings: (n, d) float32 descriptors (d: 256 for the default sface+dlib, 128 for sface
            or dlib alone), or None if not computed. Compare them with
            :func:`ocula.face_similarity`; dlib's are not unit-length, because their length
            carries information (see there); SFace's and the fused ones are.
        landmarks68: (n, 68, 2) float32 iBUG-300W landmarks, or None if not asked for.
        image_size: (width, height) of the photo.
        landmark_layout: what the five ``landmarks`` are: ``dlib5`` (dlib's shape predictor: two
            corners of each eye, the base of the nose) or ``yunet5`` (YuNet's: the eye centres,
            the nose tip, the mouth corners; first the eye on the photo's left).
        descriptor: the registry model that computed ``embeddings`` (None when not computed):
            descriptors of different models cannot be compared.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray
    size: np.ndarray
    sharpness: np.ndarray
    frontal: np.ndarray
    embeddings: np.ndarray | None = None
    landmarks68: np.ndarray | None = None
    image_size: tuple[int, int] = (0, 0)
    landmark_layout: str = "dlib5"
    descriptor: str | None = None

    def __post_init__(self) -> None:
        n = len(self.boxes)
        expect = {
            "boxes": (n, 4),
            "scores": (n,),
            "landmarks": (n, 5, 2),
            "size": (n,),
            "sharpness": (n,),
            "frontal": (n,),
        }
        for name, shape in expect.items():
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.shape != shape or arr.dtype != np.float32:
                raise ValueError(f"Faces.{name} must be a float32 array of shape {shape}")
        for name, tail in (("embeddings", None), ("landmarks68", (68, 2))):
            arr = getattr(self, name)
            if arr is None:
                continue
            ok = isinstance(arr, np.ndarray) and arr.dtype == np.float32 and len(arr) == n
            ok = ok and (arr.ndim == 2 if tail is None else arr.shape[1:] == tail)
            if not ok:
                raise ValueError(f"Faces.{name} must be float32 with one row per face")

    @classmethod
    def empty(
        cls,
        image_size: tuple[int, int] = (0, 0),
        *,
        embedding_dim: int | None = None,
        landmark_layout: str = "dlib5",
        descriptor: str | None = None,
    ) -> Faces:
        z = np.zeros((0,), np.float32)
        emb = np.zeros((0, embedding_dim), np.float32) if embedding_dim else None
        return cls(
            np.zeros((0, 4), np.float32), z, np.zeros((0, 5, 2), np.float32), z, z, z, emb, None, image_size,
            landmark_layout, descriptor if emb is not None else None,
        )

    def __len__(self) -> int:
        return len(self.boxes)

    def __iter__(self) -> Iterator[Face]:
        for i in range(len(self)):
            yield self[i]

    @overload
    def __getitem__(self, index: int | np.integer) -> Face: ...
    @overload
    def __getitem__(self, index: slice | list[int] | np.ndarray) -> Faces: ...
    def __getitem__(self, index: int | np.integer | slice | list[int] | np.ndarray) -> Face | Faces:
        """An integer: that :class:`Face`; a slice, index array or boolean mask: a ``Faces`` of
        those faces (``faces[[i]]`` is face ``i`` as a ``Faces`` of length 1)."""
        if isinstance(index, (int, np.integer)):
            return self._face(int(index))
        return replace(
            self,
            boxes=self.boxes[index],
            scores=self.scores[index],
            landmarks=self.landmarks[index],
            size=self.size[index],
            sharpness=self.sharpness[index],
            frontal=self.frontal[index],
            embeddings=None if self.embeddings is None else self.embeddings[index],
            landmarks68=None if self.landmarks68 is None else self.landmarks68[index],
        )

    def _face(self, i: int) -> Face:
        if not -len(self) <= i < len(self):
            raise IndexError(f"face {i} of {len(self)}")
        return Face(
            box=self.boxes[i],
            score=float(self.scores[i]),
            landmarks=self.landmarks[i],
            size=float(self.size[i]),
            sharpness=float(self.sharpness[i]),
            frontal=float(self.frontal[i]),
            embedding=None if self.embeddings is None else self.embeddings[i],
            landmarks68=None if self.landmarks68 is None else self.landmarks68[i],
            landmark_layout=self.landmark_layout,
            descriptor=self.descriptor,
        )

    @property
    def area(self) -> np.ndarray:
        return (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])

    def usable(self, gate: QualityGate = QualityGate()) -> np.ndarray:
        """Boolean mask of faces that pass ``gate`` (large, sharp and frontal enough)."""
        return (
            (self.size >= gate.min_size) & (self.sharpness >= gate.min_sharpness) & (self.frontal >= gate.min_frontal)
        )

    def to_dicts(self) -> list[dict[str, Any]]:
        """Plain JSON-ready records, one per face (embeddings left out; they are large)."""
        return [face.to_dict() for face in self]


@dataclass(frozen=True)
class FaceResult(InputResult):
    """One input of a face stream: its name and either ``faces`` or ``error``."""

    source: str
    faces: Faces | None = None
    error: OculaError | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return error_record(self.source, self.error)
        assert self.faces is not None
        w, h = self.faces.image_size
        return {"path": self.source, "width": w, "height": h, "faces": self.faces.to_dicts()}


@dataclass(frozen=True)
class Verification:
    """A 1:1 decision: are the two faces the same person at the chosen false-match rate?

    Attributes:
        same: ``similarity >= threshold``.
        similarity: :func:`ocula.face_similarity` of the two descriptors (1 for identical ones;
            the cosine similarity if they were unit-length).
        threshold: the similarity threshold that gives ``fmr`` on the calibration data.
        fmr: the false-match rate asked for.
        fmr_at_similarity: the calibration's false-match rate at this similarity (how unusual a
            score this high is between different people), clipped to the calibrated range.
        face_a, face_b: the compared faces (length-1 :class:`Faces`; ``face_a.boxes[0]`` is
            the box compared in the first photo).
        index_a, index_b: each face's index in its photo's faces, largest first (0 unless a
            face was picked by index): the numbering of ``ocula faces detect`` and
            :func:`ocula.faces`, whose face 0 is the largest box.
        usable: whether each face passes the default :class:`QualityGate`; a decision about a
            face that does not (tiny, blurred, turned away) is much less reliable.
    """

    same: bool
    similarity: float
    threshold: float
    fmr: float
    fmr_at_similarity: float
    face_a: Faces = field(repr=False)
    face_b: Faces = field(repr=False)
    index_a: int = 0
    index_b: int = 0

    def __repr__(self) -> str:
        # Short: the Faces hold 128- or 256-D descriptors, which drown everything else.
        return (
            f"Verification(same={self.same}, similarity={self.similarity:.4f}, threshold={self.threshold:.4f}, "
            f"fmr={self.fmr:g}, face_a={self.index_a}, box_a={self.box_a}, face_b={self.index_b}, box_b={self.box_b})"
        )

    @property
    def box_a(self) -> list[float]:
        """The compared box in the first photo, ``x0, y0, x1, y1`` pixels (one decimal)."""
        return _rounded_box(self.face_a)

    @property
    def box_b(self) -> list[float]:
        """The compared box in the second photo, ``x0, y0, x1, y1`` pixels (one decimal)."""
        return _rounded_box(self.face_b)

    @property
    def usable(self) -> tuple[bool, bool]:
        return bool(self.face_a.usable()[0]), bool(self.face_b.usable()[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "same": self.same,
            "similarity": round(self.similarity, 4),
            "threshold": round(self.threshold, 4),
            "fmr": self.fmr,
            "fmr_at_similarity": float(f"{self.fmr_at_similarity:.3g}"),
            "usable": list(self.usable),
            "face_a": self.index_a,
            "box_a": self.box_a,
            "face_b": self.index_b,
            "box_b": self.box_b,
        }


def _rounded_box(faces: Faces) -> list[float]:
    return [round(float(v), 1) for v in faces.boxes[0]]
