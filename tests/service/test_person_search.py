"""``GET|POST /v1/collections/{c}/search`` with ``person`` and ``gallery`` (issue 19): the items
whose stored faces are that person, read from the gallery at each request; 404 for an unknown
person or gallery, and a forgotten person is unknown at once."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ocula.collections import Collection, NewItem
from ocula.service import create_app
from ocula.service.settings import ServiceSettings

from ..conftest import shared
from .test_api import auth, is_problem, keys  # noqa: F401  # keys: a fixture

EXAMPLES = "faces/face-recognition-examples/examples/knn_examples"
INDEXED = {"obama1": "test/obama1.jpg", "biden": "train/biden/biden2.jpg", "alex": "test/alex_lacamoire1.jpg"}


@pytest.fixture
def client(engine, settings, keys):  # noqa: F811
    """A service whose collection ``photos`` holds INDEXED with their real faces."""
    examples = shared(EXAMPLES)
    embedder = engine.image_embedder()
    with Collection.open("photos", settings=settings, embedder=embedder.stamp, dim=embedder.dim, create=True) as c:
        vector = np.eye(1, embedder.dim, dtype=np.float32)  # what is searched here is the faces, not this
        c.add(
            NewItem(
                i,
                vector,
                path=str(examples / p),
                metadata={"n": n},
                faces=engine.search_service.item_faces(examples / p),
            )
            for n, (i, p) in enumerate(INDEXED.items())
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
