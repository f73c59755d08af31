"""``/v1/tag``, ``/v1/faces/detect``, ``/v1/faces/verify``: one or two uploaded photos in, results out.

Each request's work (reading the upload, decoding it, the models) runs in one worker slot
(:meth:`Services.run`), so a request waiting its turn holds only its compressed upload.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile

from ..errors import NoFaceFound
from ..face_types import Faces
from ..pipelines.faces import DEFAULT_DESCRIPTOR, DEFAULT_DETECTORS, Descriptor, Detector
from .deps import Caller, Services, checked_photo, decode_upload, require, services

router = APIRouter(prefix="/v1", tags=["photos"])


@router.post("/tag", summary="ImageNet tags with WordNet ancestors")
async def tag(
    file: Annotated[UploadFile, File(description="The photo.")],
    top_k: Annotated[int, Form(ge=1, le=100)] = 5,
    min_score: Annotated[float, Form(ge=0.0, le=1.0)] = 0.0,
    recognised_at: Annotated[
        float | None,
        Form(ge=0.0, le=1.0, description="Confidence floor of `recognised` (default: the preset's, measured)."),
    ] = None,
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """``tags`` best first and ``recognised``: false when no tag reached the confidence floor,
    so the tags are best guesses (a blank photo still has a best class)."""

    def tag_upload() -> dict[str, Any]:
        # Decoded no larger than the preset needs (a 40 MP photo becomes a few hundred pixels).
        image = decode_upload(file, svc, min_side=svc.engine.tagger().decode_min_side)
        tags = svc.engine.tag(image, top_k=top_k, min_score=min_score, recognised_at=recognised_at)
        assert not isinstance(tags, list)
        return tags.to_dict()

    return await svc.run(tag_upload)


@router.post("/faces/detect", summary="Faces with boxes, landmarks and quality")
async def detect(
    file: Annotated[UploadFile, File(description="The photo.")],
    detector: Annotated[
        Detector | None,
        Form(
            description="Face detector: yunet (faces v2: turned heads, fixed cost; the default), hog, cnn or hog+cnn."
        ),
    ] = None,
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    def detect_upload() -> Faces:
        return svc.engine.faces(checked_photo(file, svc), detector=detector, embed=False)

    faces = await svc.run(detect_upload)
    w, h = faces.image_size
    dicts = faces.to_dicts()
    for d, ok in zip(dicts, faces.usable(), strict=False):
        d["usable"] = bool(ok)
    return {"width": w, "height": h, "faces": dicts}


@router.post("/faces/verify", summary="Are two photos the same person, at a false-match rate")
async def verify(
    file_a: Annotated[UploadFile, File(description="The first photo.")],
    file_b: Annotated[UploadFile, File(description="The second photo.")],
    fmr: Annotated[float, Form(gt=0, lt=1)] = 1e-3,
    detector: Annotated[
        Detector | None,
        Form(
            description="Face detector: hog, cnn, hog+cnn or yunet (default: the descriptor's: hog+cnn for dlib, "
                "yunet for sface+dlib and sface)."
        ),
    ] = None,
    descriptor: Annotated[
        Descriptor,
        Form(description="Face descriptor: sface+dlib (both fused), sface (faces v2) or dlib; the threshold is "
                         "its calibration's."),
    ] = DEFAULT_DESCRIPTOR,
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    chosen = detector or DEFAULT_DETECTORS[descriptor]

    def largest_face(upload: UploadFile) -> Faces:
        # Photo by photo: the first one's pixels are gone before the second is decoded. The
        # Engine decodes the bytes: with YuNet at the size it searches, full size only for a face.
        faces = svc.engine.faces(
            checked_photo(upload, svc), detector=chosen, descriptor=descriptor, largest_only=True, face_expected=True
        )
        if len(faces) == 0:
            raise NoFaceFound(upload.filename or "the photo")
        return faces

    def verify_uploads() -> dict[str, Any]:
        svc.engine.calibration(descriptor).threshold_for(fmr)  # an uncalibrated fmr is refused before any work
        a, b = largest_face(file_a), largest_face(file_b)
        return svc.engine.verify(a, b, fmr=fmr, descriptor=descriptor).to_dict()

    return await svc.run(verify_uploads)
