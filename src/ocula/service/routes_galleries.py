"""``/v1/galleries/{g}/people[/{person}]`` (list, enrol, forget) and ``/v1/galleries/{g}/identify``."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, UploadFile

from ..errors import InputError
from ..galleries import gallery_names
from .deps import Caller, Services, audited, read_image, require, services

router = APIRouter(prefix="/v1", tags=["galleries"])

GalleryName = Annotated[str, Path(min_length=1, max_length=55, description="Gallery name.")]


@router.get("/galleries", summary="The galleries, with how many people each holds")
async def galleries(caller: Caller = require("read"), svc: Services = Depends(services)) -> dict[str, Any]:
    def listing() -> list[dict[str, Any]]:
        return [{"name": n, "people": len(svc.gallery(n))} for n in gallery_names(svc.settings)]

    return {"galleries": await svc.run(listing)}


@router.get("/galleries/{gallery}/people", summary="The people of a gallery")
async def people(
    gallery: GalleryName, caller: Caller = require("read"), svc: Services = Depends(services)
) -> dict[str, Any]:
    g = await svc.run(svc.gallery, gallery)
    return {"gallery": gallery, "people": [p.to_dict() for p in await svc.run(g.people)]}


@router.post("/galleries/{gallery}/people", summary="Enrol a person from one or more photos")
async def enroll(
    gallery: GalleryName,
    person: Annotated[str, Form(min_length=1, max_length=200, description="The person's name.")],
    file: Annotated[list[UploadFile], File(description="Photos of the person, one face each (repeat the field).")],
    metadata: Annotated[str | None, Form(description="A JSON object stored with the person.")] = None,
    caller: Caller = require("write"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if metadata:
        try:
            meta = json.loads(metadata)
        except ValueError:
            raise InputError("metadata must be a JSON object") from None
    async with audited(svc, caller, "enroll", f"{gallery}/{person}"):
        images = [await read_image(f, svc) for f in file]
        g = await svc.run(svc.gallery, gallery, create=True)
        added, refused, photos = [], [], 0
        for upload, image in zip(file, images):  # one call per photo: refusals name the upload
            result = await svc.run(g.enroll, person, image, metadata=meta)
            name = upload.filename or f"photo {len(added) + len(refused) + 1}"
            if result.added:
                added.append(name)
            refused += [{"photo": name, "reason": reason} for _, reason in result.refused]
            photos = result.photos
    return {"gallery": gallery, "person": person, "added": added, "refused": refused, "photos": photos}


@router.delete("/galleries/{gallery}/people/{person}", summary="Forget a person: every vector and reference")
async def forget(
    gallery: GalleryName,
    person: Annotated[str, Path(min_length=1, max_length=200)],
    caller: Caller = require("write"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    async with audited(svc, caller, "forget", f"{gallery}/{person}"):
        g = await svc.run(svc.gallery, gallery)
        cluster_faces = await svc.run(g.forget, person)
    return {"gallery": gallery, "person": person, "forgotten": True, "cluster_faces_removed": cluster_faces}


@router.post("/galleries/{gallery}/identify", summary="Who is each face of a photo (null: unknown)")
async def identify(
    gallery: GalleryName,
    file: Annotated[UploadFile, File(description="The photo.")],
    fpir: Annotated[float, Form(gt=0, lt=1)] = 0.01,
    k: Annotated[int, Form(ge=1, le=50)] = 5,
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    async with audited(svc, caller, "identify", gallery):
        image = await read_image(file, svc)
        g = await svc.run(svc.gallery, gallery)
        found = await svc.run(g.identify, image, fpir=fpir, k=k)
    h, w = image.shape[:2]
    return {"gallery": gallery, "width": w, "height": h, "faces": [f.to_dict() for f in found]}
