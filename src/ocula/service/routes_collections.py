"""``/v1/collections/{c}/items[/{id}]`` (add, delete) and ``/v1/collections/{c}/search``.

Add and search do all their work (reading the upload, decoding it, the model, the store) in one
worker slot (:meth:`Services.run`), so a request waiting its turn holds only its compressed
upload. The photo is decoded full size (within the service's pixel limit), not shrunk like
``/v1/tag``'s: a search ``region`` and each match's ``query_region`` are pixels of the photo, and
an added item's vector must be the one ``ocula index`` computes for the same file.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile

from ..collections import Collection, Match, NewItem, collection_names
from ..errors import InputError, UnknownName
from ..galleries import PersonSearch, search_person
from ..io import load_image
from .deps import Caller, Services, audited, decode_upload, parse_metadata, require, services, upload_bytes
from .problems import broken_store

router = APIRouter(prefix="/v1", tags=["collections"])

CollectionName = Annotated[str, Path(min_length=1, max_length=64, description="Collection name.")]
ItemId = Annotated[str, Path(min_length=1, max_length=512, description="Item id.")]


def _region(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        box = [float(v) for v in text.split(",")]
    except ValueError:
        box = []
    if len(box) != 4:
        raise InputError(f"region is x0,y0,x1,y1 in pixels, not {text!r}")
    return box


@router.get("/collections", summary="The collections, with how many items each holds")
async def collections(caller: Caller = require("read"), svc: Services = Depends(services)) -> dict[str, Any]:
    def listing() -> list[dict[str, Any]]:
        out = []
        for n in collection_names(svc.settings):
            try:  # opened without the embedder: counting needs no model, any collection lists
                with Collection.open(n, settings=svc.settings) as c:
                    out.append({"name": n, "items": len(c), "embedder": c.embedder})
            except Exception as exc:  # a broken store is listed as such; the others still are
                out.append({"name": n, "items": None, "error": broken_store("collection", n, exc)})
        return out

    return {"collections": await svc.run(listing)}


@router.post("/collections/{collection}/items", summary="Add (or replace) an item from a photo")
async def add_item(
    collection: CollectionName,
    file: Annotated[UploadFile, File(description="The item's photo.")],
    id: Annotated[str, Form(min_length=1, max_length=512, description="The item's id.")],
    metadata: Annotated[str | None, Form(description="A JSON object stored with the item (filterable).")] = None,
    caller: Caller = require("write"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    meta = parse_metadata(metadata)

    def embed_and_add() -> None:
        data = upload_bytes(file, svc.service.max_upload_bytes)  # the item's content hash is of these bytes
        image = load_image(data, settings=svc.image_settings)
        embedder = svc.engine.image_embedder()
        vector = embedder.embed([embedder.prepare(image)])
        coll = svc.collection(collection, create=True)
        coll.add([NewItem(id, vector, path=None, content_sha256=hashlib.sha256(data).hexdigest(), metadata=meta)])

    async with audited(svc, caller, "add_item", f"{collection}/{id}"):
        await svc.run(embed_and_add)
    return {"collection": collection, "id": id, "metadata": meta}


@router.delete(
    "/collections/{collection}/items/{item_id}", summary="Delete an item (its vector can no longer be returned)"
)
async def delete_item(
    collection: CollectionName, item_id: ItemId, caller: Caller = require("write"), svc: Services = Depends(services)
) -> dict[str, Any]:
    async with audited(svc, caller, "delete_item", f"{collection}/{item_id}"):
        coll = await svc.run(svc.collection, collection)
        removed = await svc.run(coll.delete, [item_id])
        if not removed:
            raise UnknownName("item", item_id)
    return {"collection": collection, "id": item_id, "deleted": True}


@router.post(
    "/collections/{collection}/search",
    summary="The items most like a photo (or a region of it), or those showing a person of a gallery",
)
async def search(
    collection: CollectionName,
    file: Annotated[UploadFile | None, File(description="The query photo (or give person and gallery).")] = None,
    k: Annotated[int, Form(ge=1, le=100)] = 10,
    where: Annotated[str | None, Form(description="Metadata filter, e.g. category = 'shoes'.")] = None,
    region: Annotated[str | None, Form(description="x0,y0,x1,y1: search with this part of the photo.")] = None,
    person: Annotated[str | None, Form(max_length=256, description="Items showing this person of gallery.")] = None,
    gallery: Annotated[str | None, Form(max_length=64, description="The gallery person is enrolled in.")] = None,
    fpir: Annotated[float, Form(gt=0, lt=1, description="With person: the gallery threshold's FPIR.")] = 0.01,
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    if person is not None or gallery is not None:
        return await _search_person(svc, caller, collection, person, gallery, k=k, where=where, fpir=fpir)
    if file is None:
        raise InputError("give a query photo (file), or person and gallery")
    box = _region(region)

    def search_upload() -> list[Match]:
        image = decode_upload(file, svc)
        coll = svc.collection(collection)
        return svc.engine.search(image, coll, k=k, where=where or None, region=box)

    async with audited(svc, caller, "search", collection):
        matches = await svc.run(search_upload)
    return {"collection": collection, "region": box, "matches": [m.to_dict() for m in matches]}


@router.get("/collections/{collection}/search", summary="The items showing a person of a gallery")
async def search_get(
    collection: CollectionName,
    person: Annotated[str, Query(min_length=1, max_length=256, description="The person's name.")],
    gallery: Annotated[str, Query(min_length=1, max_length=64, description="The gallery they are enrolled in.")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    where: Annotated[str | None, Query(description="Metadata filter, e.g. year >= 2020.")] = None,
    fpir: Annotated[float, Query(gt=0, lt=1, description="The gallery threshold's FPIR.")] = 0.01,
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    return await _search_person(svc, caller, collection, person, gallery, k=k, where=where, fpir=fpir)


async def _search_person(
    svc: Services,
    caller: Caller,
    collection: str,
    person: str | None,
    gallery: str | None,
    *,
    k: int,
    where: str | None,
    fpir: float,
) -> dict[str, Any]:
    """The items of ``collection`` where a face is ``person`` of ``gallery`` (see
    :func:`ocula.galleries.search_person`); an unknown person or gallery is a 404."""
    if not person or not gallery:
        raise InputError("person and gallery go together")

    def find() -> PersonSearch:
        g, coll = svc.gallery(gallery), svc.collection(collection)
        return search_person(g, coll, person, k=k, where=where or None, fpir=fpir)

    async with audited(svc, caller, "search_person", f"{collection}/{gallery}"):
        found = await svc.run(find)
    return {"collection": collection, **found.to_dict()}
