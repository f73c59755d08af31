"""The people page's API (``routes_clusters``) with TestClient on real models: a gallery built
the way the CLI and the Python API build it (enrolment from photo paths, ``cluster_library``),
then listed, named, merged, split and forgotten over HTTP, with face thumbnails made from the
recorded photos, for people enrolled outside the service too, and gone with a forgotten person."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ocula.galleries import Gallery
from ocula.galleries.library import cluster_library
from ocula.galleries.thumbnails import photo_file
from ocula.service import create_app
from ocula.service.keys import KeyStore, key_store_path
from ocula.service.settings import ServiceSettings

from ..conftest import shared
from .test_api import EXAMPLES, auth, is_problem

pytestmark = pytest.mark.slow  # real servers or CLI processes: left out of the quick tier

G = "/v1/galleries/fam"


@pytest.fixture
def keys(settings):
    store = KeyStore(key_store_path(settings.data_dir))
    made = {scope: store.create(scope, scope)[1] for scope in ("read", "write")}
    store.close()
    return made


@pytest.fixture
def family(engine, settings, tmp_path, monkeypatch):
    """Gallery "fam": obama enrolled from a relative photo path (as ``ocula faces enroll
    photos/obama.jpg`` does: no thumbnail is stored) and two clusters of two faces (kit, rose)
    from ``cluster_library``."""
    train = shared(EXAMPLES) / "train"
    obama = tmp_path / "photos" / "obama.jpg"  # a copy: one test replaces it
    obama.parent.mkdir()
    shutil.copy(train / "obama" / "obama.jpg", obama)
    photos = [train / "kit_harington" / "john1.jpeg", train / "kit_harington" / "john2.jpeg",
              train / "rose_leslie" / "img1.jpg", train / "rose_leslie" / "img2.jpg"]  # fmt: skip
    monkeypatch.chdir(tmp_path)  # the CLI is run from the photos' parent folder
    with Gallery.open("fam", settings=settings, engine=engine, create=True) as g:
        assert g.enroll("obama", [Path("photos/obama.jpg")]).added == ["photos/obama.jpg"]
        assert "thumbnail" not in g.people()[0].metadata
        biden = (train / "biden" / "biden.jpg").read_bytes()  # data, not a file: a crop is kept
        assert g.enroll("biden", [biden]).photos == 1
        assert cluster_library(engine, photos, gallery=g).ids == ["cluster-0001", "cluster-0002"]
    return obama


@pytest.fixture
def client(engine, settings, keys, family):
    with TestClient(create_app(settings, ServiceSettings(rate_per_minute=1000), engine=engine)) as c:
        yield c


def jpeg(response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg" and response.headers["cache-control"] == "no-store"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "JPEG" and 32 <= max(image.size) <= 128
    return image


def clusters(client, keys) -> dict[str, list[str]]:
    r = client.get(f"{G}/clusters", headers=auth(keys["read"]))
    assert r.status_code == 200, r.text
    return {c["cluster"]: [f["photo"] for f in c["faces"]] for c in r.json()["clusters"]}


def test_clusters_are_listed_with_face_thumbnails_and_no_server_paths(client, keys):
    r = client.get(f"{G}/clusters", headers=auth(keys["read"])).json()
    assert [(c["cluster"], c["size"]) for c in r["clusters"]] == [("cluster-0001", 2), ("cluster-0002", 2)]
    faces = [f for c in r["clusters"] for f in c["faces"]]
    assert faces and {f["photo"] for f in faces} == {"john1.jpeg", "john2.jpeg", "img1.jpg", "img2.jpg"}
    assert "/" not in str(r) and all(len(f["box"]) == 4 and f["position"] in (0, 1) for f in faces)
    for c in r["clusters"]:
        for f in c["faces"]:
            jpeg(client.get(f"{G}/clusters/{c['cluster']}/faces/{f['position']}/thumbnail", headers=auth(keys["read"])))
    is_problem(client.get(f"{G}/clusters/cluster-0001/faces/2/thumbnail", headers=auth(keys["read"])), 422)
    is_problem(client.get(f"{G}/clusters/cluster-0009/faces/0/thumbnail", headers=auth(keys["read"])), 404)
    is_problem(client.get(f"{G}/clusters/evil/faces/0/thumbnail", headers=auth(keys["read"])), 422)
    is_problem(client.get("/v1/galleries/nobody/clusters", headers=auth(keys["read"])), 404)


def test_a_person_enrolled_from_a_photo_path_has_a_thumbnail_until_the_photo_changes(client, keys, family):
    """No thumbnail is stored for a CLI / Python enrolment from a file: it is made from the
    recorded photo, and only while that file is the one enrolled (same SHA-256). One enrolled
    from bytes has a crop stored instead, erased with them."""
    jpeg(client.get(f"{G}/people/obama/thumbnail", headers=auth(keys["read"])))
    people = {p["person"]: p for p in client.get(f"{G}/people", headers=auth(keys["read"])).json()["people"]}
    assert "thumbnail" not in people["obama"]["metadata"]
    assert people["biden"]["metadata"]["thumbnail"].startswith("data:image/jpeg;base64,")
    jpeg(client.get(f"{G}/people/biden/thumbnail", headers=auth(keys["read"])))
    assert client.delete(f"{G}/people/biden", headers=auth(keys["write"])).status_code == 200
    is_problem(client.get(f"{G}/people/biden/thumbnail", headers=auth(keys["read"])), 404)
    shutil.copy(shared(EXAMPLES) / "train" / "biden" / "biden.jpg", family)  # another photo, same path
    body = is_problem(client.get(f"{G}/people/obama/thumbnail", headers=auth(keys["read"])), 404)
    assert body["title"] == "No thumbnail" and str(family) not in body["detail"]
    is_problem(client.get(f"{G}/people/nobody/thumbnail", headers=auth(keys["read"])), 404)
    family.unlink()
    os.mkfifo(family)  # a FIFO where the photo was: refused without blocking a worker
    is_problem(client.get(f"{G}/people/obama/thumbnail", headers=auth(keys["read"])), 404)


def test_name_merge_split_then_forget_takes_the_thumbnails_too(client, keys):
    w = auth(keys["write"])
    r = client.post(f"{G}/clusters/cluster-0001/split", data={"faces": ["1"]}, headers=w)
    assert r.status_code == 200 and r.json()["new_cluster"] == "cluster-0003", r.text
    before = clusters(client, keys)
    assert len(before["cluster-0001"]) == len(before["cluster-0003"]) == 1
    is_problem(client.post(f"{G}/clusters/cluster-0001/split", data={"faces": ["0"]}, headers=w), 422)  # all of it
    r = client.post(f"{G}/clusters/cluster-0001/merge", data={"other": "cluster-0003"}, headers=w)
    assert r.status_code == 200 and r.json()["size"] == 2, r.text
    assert sorted(clusters(client, keys)) == ["cluster-0001", "cluster-0002"]
    body = is_problem(client.post(f"{G}/clusters/cluster-0001/merge", data={"other": "cluster-0003"}, headers=w), 404)
    assert "cluster" in body["detail"] and "person" not in body["detail"]
    kit = sorted(before["cluster-0001"] + before["cluster-0003"])
    r = client.post(f"{G}/clusters/cluster-0001/name", data={"person": "kit"}, headers=w)
    assert r.status_code == 200 and r.json()["photos"] == 2, r.text
    assert kit == ["john1.jpeg", "john2.jpeg"] or kit == ["img1.jpg", "img2.jpg"]
    assert list(clusters(client, keys)) == ["cluster-0002"]
    people = client.get(f"{G}/people", headers=auth(keys["read"])).json()["people"]
    assert sorted(p["person"] for p in people) == ["biden", "kit", "obama"]
    jpeg(client.get(f"{G}/people/kit/thumbnail", headers=auth(keys["read"])))  # from the cluster's photos
    is_problem(client.post(f"{G}/clusters/cluster-0001/name", data={"person": "again"}, headers=w), 404)
    r = client.delete(f"{G}/people/kit", headers=w)
    assert r.status_code == 200 and r.json()["forgotten"] is True and "erasure_pending" in r.json()
    is_problem(client.get(f"{G}/people/kit/thumbnail", headers=auth(keys["read"])), 404)
    # A read key lists and looks; it cannot change.
    is_problem(client.post(f"{G}/clusters/cluster-0002/name", data={"person": "x"}, headers=auth(keys["read"])), 403)


def test_an_upload_named_like_a_server_path_never_leads_the_service_to_that_file(client, keys, engine, settings):
    """An upload's filename is only a name: the reference it leaves has no file and no SHA-256
    of a file, so no thumbnail is ever read from a path a client chose."""
    obama = shared(EXAMPLES) / "train" / "obama" / "obama.jpg"
    r = client.post(f"{G}/people", data={"person": "named"}, files=[("file", (str(obama), obama.read_bytes()))],
                    headers=auth(keys["write"]))  # fmt: skip
    assert r.status_code == 200, r.text
    with Gallery.open("fam", settings=settings, engine=engine) as g:
        (ref,) = g.templates("named")[1]
    assert ref["path"] == str(obama) and ref["sha256"] is None and "file" not in ref
    assert photo_file(ref) is None
