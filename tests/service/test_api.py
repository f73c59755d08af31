"""The REST service with FastAPI's TestClient on real models: every route's auth (401 without or
with a bad key, 403 with too small a scope), the schemas, problem JSON for bad uploads (text,
0 bytes, decompression bomb, oversize) with the service still serving, rate limits, revoked keys,
the audit log, video jobs, and names that try to escape the data directory."""

from __future__ import annotations

import hashlib
import io
import struct
import time
import zlib
from importlib import resources

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ocula.collections import Collection, NewItem
from ocula.service import create_app
from ocula.service.keys import KeyStore, key_store_path
from ocula.service.settings import ServiceSettings

from ..conftest import SAMPLES, shared

EXAMPLES = "faces/face-recognition-examples/examples/knn_examples"
CAT = (SAMPLES / "cat-chelsea.jpg").read_bytes()


def _grey_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (160, 120), "grey").save(out, "JPEG")
    return out.getvalue()


#: A small JPEG without a face, for the face routes: a faceless photo such as CAT sends dlib's
#: CNN fallback over all its pixels (~5 s of CPU a call) for the same refusal.
FACELESS = _grey_jpeg()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels but holds almost no data (a bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")
    )


@pytest.fixture
def keys(settings):
    store = KeyStore(key_store_path(settings.data_dir))
    made = {scope: store.create(scope, scope)[1] for scope in ("read", "write", "admin")}
    made["revoked"] = store.create("gone", "admin")[1]
    store.revoke("gone")
    store.close()
    return made


@pytest.fixture
def client(engine, settings, keys):
    service = ServiceSettings(max_upload_bytes=2 * 2**20, max_video_bytes=2**20, rate_per_minute=1000)
    with TestClient(create_app(settings, service, engine=engine)) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def photo(path) -> tuple[str, bytes]:
    return (path.name, path.read_bytes())


def is_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"] == "about:blank"
    assert "Traceback" not in response.text
    return body


# Every protected route with a minimal valid request, and the scope it needs.
ROUTES = [
    ("post", "/v1/tag", "read", {"files": {"file": ("c.jpg", CAT)}}),
    ("post", "/v1/faces/detect", "read", {"files": {"file": ("c.jpg", CAT)}}),
    ("post", "/v1/faces/verify", "read", {"files": {"file_a": ("a.jpg", FACELESS), "file_b": ("b.jpg", FACELESS)}}),
    ("get", "/v1/galleries", "read", {}),
    ("get", "/v1/collections", "read", {}),
    ("get", "/v1/galleries/g/people", "read", {}),
    ("post", "/v1/galleries/g/people", "write", {"data": {"person": "p"}, "files": [("file", ("c.jpg", FACELESS))]}),
    ("get", "/v1/galleries/g/people/p", "read", {}),
    ("delete", "/v1/galleries/g/people/p", "write", {}),
    ("post", "/v1/galleries/g/identify", "read", {"files": {"file": ("c.jpg", FACELESS)}}),
    ("get", "/v1/galleries/g/people/p/thumbnail", "read", {}),
    ("get", "/v1/galleries/g/clusters", "read", {}),
    ("get", "/v1/galleries/g/clusters/cluster-0001/faces/0/thumbnail", "read", {}),
    ("post", "/v1/galleries/g/clusters/cluster-0001/name", "write", {"data": {"person": "p"}}),
    ("post", "/v1/galleries/g/clusters/cluster-0001/merge", "write", {"data": {"other": "cluster-0002"}}),
    ("post", "/v1/galleries/g/clusters/cluster-0001/split", "write", {"data": {"faces": "0"}}),
    ("post", "/v1/collections/c/items", "write", {"data": {"id": "x"}, "files": {"file": ("c.jpg", CAT)}}),
    ("delete", "/v1/collections/c/items/x", "write", {}),
    ("post", "/v1/collections/c/search", "read", {"files": {"file": ("c.jpg", CAT)}}),
    ("get", "/v1/collections/c/search?text=dog", "read", {}),
    ("get", "/v1/collections/c/items/x/thumbnail", "read", {}),
    ("post", "/v1/video/jobs", "write", {"files": {"file": ("v.mp4", b"\0" * 64)}}),
    ("get", "/v1/video/jobs/abc", "read", {}),
    ("get", "/v1/audit", "admin", {}),
]


@pytest.mark.parametrize(("method", "url", "scope", "kwargs"), ROUTES, ids=[f"{m} {u}" for m, u, _, _ in ROUTES])
def test_every_route_needs_a_key_with_its_scope(client, keys, method, url, scope, kwargs):
    send = getattr(client, method)
    body = is_problem(send(url, **kwargs), 401)
    assert "Bearer" in send(url, **kwargs).headers["www-authenticate"] and "API key" in body["title"]
    is_problem(send(url, headers={"Authorization": "Bearer ocula_not-a-key"}, **kwargs), 401)
    is_problem(send(url, headers={"Authorization": f"Basic {keys['admin']}"}, **kwargs), 401)
    is_problem(send(url, headers=auth(keys["revoked"]), **kwargs), 401)
    for lower in ("read", "write")[: ("read", "write", "admin").index(scope)]:
        refused = is_problem(send(url, headers=auth(keys[lower]), **kwargs), 403)
        assert f"needs {'an' if scope == 'admin' else 'a'} {scope} key" in refused["detail"]
    # With the right scope the request gets past auth (whatever the route then answers).
    assert send(url, headers=auth(keys[scope]), **kwargs).status_code not in (401, 403)


def test_open_routes(client):
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/openapi.json").status_code == 200
    # No Swagger UI page: FastAPI's loads its script from a CDN (broken offline, another origin).
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404


def test_tag_detect_verify(client, keys):
    r = client.post("/v1/tag", files={"file": ("cat.jpg", CAT)}, data={"top_k": "3"}, headers=auth(keys["read"]))
    tags = r.json()["tags"]
    assert r.status_code == 200 and len(tags) == 3 and "cat" in tags[0]["ancestors"]
    assert set(tags[0]) == {"label", "class_index", "wnid", "score", "ancestors"}
    assert r.json()["recognised"] is True
    blank = io.BytesIO()
    Image.new("RGB", (64, 64), "grey").save(blank, "PNG")
    guesses = client.post("/v1/tag", files={"file": ("blank.png", blank.getvalue())}, headers=auth(keys["read"])).json()
    assert guesses["recognised"] is False and len(guesses["tags"]) == 5  # guesses, and said to be
    both = shared(EXAMPLES) / "test" / "obama_and_biden.jpg"
    r = client.post("/v1/faces/detect", files={"file": photo(both)}, headers=auth(keys["read"])).json()
    assert len(r["faces"]) == 3 and r["width"] > 0 and {"box", "landmarks", "quality", "usable"} <= set(r["faces"][0])
    obama = sorted((shared(EXAMPLES) / "train" / "obama").iterdir())
    r = client.post(
        "/v1/faces/verify", files={"file_a": photo(obama[0]), "file_b": photo(obama[1])}, headers=auth(keys["read"])
    ).json()
    assert r["same"] is True and r["similarity"] >= r["threshold"]
    assert r["face_a"] == 0 and r["face_b"] == 0 and len(r["box_a"]) == 4 and len(r["box_b"]) == 4
    # Of two people, the one `faces detect` lists first (Biden, the larger box).
    two, biden = shared(EXAMPLES).parent / "two_people.jpg", shared(EXAMPLES).parent / "biden.jpg"
    r = client.post(
        "/v1/faces/verify", files={"file_a": photo(two), "file_b": photo(biden)}, headers=auth(keys["read"])
    ).json()
    assert r["same"] is True and r["box_a"][0] > 500, r  # Biden stands on the right of the photo


@pytest.mark.slow
def test_gallery_round_trip_and_audit(client, keys):
    train = shared(EXAMPLES) / "train"
    for person in ("obama", "biden"):
        files = [("file", photo(p)) for p in sorted((train / person).iterdir())]
        r = client.post("/v1/galleries/watch/people", data={"person": person, "metadata": '{"team": "usa"}'},
                        files=files, headers=auth(keys["write"]))  # fmt: skip
        assert r.status_code == 200 and r.json()["photos"] == 2 and r.json()["refused"] == [], r.text
    for bad in ("5", "[]", '"text"', "{not json"):  # metadata must be a JSON object: 422, nothing created
        is_problem(client.post("/v1/galleries/other/people", data={"person": "x", "metadata": bad},
                               files=[("file", ("c.jpg", CAT))], headers=auth(keys["write"])), 422)  # fmt: skip
    too_many = [("file", ("c.jpg", CAT))] * 21
    is_problem(
        client.post("/v1/galleries/watch/people", data={"person": "x"}, files=too_many, headers=auth(keys["write"])),
        422,
    )
    # A photo without a face: nothing enrolled is a 422 naming the upload (tests/service/test_enrol_refusals.py).
    r = client.post("/v1/galleries/watch/people", data={"person": "cat"}, files=[("file", ("cat.jpg", FACELESS))],
                    headers=auth(keys["write"]))  # fmt: skip
    assert is_problem(r, 422)["refused"][0]["photo"] == "cat.jpg"
    assert client.get("/v1/galleries", headers=auth(keys["read"])).json() == {
        "galleries": [{"name": "watch", "people": 2}]
    }
    people = client.get("/v1/galleries/watch/people", headers=auth(keys["read"])).json()["people"]
    assert sorted(p["person"] for p in people) == ["biden", "obama"]
    assert all(p["metadata"]["thumbnail"].startswith("data:image/jpeg;base64,") for p in people)
    one = client.get("/v1/galleries/watch/people/obama", headers=auth(keys["read"])).json()
    assert one["person"] == "obama" and one["photos"] == 2 and one["metadata"]["team"] == "usa"
    is_problem(client.get("/v1/galleries/watch/people/nobody", headers=auth(keys["read"])), 404)
    both = shared(EXAMPLES) / "test" / "obama_and_biden.jpg"
    r = client.post("/v1/galleries/watch/identify", files={"file": photo(both)}, headers=auth(keys["read"])).json()
    assert [f["person"] for f in r["faces"]] == ["obama", "biden", None]
    assert set(r["faces"][0]) == {"box", "person", "similarity", "threshold", "usable", "candidates"}
    assert (r["fpir"], r["capped"]) == (0.01, False) and 0 < r["fpir_expected"] <= 0.01
    # Review of issue 17: an FPIR the table cannot reach was silently replaced; now it says so, as the CLI does.
    strict = client.post("/v1/galleries/watch/identify", files={"file": photo(both)}, data={"fpir": "1e-9"},
                         headers=auth(keys["read"])).json()  # fmt: skip
    assert strict["fpir"] == 1e-9 and strict["capped"] is True and strict["fpir_expected"] > 1e-9
    r = client.delete("/v1/galleries/watch/people/obama", headers=auth(keys["write"]))
    assert r.status_code == 200 and r.json()["forgotten"] is True
    is_problem(client.get("/v1/galleries/watch/people/obama", headers=auth(keys["read"])), 404)  # thumbnail too
    r = client.post("/v1/galleries/watch/identify", files={"file": photo(both)}, headers=auth(keys["read"])).json()
    assert [f["person"] for f in r["faces"]] == [None, "biden", None]
    is_problem(client.delete("/v1/galleries/watch/people/obama", headers=auth(keys["write"])), 404)
    is_problem(
        client.post("/v1/galleries/nobody/identify", files={"file": photo(both)}, headers=auth(keys["read"])), 404
    )
    entries = client.get("/v1/audit", headers=auth(keys["admin"])).json()["entries"]
    seen = [(e["key"], e["action"], e["target"], e["status"]) for e in entries]
    assert ("read", "identify", "watch", 200) in seen and ("write", "forget", "watch/obama", 200) in seen
    assert ("read", "identify", "nobody", 404) in seen and ("write", "enroll", "watch/biden", 200) in seen
    assert all(e["at"].endswith("Z") and e["client"] for e in entries)


def test_collection_items_search_delete(client, keys):
    coffee = (SAMPLES / "coffee.jpg").read_bytes()
    for item, data, kind in (("cat", CAT, "animal"), ("coffee", coffee, "drink")):
        r = client.post("/v1/collections/shop/items", data={"id": item, "metadata": f'{{"kind": "{kind}"}}'},
                        files={"file": (f"{item}.jpg", data)}, headers=auth(keys["write"]))  # fmt: skip
        assert r.status_code == 200, r.text
    listed = client.get("/v1/collections", headers=auth(keys["read"])).json()["collections"]
    assert [(c["name"], c["items"]) for c in listed] == [("shop", 2)] and "@" in listed[0]["embedder"]
    r = client.post(
        "/v1/collections/shop/search", files={"file": ("q.jpg", CAT)}, data={"k": "2"}, headers=auth(keys["read"])
    )
    matches = r.json()["matches"]
    assert [m["id"] for m in matches] == ["cat", "coffee"] and matches[0]["metadata"] == {"kind": "animal"}
    r = client.post("/v1/collections/shop/search", files={"file": ("q.jpg", CAT)},
                    data={"where": "kind = 'drink'"}, headers=auth(keys["read"]))  # fmt: skip
    assert [m["id"] for m in r.json()["matches"]] == ["coffee"]
    r = client.post("/v1/collections/shop/search", files={"file": ("q.jpg", CAT)}, data={"region": "0,0,200,200"},
                    headers=auth(keys["read"]))  # fmt: skip
    assert r.status_code == 200 and r.json()["region"] == [0, 0, 200, 200]
    is_problem(client.post("/v1/collections/shop/search", files={"file": ("q.jpg", CAT)}, data={"region": "1,2"},
                           headers=auth(keys["read"])), 422)  # fmt: skip
    is_problem(client.post("/v1/collections/shop/search", files={"file": ("q.jpg", CAT)},
                           data={"where": "kind = "}, headers=auth(keys["read"])), 422)  # fmt: skip
    assert client.delete("/v1/collections/shop/items/cat", headers=auth(keys["write"])).status_code == 200
    r = client.post("/v1/collections/shop/search", files={"file": ("q.jpg", CAT)}, headers=auth(keys["read"]))
    assert [m["id"] for m in r.json()["matches"]] == ["coffee"]  # the deleted item cannot come back
    is_problem(client.delete("/v1/collections/shop/items/cat", headers=auth(keys["write"])), 404)
    is_problem(
        client.post("/v1/collections/none/search", files={"file": ("q.jpg", CAT)}, headers=auth(keys["read"])), 404
    )


def test_collection_search_by_words_and_thumbnails(client, keys, engine, settings):
    coffee, rocket = (SAMPLES / "coffee.jpg").read_bytes(), (SAMPLES / "rocket.jpg").read_bytes()
    for item, data, year in (("cat", CAT, 2019), ("coffee", coffee, 2021), ("rocket", rocket, 2021)):
        r = client.post("/v1/collections/words/items", data={"id": item, "metadata": f'{{"year": {year}}}'},
                        files={"file": (f"{item}.jpg", data)}, headers=auth(keys["write"]))  # fmt: skip
        assert r.status_code == 200, r.text
    read = auth(keys["read"])
    r = client.get("/v1/collections/words/search", params={"text": "cats", "k": 5}, headers=read)
    assert r.status_code == 200, r.text
    matches = r.json()["matches"]
    assert matches and matches[0]["id"] == "cat" and matches[0]["score"] > 0.3
    assert matches[0]["concepts"] and {"concept", "wnid", "score"} <= set(matches[0]["concepts"][0])
    either = {"text": "cat | coffee", "where": "year >= 2020"}
    r = client.get("/v1/collections/words/search", params=either, headers=read)
    assert [m["id"] for m in r.json()["matches"]] == ["coffee"]  # ids of the filter ∩ the postings
    r = client.post("/v1/collections/words/search", data={"text": "cat"}, headers=read)  # words, no photo
    assert r.json()["matches"][0]["id"] == "cat"
    r = client.post("/v1/collections/words/search", data={"text": "drink", "k": "1"}, files={"file": ("q.jpg", CAT)},
                    headers=read)  # fmt: skip
    assert [m["id"] for m in r.json()["matches"]] == ["coffee"] and r.json()["matches"][0]["concepts"]
    unknown = is_problem(client.get("/v1/collections/words/search", params={"text": "dgo"}, headers=read), 422)
    assert "dingo" in unknown["suggestions"] and "dingo" in unknown["detail"]
    is_problem(client.post("/v1/collections/words/search", data={"k": "2"}, headers=read), 422)  # nothing to search
    # Thumbnails: of an item's recorded file while it has its recorded SHA-256; 404 otherwise.
    is_problem(client.get("/v1/collections/words/items/cat/thumbnail", headers=read), 404)  # uploaded: no file
    is_problem(client.get("/v1/collections/words/items/nobody/thumbnail", headers=read), 404)
    path = SAMPLES / "rocket.jpg"
    with Collection.open("words", settings=settings) as coll:
        vector = coll.vectors("rocket")
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        coll.add([NewItem("in/folder.jpg", vector, path=str(path), content_sha256=sha),
                  NewItem("changed", vector, path=str(path), content_sha256="0" * 64)])  # fmt: skip
    r = client.get("/v1/collections/words/items/in%2Ffolder.jpg/thumbnail", headers=read)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "no-store" and max(Image.open(io.BytesIO(r.content)).size) <= 192
    is_problem(client.get("/v1/collections/words/items/changed/thumbnail", headers=read), 404)
    # An id with a slash (`ocula index` names a subfolder's photos so) can be deleted as it is shown.
    write = auth(keys["write"])
    r = client.delete("/v1/collections/words/items/in%2Ffolder.jpg", headers=write)
    assert r.status_code == 200 and r.json()["deleted"], r.text
    is_problem(client.get("/v1/collections/words/items/in%2Ffolder.jpg/thumbnail", headers=read), 404)
    is_problem(client.delete("/v1/collections/words/items/in%2Ffolder.jpg", headers=write), 404)


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("notes.txt", b"this is not an image", 415),
        ("empty.jpg", b"", 400),
        ("bomb.png", png_header_only(60_000, 60_000), 413),
        ("truncated.jpg", CAT[:2000], 415),
        ("big.jpg", b"\xff\xd8" + b"\0" * (2 * 2**20 + 10), 413),
    ],
)
def test_bad_uploads_are_4xx_and_the_service_keeps_serving(client, keys, name, data, status):
    for url in ("/v1/tag", "/v1/faces/detect", "/v1/collections/c/search"):
        body = is_problem(client.post(url, files={"file": (name, data)}, headers=auth(keys["read"])), status)
        assert body["detail"]
    r = client.post("/v1/tag", files={"file": ("cat.jpg", CAT)}, headers=auth(keys["read"]))
    assert r.status_code == 200


def test_bad_requests_are_problems(client, keys):
    is_problem(client.post("/v1/tag", headers=auth(keys["read"])), 422)  # no file
    is_problem(
        client.post("/v1/tag", files={"file": ("c.jpg", CAT)}, data={"top_k": "0"}, headers=auth(keys["read"])), 422
    )
    is_problem(client.get("/v1/nothing-here", headers=auth(keys["read"])), 404)
    # Names that try to leave the data directory never reach the disk.
    for name in ("..", "...%2F..%2Fetc", "a%2F..%2F..%2Fb", ".hidden"):
        r = client.get(f"/v1/galleries/{name}/people", headers=auth(keys["read"]))
        assert r.status_code in (404, 422), (name, r.status_code)


def test_rate_limit(engine, settings, keys):
    with TestClient(create_app(settings, ServiceSettings(rate_per_minute=3), engine=engine)) as c:
        codes = [c.get("/v1/galleries/g/people", headers=auth(keys["read"])).status_code for _ in range(5)]
        assert codes[:3] == [404, 404, 404] and codes[3] == 429
        r = c.get("/v1/galleries/g/people", headers=auth(keys["read"]))
        assert int(is_problem(r, 429) and r.headers["retry-after"]) >= 1
        assert c.get("/v1/galleries/g/people", headers=auth(keys["write"])).status_code == 404  # per key


@pytest.mark.slow
def test_video_job(client, keys):
    clip = shared("video/face_recognition_hamilton") / "short_hamilton_clip.mp4"
    r = client.post("/v1/video/jobs", files={"file": ("clip.mp4", clip.read_bytes())},
                    data={"every": "0.5"}, headers=auth(keys["write"]))  # fmt: skip
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and job["id"]
    deadline = time.time() + 120
    while job["status"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
        job = client.get(f"/v1/video/jobs/{job['id']}", headers=auth(keys["write"])).json()
    assert job["status"] == "done" and job["progress"] == 1.0, job
    assert job["report"]["frames"] == 275 and job["events"]
    assert job["report"]["source"] == "clip.mp4"  # as the client named it, not the server's path
    assert all(e["source"] == "clip.mp4" for e in job["events"])  # the events too
    # Not a video: 415 now, not a failed job later; another key's job is not found.
    is_problem(client.post("/v1/video/jobs", files={"file": ("x.mp4", b"\0" * 5000)}, headers=auth(keys["write"])), 415)
    is_problem(client.post("/v1/video/jobs", files={"file": ("x.mp4", b"")}, headers=auth(keys["write"])), 400)
    big = b"\0" * (2**20 + 1)
    is_problem(client.post("/v1/video/jobs", files={"file": ("x.mp4", big)}, headers=auth(keys["write"])), 413)
    assert list((client.app.state.services.settings.data_dir / "service-jobs").iterdir()) == []  # nothing left
    is_problem(client.get(f"/v1/video/jobs/{job['id']}", headers=auth(keys["read"])), 404)
    assert client.get(f"/v1/video/jobs/{job['id']}", headers=auth(keys["admin"])).json()["status"] == "done"
    is_problem(client.post("/v1/video/jobs", files={"file": ("clip.mp4", b"x")}, data={"gallery": "nobody"},
                           headers=auth(keys["write"])), 404)  # fmt: skip


def test_uploads_are_refused_before_their_body_is_read(client, keys):
    """The guard answers 401 / 413 from the headers alone, and counts a streamed body."""
    big = b"x" * (4 * 2**20)  # the fixture allows 2 MiB uploads (+ 1 MiB of form framing)
    form = {"Content-Type": "multipart/form-data; boundary=b"}
    is_problem(client.post("/v1/tag", content=big, headers=form), 401)
    is_problem(client.post("/v1/tag", content=big, headers={**form, "Authorization": "Bearer ocula_nope"}), 401)
    body = is_problem(client.post("/v1/tag", content=big, headers={**form, **auth(keys["read"])}), 413)
    assert "over" in body["detail"]

    def stream():  # chunked: no Content-Length to judge by
        for _ in range(8):
            yield b"y" * 2**19

    is_problem(client.post("/v1/tag", content=stream(), headers={**form, **auth(keys["read"])}), 413)
    assert client.post("/v1/tag", files={"file": ("c.jpg", CAT)}, headers=auth(keys["read"])).status_code == 200


def test_faces_v2_form_fields(client, keys):
    """``detector`` and ``descriptor`` on the face routes: YuNet's landmarks, a typo refused
    like any bad field, and SFace without a shipped table refused with the table named."""
    both = shared(EXAMPLES) / "test" / "obama_and_biden.jpg"
    r = client.post(
        "/v1/faces/detect", data={"detector": "yunet"}, files={"file": photo(both)}, headers=auth(keys["read"])
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["faces"]) >= 2 and {f["landmark_layout"] for f in r.json()["faces"]} == {"yunet5"}
    bad = client.post(
        "/v1/faces/detect", data={"detector": "yunett"}, files={"file": photo(both)}, headers=auth(keys["read"])
    )
    is_problem(bad, 422)
    blank = io.BytesIO()
    Image.new("RGB", (1500, 1500), "white").save(blank, "PNG")
    files = {"file_a": ("a.png", blank.getvalue()), "file_b": ("b.png", blank.getvalue())}
    none = client.post("/v1/faces/verify", data={"detector": "yunet"}, files=files, headers=auth(keys["read"]))
    assert "no face found" in is_problem(none, 422)["detail"]
    sface = client.post("/v1/faces/verify", data={"descriptor": "sface"}, files=files, headers=auth(keys["read"]))
    detail = is_problem(sface, 422)["detail"]
    shipped = resources.files("ocula").joinpath("data", "calibration_sface_face.json").is_file()
    assert ("no face found" if shipped else "calibration_sface_face.json is missing") in detail


def test_huge_blank_photo_is_no_face_through_the_service(client, keys):
    """A blank 8000x5000 PNG (40 MP, the service's pixel limit): ``/v1/faces/verify`` with SFace
    (YuNet) refuses it as no face (422), and ``/v1/faces/detect`` with YuNet reports its full
    size though it was only decoded at the size YuNet searches."""
    blank = io.BytesIO()
    Image.new("RGB", (8000, 5000), "white").save(blank, "PNG")
    files = {"file_a": ("a.png", blank.getvalue()), "file_b": ("b.png", blank.getvalue())}
    r = client.post("/v1/faces/verify", data={"descriptor": "sface"}, files=files, headers=auth(keys["read"]))
    assert "no face found" in is_problem(r, 422)["detail"]
    r = client.post(
        "/v1/faces/detect",
        data={"detector": "yunet"},
        files={"file": ("a.png", blank.getvalue())},
        headers=auth(keys["read"]),
    )
    assert r.status_code == 200 and r.json() == {"width": 8000, "height": 5000, "faces": []}, r.text
