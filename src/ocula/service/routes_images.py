"""``/v1/tag``, ``/v1/faces/detect``, ``/v1/faces/verify``: one or two uploaded photos in, results out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile

from .deps import Caller, Services, read_image, require, services

router = APIRouter(prefix="/v1", tags=["photos"])


@router.post("/tag", summary="ImageNet tags with WordNet ancestors")
async def tag(
    file: Annotated[UploadFile, File(description="The photo.")],
    top_k: Annotated[int, Form(ge=1, le=100)] = 5,
    min_score: Annotated[float, Form(ge=0.0, le=1.0)] = 0.0,
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    image = await read_image(file, svc)
    tags = await svc.run(svc.engine.tag, image, top_k=top_k, min_score=min_score)
    return {"tags": [t.to_dict() for t in tags]}


@router.post("/faces/detect", summary="Faces with boxes, landmarks and quality")
async def detect(
    file: Annotated[UploadFile, File(description="The photo.")],
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    image = await read_image(file, svc)
    faces = await svc.run(svc.engine.faces, image, embed=False)
    h, w = image.shape[:2]
    usable = faces.usable()
    dicts = faces.to_dicts()
    for d, ok in zip(dicts, usable):
        d["usable"] = bool(ok)
    return {"width": w, "height": h, "faces": dicts}


@router.post("/faces/verify", summary="Are two photos the same person, at a false-match rate")
async def verify(
    file_a: Annotated[UploadFile, File(description="The first photo.")],
    file_b: Annotated[UploadFile, File(description="The second photo.")],
    fmr: Annotated[float, Form(gt=0, lt=1)] = 1e-3,
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    a = await read_image(file_a, svc)
    b = await read_image(file_b, svc)
    result = await svc.run(svc.engine.verify, a, b, fmr=fmr)
    return result.to_dict()
