"""``GET|POST /v1/collections/{c}/search`` with ``person`` and ``gallery`` (issue 19): the items
whose stored faces are that person, read from the gallery at each request; 404 for an unknown
person or gallery, and a forgotten person is unknown at once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ocula.collections import Collection, NewItem
from ocula.concepts import concept_space
from ocula.engine.search import item_extras
from ocula.service import create_app
from ocula.service.settings import ServiceSettings

from ..conftest import shared
from .test_api import auth, is_problem, keys  # noqa: F401  # keys: a fixture

EXAMPLES = "faces/face-recognition-examples/examples/knn_examples"
INDEXED = {"obama1": "test/obama1.jpg", "biden": "train/biden/biden2.jpg", "alex": "test/alex_lacamoire1.jpg"}


@pytest.fixture
def client(engine, settings, keys):  # noqa: F811
    """A service whose collection ``photos`` holds INDEXED with their real vectors, concept
    scores and faces (as ``ocula index`` stores them)."""
    examples = shared(EXAMPLES)
    embedder = engine.image_embedder()
    paths = [examples / p for p in INDEXED.values()]
    embedded = list(engine.search_service.embed_images(paths, classify=True))
    with Collection.open("photos", settings=settings, embedder=embedder.stamp, dim=embedder.dim, create=True,
                         concepts=concept_space().fingerprint) as c:  # fmt: skip
        c.add(
            NewItem(
                i,
                e.vector[None],
                path=str(path),
                metadata={"n": n},
                faces=engine.search_service.item_faces(path),
                **item_extras(e),
            )
            for n, (i, path, e) in enumerate(zip(INDEXED, paths, embedded, strict=True))
        )
    service = ServiceSettings(max_upload_bytes=2 * 2**20, rate_per_minute=1000)
    with TestClient(create_app(settings, service, engine=engine)) as client:
        obama = [
            ("file", (f"o{n}.jpg", (examples / "train/obama" / f).read_bytes()))
            for n, f in enumerate(["obama.jpg", "obama2.jpg"])
        ]
        r = client.post("/v1/galleries/g/people", data={"person": "obama"}, files=obama, headers=auth(keys["write"]))
        assert r.status_code == 200, r.text
        yield client


def test_search_by_person_get_and_post_then_forget(client, keys):  # noqa: F811
    read = auth(keys["read"])
    is_problem(client.get("/v1/collections/photos/search", params={"person": "obama", "gallery": "g"}), 401)
    r = client.get("/v1/collections/photos/search", params={"person": "obama", "gallery": "g"}, headers=read)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [m["id"] for m in body["matches"]] == ["obama1"]
    assert body["matches"][0]["similarity"] >= body["threshold"] and len(body["matches"][0]["face_box"]) == 4
    r = client.post("/v1/collections/photos/search", data={"person": "obama", "gallery": "g", "where": "n > 0"},
                    headers=read)  # fmt: skip
    assert r.status_code == 200 and r.json()["matches"] == [], r.text
    is_problem(
        client.get("/v1/collections/photos/search", params={"person": "nobody", "gallery": "g"}, headers=read), 404
    )
    is_problem(
        client.get("/v1/collections/photos/search", params={"person": "obama", "gallery": "no"}, headers=read), 404
    )
    is_problem(client.post("/v1/collections/photos/search", data={"person": "obama"}, headers=read), 422)
    is_problem(client.post("/v1/collections/photos/search", data={}, headers=read), 422)
    assert client.delete("/v1/galleries/g/people/obama", headers=auth(keys["write"])).status_code == 200
    is_problem(
        client.get("/v1/collections/photos/search", params={"person": "obama", "gallery": "g"}, headers=read), 404
    )


def test_search_by_person_with_words_and_a_photo(client, keys):  # noqa: F811
    read = auth(keys["read"])
    person = {"person": "obama", "gallery": "g"}
    r = client.get("/v1/collections/photos/search", params=person | {"text": "necktie"}, headers=read)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["text"] == "necktie" and [m["id"] for m in body["matches"]] == ["obama1"]
    match = body["matches"][0]
    assert "necktie" in {c["concept"] for c in match["concepts"]} and match["score"] < match["similarity"]
    r = client.get("/v1/collections/photos/search", params=person | {"text": "dog"}, headers=read)
    assert r.status_code == 200, r.text
    assert all(m["score"] < match["score"] / 5 for m in r.json()["matches"])  # a hint of dog at most
    for name, similar in (("obama1", pytest.approx(match["score"], rel=0.02)), ("biden", match["score"] * 0.9)):
        photo = ("file", ("q.jpg", (shared(EXAMPLES) / INDEXED[name]).read_bytes()))
        r = client.post("/v1/collections/photos/search", data=person | {"text": "necktie"}, files=[photo],
                        headers=read)  # fmt: skip
        assert r.status_code == 200, r.text
        (with_photo,) = r.json()["matches"]  # times the similarity to the photo: 1 to itself, less to another
        assert with_photo["id"] == "obama1" and 0 < with_photo["score"]
        assert with_photo["score"] == similar if name == "obama1" else with_photo["score"] < similar
    bad = ("file", ("q.jpg", b"not a photo"))
    is_problem(client.post("/v1/collections/photos/search", data=person, files=[bad], headers=read), 415)
