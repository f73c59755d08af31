"""``/v1/collections/{c}/items[/{id}]`` (add, delete) and ``/v1/collections/{c}/search``.

Add and search do all their work (reading the upload, decoding it, the model, the store) in one
worker slot (:meth:`Services.run`), so a request waiting its turn holds only its compressed
upload. The photo is decoded full size (within the service's pixel limit), not shrunk like
``/v1/tag``'s: a search ``region`` and each match's ``query_region`` are pixels of the photo, and
an added item's vector must be the one ``ocula index`` computes for the same file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Response, UploadFile

from ..collections import Collection, Match, NewItem, collection_names
from ..engine.results import Embedded
from ..engine.search import item_extras
from ..errors import InputError, UnknownName
from ..galleries import PersonSearch, search_person
from ..galleries.thumbnails import photo_thumbnail
from ..io import load_image
from .deps import Caller, Services, audited, decode_upload, parse_metadata, require, services, upload_bytes
from .problems import Problem, broken_store

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
        vectors, probabilities = embedder.embed_and_classify([embedder.prepare(image)])
        extras = item_extras(Embedded(id, vectors[0], None, probabilities[0]))  # what ``ocula index`` stores too
        coll = svc.collection(collection, create=True)
        sha = hashlib.sha256(data).hexdigest()
        coll.add([NewItem(id, vectors, path=None, content_sha256=sha, metadata=meta, **extras)])

    async with audited(svc, caller, "add_item", f"{collection}/{id}"):
        await svc.run(embed_and_add)
    return {"collection": collection, "id": id, "metadata": meta}


@router.delete(
    "/collections/{collection}/items/{item_id:path}",
    summary="Delete an item (its vector can no longer be returned; stored faces are erased from the files)",
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


@router.get(
    "/collections/{collection}/items/{item_id:path}/thumbnail",
    summary="A small JPEG of an item's photo",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def item_thumbnail(
    collection: CollectionName, item_id: ItemId, caller: Caller = require("read"), svc: Services = Depends(services)
) -> Response:
    """Made from the file the item was indexed from, while it still has the recorded SHA-256
    (404 when the item has no file, or it is gone or changed); never stored."""

    def thumbnail() -> bytes | None:
        item = svc.collection(collection).get(item_id)
        if item is None:
            raise UnknownName("item", item_id)
        return photo_thumbnail(item.path, item.content_sha256, svc.image_settings)

    jpeg = await svc.run(thumbnail)
    if jpeg is None:
        raise Problem(404, "No thumbnail", f"the photo of item {item_id} is not where it was indexed, or has changed")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


WORDS = "Words: what the items show, e.g. dog, 'dog cat' (both), 'dog | cat' (either)."


@router.get(
    "/collections/{collection}/search", summary="The items that show what some words name, or a person of a gallery"
)
async def search_get(
    collection: CollectionName,
    text: Annotated[str | None, Query(min_length=1, max_length=500, description=WORDS)] = None,
    person: Annotated[str | None, Query(min_length=1, max_length=256, description="A person of gallery.")] = None,
    gallery: Annotated[str | None, Query(min_length=1, max_length=64, description="The person's gallery.")] = None,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    where: Annotated[str | None, Query(description="Metadata filter, e.g. year >= 2020.")] = None,
    fpir: Annotated[float, Query(gt=0, lt=1, description="With person: the gallery threshold's FPIR.")] = 0.01,
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    if person is not None or gallery is not None:
        query = _PersonQuery(person, gallery, text, None, None, fpir)
        return await _search_person(svc, caller, collection, query, k=k, where=where)
    if text is None:
        raise InputError("give text (words), or person and gallery")

    def search() -> list[Match]:
        return svc.engine.search_words(text, svc.collection(collection), k=k, where=where or None)

    async with audited(svc, caller, "search", collection):
        matches = await svc.run(search)
    return {"collection": collection, "text": text, "matches": [m.to_dict() for m in matches]}


@router.post(
    "/collections/{collection}/search",
    summary="The items most like a photo (or a region of it), or that show what some words name, or both",
)
async def search(
    collection: CollectionName,
    file: Annotated[UploadFile | None, File(description="The query photo.")] = None,
    text: Annotated[
        str | None, Form(max_length=500, description=WORDS + " With a photo: by similarity times word score.")
    ] = None,
    k: Annotated[int, Form(ge=1, le=100)] = 10,
    where: Annotated[str | None, Form(description="Metadata filter, e.g. category = 'shoes'.")] = None,
    region: Annotated[str | None, Form(description="x0,y0,x1,y1: search with this part of the photo.")] = None,
    person: Annotated[str | None, Form(max_length=256, description="Items showing this person of gallery.")] = None,
    gallery: Annotated[str | None, Form(max_length=64, description="The gallery person is enrolled in.")] = None,
    fpir: Annotated[float, Form(gt=0, lt=1, description="With person: the gallery threshold's FPIR.")] = 0.01,
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    box = _region(region)
    text = text or None
    if person is not None or gallery is not None:
        query = _PersonQuery(person, gallery, text, file, box, fpir)
        return await _search_person(svc, caller, collection, query, k=k, where=where)
    if file is None and text is None:
        raise InputError("give a query photo (file), words (text), or both")

    def search_upload() -> list[Match]:
        if file is None:
            assert text is not None
            return svc.engine.search_words(text, svc.collection(collection), k=k, where=where or None)
        image = decode_upload(file, svc)  # a bad upload is refused as such, whatever the collection
        return svc.engine.search(image, svc.collection(collection), k=k, where=where or None, region=box, text=text)

    async with audited(svc, caller, "search", collection):
        matches = await svc.run(search_upload)
    return {"collection": collection, "region": box, "text": text, "matches": [m.to_dict() for m in matches]}


@dataclass(frozen=True)
class _PersonQuery:
    """A search by person, and the words and photo that narrow and rank it."""

    person: str | None
    gallery: str | None
    text: str | None
    file: UploadFile | None
    region: list[float] | None
    fpir: float


async def _search_person(
    svc: Services, caller: Caller, collection: str, q: _PersonQuery, *, k: int, where: str | None
) -> dict[str, Any]:
    """The items of ``collection`` where a face is ``q.person`` of ``q.gallery``, narrowed by
    words and ranked with a photo if given (see :func:`ocula.galleries.search_person`); an
    unknown person or gallery is a 404."""
    person, gallery = q.person, q.gallery
    if not person or not gallery:
        raise InputError("person and gallery go together")

    def find() -> PersonSearch:
        image = None if q.file is None else decode_upload(q.file, svc)  # a bad upload is refused as such
        g, coll = svc.gallery(gallery), svc.collection(collection)
        return search_person(
            g, coll, person, k=k, where=where or None, fpir=q.fpir, text=q.text, photo=image, region=q.region
        )

    async with audited(svc, caller, "search_person", f"{collection}/{gallery}"):
        found = await svc.run(find)
    return {"collection": collection, "text": q.text, "region": q.region, **found.to_dict()}
