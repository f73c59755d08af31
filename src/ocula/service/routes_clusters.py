"""The people page's API: ``/v1/galleries/{g}/clusters`` (the unknown faces grouped by
``ocula faces cluster``; name, merge, split) and face thumbnails of clusters and people.

Thumbnails are JPEGs made when asked from the photo the gallery recorded (see
:mod:`ocula.galleries.thumbnails`) and answered with ``Cache-Control: no-store``, so no copy of
a forgotten person's face outlives the erasure in a browser's cache either. Answers name the
photo of a face by its file name only, never a server path."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path
from fastapi.responses import Response

from ..errors import InputError
from .deps import Caller, Services, audited, require, services
from .problems import Problem
from .routes_galleries import GalleryName

router = APIRouter(prefix="/v1", tags=["galleries"])

ClusterId = Annotated[str, Path(pattern=r"^cluster-[0-9]{4,9}$", description="A cluster id, e.g. cluster-0001.")]
PersonName = Annotated[str, Path(min_length=1, max_length=200)]
MAX_SPLIT_FACES = 1000


def _jpeg(data: bytes | None, what: str) -> Response:
    if data is None:
        raise Problem(404, "No thumbnail", f"the photo of {what} is no longer where it was enrolled, or has changed")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _face(ref: dict[str, Any], position: int) -> dict[str, Any]:
    return {"position": position, "photo": PurePath(str(ref.get("path", ""))).name, "box": ref.get("box")}


@router.get("/galleries/{gallery}/clusters", summary="The clusters of unknown faces of a gallery")
async def clusters(
    gallery: GalleryName, caller: Caller = require("read"), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Each stored cluster (largest first as clustered; a split's new cluster comes last) with
    its faces: position (what ``split`` takes), the photo's file name and the face box."""

    def listing() -> list[dict[str, Any]]:
        g = svc.gallery(gallery)
        return [
            {"cluster": name, "size": len(refs), "faces": [_face(r, i) for i, r in enumerate(refs)]}
            for name, refs in g.cluster_faces()
        ]

    return {"gallery": gallery, "clusters": await svc.run(listing)}


@router.get(
    "/galleries/{gallery}/clusters/{cluster}/faces/{position}/thumbnail",
    summary="A JPEG of one face of a cluster",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def cluster_thumbnail(
    gallery: GalleryName,
    cluster: ClusterId,
    position: Annotated[int, Path(ge=0, le=1_000_000)],
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> Response:
    jpeg = await svc.run(lambda: svc.gallery(gallery).cluster_thumbnail(cluster, position))
    return _jpeg(jpeg, f"face {position} of {cluster}")


@router.get(
    "/galleries/{gallery}/people/{person}/thumbnail",
    summary="A JPEG of a person's face",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def person_thumbnail(
    gallery: GalleryName, person: PersonName, caller: Caller = require("read"), svc: Services = Depends(services)
) -> Response:
    jpeg = await svc.run(lambda: svc.gallery(gallery).person_thumbnail(person))
    return _jpeg(jpeg, person)


@router.post("/galleries/{gallery}/clusters/{cluster}/name", summary="Enrol a cluster's faces as a person")
async def name_cluster(
    gallery: GalleryName,
    cluster: ClusterId,
    person: Annotated[str, Form(min_length=1, max_length=200, description="New or existing person.")],
    caller: Caller = require("write"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """The cluster's faces become photos of ``person`` (a new one, or more photos of someone
    enrolled: that is how a cluster is merged into a person), and the cluster is gone."""
    async with audited(svc, caller, "name-cluster", f"{gallery}/{cluster}"):
        photos = await svc.run(lambda: svc.gallery(gallery).name_cluster(cluster, person))
    return {"gallery": gallery, "cluster": cluster, "person": person, "photos": photos}


@router.post("/galleries/{gallery}/clusters/{cluster}/merge", summary="Merge another cluster into this one")
async def merge_clusters(
    gallery: GalleryName,
    cluster: ClusterId,
    other: Annotated[str, Form(pattern=r"^cluster-[0-9]{4,9}$", description="The cluster merged in (removed).")],
    caller: Caller = require("write"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    async with audited(svc, caller, "merge-clusters", f"{gallery}/{cluster}+{other}"):
        size = await svc.run(lambda: svc.gallery(gallery).merge_clusters(cluster, other))
    return {"gallery": gallery, "cluster": cluster, "merged": other, "size": size}


@router.post("/galleries/{gallery}/clusters/{cluster}/split", summary="Move faces of a cluster into a new one")
async def split_cluster(
    gallery: GalleryName,
    cluster: ClusterId,
    faces: Annotated[list[int], Form(description="Positions of the faces to move out (repeat the field).")],
    caller: Caller = require("write"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    if len(faces) > MAX_SPLIT_FACES:
        raise InputError(f"at most {MAX_SPLIT_FACES} face positions, not {len(faces)}")
    async with audited(svc, caller, "split-cluster", f"{gallery}/{cluster}"):
        new = await svc.run(lambda: svc.gallery(gallery).split_cluster(cluster, faces))
    return {"gallery": gallery, "cluster": cluster, "new_cluster": new, "moved": sorted(set(faces))}
