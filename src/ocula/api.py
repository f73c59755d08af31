"""The verb functions: ``ocula.tag``, ``ocula.faces``, ``ocula.verify``. Each call uses a
short-lived :class:`Engine` unless one is passed.

Like ``httpx.get`` versus ``httpx.Client``: a call loads what it needs and frees it afterwards,
so nothing stays cached in the module. To tag many images, pass them as one list (they are
batched), or keep an ``ocula.Engine()`` and call its methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .config import Settings
from .engine import Engine
from .face_types import Faces, Verification
from .io import ImageSource
from .pipelines.faces import similarity
from .types import Tags

__all__ = ["face_similarity", "faces", "tag", "verify"]


def tag(
    images: ImageSource | Sequence[ImageSource],
    *,
    top_k: int = 5,
    preset: str = "fast",
    levels: Sequence[str] = (),
    within: str | None = None,
    min_score: float = 0.0,
    recognised_at: float | None = None,
    engine: Engine | None = None,
    settings: Settings | None = None,
) -> Tags | list[Tags]:
    """Tag a photo (or a list of photos) with ImageNet classes and their WordNet ancestors.

    Args:
        images: a path, bytes, PIL image or RGB array - or a list of them.
        top_k: number of fine tags per image, best first.
        preset: ``"fast"`` (one model) or ``"accurate"`` (an ensemble with test-time augmentation).
        levels: coarse concepts to score instead of fine tags, e.g. ``["dog", "cat"]``; a
            concept's score sums the probabilities of all classes below it.
        within: only fine tags below this concept, e.g. ``"dog"`` for breeds, scored
            p(class | concept); ``Tags.within`` holds the concept's own probability.
        min_score: drop tags scoring below this.
        recognised_at: confidence floor: ``Tags.recognised`` is False when no tag (with
            ``within``: the concept) scores this much. None: the preset's measured default.
        engine: an Engine to reuse (its loaded models are kept); a temporary one otherwise.

    Returns:
        :class:`~ocula.types.Tags` for one image, a list of them for a list.

    Raises:
        ImageError: an input cannot be read; UnknownName: unknown preset or concept;
        ModelUnavailable: the model packages are not installed.
    """
    options = dict(
        top_k=top_k, preset=preset, levels=levels, within=within, min_score=min_score, recognised_at=recognised_at
    )
    if engine is not None:
        return engine.tag(images, **options)
    with Engine(settings) as temporary:
        return temporary.tag(images, **options)


def faces(
    image: ImageSource,
    *,
    detector: str | None = None,
    upsample: int | None = None,
    landmarks68: bool = False,
    embed: bool = True,
    cropped: bool = False,
    descriptor: str | None = None,
    engine: Engine | None = None,
    settings: Settings | None = None,
) -> Faces:
    """Find the faces in a photo, largest first: boxes, scores, 5-point landmarks, quality and
    descriptors (256-D for the default sface+dlib, 128-D for sface or dlib alone).

    Args:
        image: a path, bytes, PIL image or array (EXIF orientation, gray and RGBA are handled).
        detector: ``"yunet"`` (faces v2: fast at any size, turned heads too; its own 5
            landmarks), ``"hog"`` (fast), ``"cnn"`` (dlib's MMOD CNN: more recall, much slower);
            default: the descriptor's (yunet for sface+dlib and sface, hog for dlib).
        upsample: times to double the photo to find small faces; None chooses per photo.
        landmarks68: also compute the 68-point landmarks.
        embed: compute descriptors (skip for detection only).
        cropped: the image is already a tight face crop; detection is skipped.
        descriptor: ``"sface+dlib"`` (the default: SFace and dlib's descriptor of the same
            face, fused), ``"sface"`` (faces v2) or ``"dlib"``.

    Raises:
        ImageError: the photo cannot be read; UnknownName: unknown detector or descriptor;
        ModelUnavailable: dlib or the model package is not installed.
    """
    options: dict[str, Any] = dict(
        detector=detector, upsample=upsample, landmarks68=landmarks68, embed=embed, cropped=cropped
    )
    if descriptor is not None:
        options["descriptor"] = descriptor
    if engine is not None:
        return engine.faces(image, **options)
    with Engine(settings) as temporary:
        return temporary.faces(image, **options)


def verify(
    a: ImageSource | Faces,
    b: ImageSource | Faces,
    *,
    fmr: float = 1e-3,
    face_a: int | None = None,
    face_b: int | None = None,
    detector: str | None = None,
    cropped: bool = False,
    calibration: Any = None,
    descriptor: str | None = None,
    engine: Engine | None = None,
    settings: Settings | None = None,
) -> Verification:
    """Are ``a`` and ``b`` the same person? Decided at false-match rate ``fmr`` with the
    threshold calibrated on real impostor pairs (:meth:`Engine.calibration`).

    The largest face of each photo is compared unless ``face_a``/``face_b`` pick one.
    ``descriptor``: ``"sface+dlib"`` (the default), ``"sface"`` (faces v2) or ``"dlib"``;
    the threshold is read from that descriptor's table. ``detector`` defaults to the
    descriptor's: for dlib ``"hog+cnn"``, which runs the CNN only on a photo where HOG finds no
    face (on celeba-80 a face in all 1,057 photos instead of 1,029; a photo without any face
    then takes a few seconds to be refused); for sface+dlib and SFace ``"yunet"``.
    ``calibration``: a :class:`~ocula.pipelines.calibration.CalibrationTable` or the path of
    one written by ``ocula eval pairs --calibration`` (default: the shipped table).

    Raises:
        NoFaceFound: a photo shows no face; InputError: ``fmr`` outside the calibrated range
        (1e-5..0.1) or a bad face index; ImageError: a photo cannot be read; NotCalibrated: no
        table ships for ``descriptor`` and none was given.
    """
    options: dict[str, Any] = dict(
        fmr=fmr, face_a=face_a, face_b=face_b, detector=detector, cropped=cropped, calibration=calibration
    )
    if descriptor is not None:
        options["descriptor"] = descriptor
    if engine is not None:
        return engine.verify(a, b, **options)
    with Engine(settings) as temporary:
        return temporary.verify(a, b, **options)


def face_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Similarity of face descriptors (``Faces.embeddings`` rows; broadcasts): ``1 - |a-b|^2/2``.
    It is the cosine similarity for unit-length vectors; ocula's descriptors keep their length,
    which carries information (measured: see README)."""
    return similarity(a, b)
