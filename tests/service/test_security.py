"""Security of the service: names that try to leave the data directory (every name field),
a slow upload that must not hold up other clients, and keys that must not escalate."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from ocula.service import create_app
from ocula.service.keys import KeyStore, key_store_path
from ocula.service.settings import ServiceSettings

from ..conftest import SAMPLES, shared

CAT = (SAMPLES / "cat-chelsea.jpg").read_bytes()
TRAVERSALS = [
    "..",
    "../..",
    "../../etc",
    "..%2F..%2Fetc",
    "%2e%2e",
    "a/../../b",
    "..\\..\\x",
    "/etc/passwd",
    "~root",
    ".",
    "con",
]


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.fixture
def setup(engine, settings, tmp_path):
    store = KeyStore(key_store_path(settings.data_dir))
    keys = {s: store.create(s, s)[1] for s in ("read", "write", "admin")}
    store.close()
    with TestClient(create_app(settings, ServiceSettings(rate_per_minute=10_000), engine=engine)) as c:
        yield c, keys, settings


@pytest.mark.slow
def test_name_fields_never_leave_the_data_directory(setup, tmp_path):
    client, keys, settings = setup
    photo = shared("faces/face-recognition-examples/examples/knn_examples/train/obama")
    face = sorted(photo.iterdir())[0].read_bytes()
    outside_before = files_under(tmp_path) - files_under(settings.data_dir)
    w = {"Authorization": f"Bearer {keys['write']}"}
    r = {"Authorization": f"Bearer {keys['read']}"}
    for name in TRAVERSALS:
        responses = [
            client.post(
                f"/v1/galleries/{name}/people", data={"person": "p"}, files=[("file", ("f.jpg", face))], headers=w
            ),
            client.get(f"/v1/galleries/{name}/people", headers=r),
            client.post(f"/v1/galleries/{name}/identify", files={"file": ("f.jpg", face)}, headers=r),
            client.post(f"/v1/collections/{name}/items", data={"id": "x"}, files={"file": ("c.jpg", CAT)}, headers=w),
            client.post(f"/v1/collections/{name}/search", files={"file": ("c.jpg", CAT)}, headers=r),
            # the name as a person and as an item id, in a valid gallery / collection
            client.post("/v1/galleries/ok/people", data={"person": name}, files=[("file", ("f.jpg", face))], headers=w),
            client.delete(f"/v1/galleries/ok/people/{name}", headers=w),
            client.post("/v1/collections/ok/items", data={"id": name}, files={"file": ("c.jpg", CAT)}, headers=w),
            client.delete(f"/v1/collections/ok/items/{name}", headers=w),
        ]
        for resp in responses:
            assert resp.status_code < 500, (name, resp.request.url, resp.text)
            assert "Traceback" not in resp.text
    # Nothing was written outside the data directory, and inside it only stores with plain names.
    assert files_under(tmp_path) - files_under(settings.data_dir) == outside_before
    for kind in ("galleries", "collections"):
        stores = {p.name for p in (settings.data_dir / kind).iterdir()}
        assert "ok" in stores and stores <= {"ok", "con"}, stores  # "con" is a plain name (reserved only on Windows)
        assert all(
            (settings.data_dir / kind / n).resolve().parent == (settings.data_dir / kind).resolve() for n in stores
        )
    # Person names and ids are data, not paths: stored as given (where allowed) and found again.
    people = client.get("/v1/galleries/ok/people", headers=r).json()["people"]
    assert people and all("/" not in p["person"] and "\\" not in p["person"] for p in people)


def test_keys_do_not_escalate(setup):
    client, keys, _settings = setup
    read = {"Authorization": f"Bearer {keys['read']}"}
    for method, url in (("post", "/v1/galleries/g/people"), ("delete", "/v1/galleries/g/people/p"),
                        ("post", "/v1/collections/c/items"), ("delete", "/v1/collections/c/items/x"),
                        ("post", "/v1/video/jobs"), ("get", "/v1/audit")):  # fmt: skip
        assert getattr(client, method)(url, headers=read).status_code == 403, url
    write = {"Authorization": f"Bearer {keys['write']}"}
    assert client.get("/v1/audit", headers=write).status_code == 403
    # A key is the whole token: prefixes, case changes and padding do not authenticate.
    for token in (keys["admin"][:-1], keys["admin"].upper(), keys["admin"] + " x", f" {keys['admin']}x"):
        assert client.get("/v1/audit", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.get("/v1/audit", headers={"Authorization": f"Bearer {keys['admin']}"}).status_code == 200


def test_a_slow_upload_does_not_hold_up_other_clients(engine, settings):
    """A client trickling a multipart body (1 byte every 50 ms) while others are served."""
    import uvicorn

    store = KeyStore(key_store_path(settings.data_dir))
    key = store.create("k", "read")[1]
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    stop = threading.Event()

    def trickle() -> None:
        body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n\r\n" + CAT[:200]
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(
                f"POST /v1/tag HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {len(body) + 100}\r\n\r\n".encode()
            )
            for byte in body:
                if stop.is_set():
                    return
                conn.sendall(bytes([byte]))
                time.sleep(0.05)

    slow = [threading.Thread(target=trickle, daemon=True) for _ in range(4)]
    for t in slow:
        t.start()
    try:
        time.sleep(0.5)
        for _ in range(5):
            r = httpx.post(f"http://127.0.0.1:{port}/v1/tag", files={"file": ("c.jpg", CAT)},
                           headers={"Authorization": f"Bearer {key}"}, timeout=30)  # fmt: skip
            assert r.status_code == 200
        # Served while the slow uploads were still trickling (each takes over 13 s to send).
        assert all(t.is_alive() for t in slow)
    finally:
        stop.set()
        server.should_exit = True
        thread.join(timeout=30)
