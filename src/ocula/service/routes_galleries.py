"""``/v1/galleries/{g}/people[/{person}]`` (list, enrol, forget) and ``/v1/galleries/{g}/identify``."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, UploadFile

from ..errors import ImageError, InputError, UnknownName
from ..galleries import gallery_names
from ..galleries.thumbnails import THUMBNAIL_KEY as THUMBNAIL
from ..io import check_image
from ..pipelines.faces import Descriptor, Detector
from .deps import Caller, Services, audited, decode_upload, parse_metadata, require, services, upload_bytes
from .guard import MAX_ENROL_PHOTOS
from .problems import Problem, broken_store

router = APIRouter(prefix="/v1", tags=["galleries"])

GalleryName = Annotated[str, Path(min_length=1, max_length=55, description="Gallery name.")]


@router.get("/galleries", summary="The galleries, with how many people each holds")
async def galleries(caller: Caller = require("read"), svc: Services = Depends(services)) -> dict[str, Any]:
    def listing() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for n in gallery_names(svc.settings):
            try:
                out.append({"name": n, "people": len(svc.gallery(n))})
            except Exception as exc:  # a broken store is listed as such; the others still are
                out.append({"name": n, "people": None, "error": broken_store("gallery", n, exc)})
        return out

    return {"galleries": await svc.run(listing)}


@router.get("/galleries/{gallery}/people", summary="The people of a gallery")
async def people(
    gallery: GalleryName, caller: Caller = require("read"), svc: Services = Depends(services)
) -> dict[str, Any]:
    g = await svc.run(svc.gallery, gallery)
    return {"gallery": gallery, "people": [p.to_dict() for p in await svc.run(g.people)]}


#: The face-model fields of enrolment and identification.
DetectorField = Annotated[
    Detector | None,
    Form(description="Face detector: hog, cnn, hog+cnn or yunet (default: the descriptor's: hog+cnn for dlib, "
         "yunet for sface+dlib and sface)."),
]
DescriptorField = Annotated[
    Descriptor | None,
    Form(
        description="Face descriptor: sface+dlib (both fused), sface (faces v2) or dlib. A new gallery is built "
        "with it (default sface+dlib); naming "
        "another than an existing gallery's is refused."
    ),
]


@router.post("/galleries/{gallery}/people", summary="Enrol a person from one or more photos")
async def enroll(
    gallery: GalleryName,
    person: Annotated[str, Form(min_length=1, max_length=200, description="The person's name.")],
    file: Annotated[list[UploadFile], File(description="Photos of the person, one face each (repeat the field).")],
    metadata: Annotated[str | None, Form(description="A JSON object stored with the person.")] = None,
    detector: DetectorField = None,
    descriptor: DescriptorField = None,
    caller: Caller = require("write"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    meta = parse_metadata(metadata)
    if len(file) > MAX_ENROL_PHOTOS:
        raise InputError(f"at most {MAX_ENROL_PHOTOS} photos per request, not {len(file)}")
    if THUMBNAIL in meta:
        raise InputError(f"{THUMBNAIL!r} is kept by the service (a face crop of the person)")
    def enroll_uploads() -> dict[str, Any]:
        for upload in file:  # a bad upload is a 4xx before anything is stored (headers only)
            check_image(upload_bytes(upload, svc.service.max_upload_bytes), settings=svc.image_settings)
        new_gallery = gallery not in gallery_names(svc.settings)
        g = svc.gallery(gallery, create=True, descriptor=descriptor)
        added, refused, photos = [], [], 0
        deadline = time.monotonic() + svc.service.work_seconds
        for number, upload in enumerate(file, 1):  # decoded one at a time: one photo's pixels in memory
            name = upload.filename or f"photo {number}"
            if number > 1 and time.monotonic() > deadline:  # 20 huge photos must not hold a worker for minutes
                reason = f"not processed: this request's {svc.service.work_seconds:g} s of work were used up"
                refused.append({"photo": name, "reason": reason + "; send it again on its own"})
                continue
            try:
                image = decode_upload(upload, svc)
            except ImageError as exc:  # a header that checked out but pixels that do not decode
                refused.append({"photo": name, "reason": str(exc)})
                continue
            # One call per photo. The pixels are not kept: the gallery keeps a face crop of the
            # first as the person's thumbnail (Gallery.person_thumbnail).
            result = g.enroll(person, [image], metadata=meta, names=[name], detector=detector)
            if result.added:
                added.append(name)
            refused += [{"photo": name, "reason": reason} for _, reason in result.refused]
            photos = result.photos
        if not added:  # a refusal is not a success: 422, and the audit log records it
            if new_gallery:  # the gallery made here is not left behind (unless another enrolled)
                svc.drop_gallery_if_empty(gallery)
            raise _nothing_enrolled(gallery, person, refused)
        return {"gallery": gallery, "person": person, "added": added, "refused": refused, "photos": photos}

    async with audited(svc, caller, "enroll", f"{gallery}/{person}"):
        return await svc.run(enroll_uploads)


def _nothing_enrolled(gallery: str, person: str, refused: list[dict[str, str]]) -> Problem:
    """The 422 of an enrolment that stored no photo: the detail and ``refused`` name each
    upload (by its filename) with the reason."""
    reasons = "; ".join(f"{r['photo']}: {r['reason']}" for r in refused)
    return Problem(
        422,
        "Nothing enrolled",
        f"no photo of {person!r} was enrolled: {reasons}",
        extra={"gallery": gallery, "person": person, "added": [], "refused": refused},
    )


@router.get("/galleries/{gallery}/people/{person}", summary="One person: photos enrolled and metadata")
async def person(
    gallery: GalleryName,
    person: Annotated[str, Path(min_length=1, max_length=200)],
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    g = await svc.run(svc.gallery, gallery)
    found = next((p for p in await svc.run(g.people) if p.name == person), None)
    if found is None:
        raise UnknownName("person", person)
    return {"gallery": gallery, **found.to_dict()}


@router.delete("/galleries/{gallery}/people/{person}", summary="Forget a person: every vector and reference")
async def forget(
    gallery: GalleryName,
    person: Annotated[str, Path(min_length=1, max_length=200)],
    caller: Caller = require("write"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Erase the person: templates, photo references, metadata and their faces in the stored
    clusters. Answers 200 once the person is gone; ``erasure_pending`` true means another
    connection to the gallery's files (a long read by another process) kept the erased rows
    from being wiped from SQLite's write-ahead log yet: the next open or close of the gallery
    with no such reader finishes it."""
    async with audited(svc, caller, "forget", f"{gallery}/{person}"):
        g = await svc.run(svc.gallery, gallery)
        done = await svc.run(g.forget, person)
    # 200 either way: the person is gone. "erasure_pending": another connection kept the erased
    # rows from being wiped from the gallery's files yet; a later open or close finishes it.
    return {
        "gallery": gallery,
        "person": person,
        "forgotten": True,
        "cluster_faces_removed": done.cluster_faces,
        "erasure_pending": done.erasure_pending,
    }


@router.post("/galleries/{gallery}/identify", summary="Who is each face of a photo (null: unknown)")
async def identify(
    gallery: GalleryName,
    file: Annotated[UploadFile, File(description="The photo.")],
    fpir: Annotated[float, Form(gt=0, lt=1)] = 0.01,
    k: Annotated[int, Form(ge=1, le=50)] = 5,
    detector: DetectorField = None,
    descriptor: DescriptorField = None,
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    def identify_upload() -> dict[str, Any]:
        g = svc.gallery(gallery, descriptor=descriptor)  # an unknown gallery is a 404 before any decoding
        image = decode_upload(file, svc)
        limit = g.threshold(fpir)
        found = g.identify(image, fpir=fpir, k=k, detector=detector)
        h, w = image.shape[:2]
        # As the CLI's JSON: the FPIR asked for, and the one the threshold gives where the
        # gallery is too large for it within the calibrated range (``capped``).
        return {
            "gallery": gallery,
            "width": w,
            "height": h,
            "fpir": fpir,
            "fpir_expected": round(limit.fpir_expected, 6),
            "capped": limit.capped,
            "faces": [f.to_dict() for f in found],
        }

    async with audited(svc, caller, "identify", gallery):
        return await svc.run(identify_upload)
