"""The service's perimeter against a real ``ocula serve`` on 127.0.0.1, over raw sockets: refusals
(401, 403, 429, 413) answered before the body is sent, requests whose headers or body do not
arrive closed with 408, connections per client address bounded; and, with the TestClient: no
server path in any answer, security headers, refusals in the audit log, broken stores in
listings, deeply nested metadata, private files, a full disk (507, audited)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from ocula.service import create_app
from ocula.service.keys import KeyStore, key_store_path
from ocula.service.settings import ServiceSettings

from ..conftest import REPO_ROOT, SAMPLES

pytestmark = pytest.mark.slow  # real servers or CLI processes: left out of the quick tier

CAT = (SAMPLES / "cat-chelsea.jpg").read_bytes()
#: A bound that only a hang exceeds.
PATIENCE = 60.0
#: The server most tests use: its deadlines are far beyond anything a test waits for, so a
#: loaded machine can slow a test down but never turn an answer into a 408.
LIMITS = {
    "OCULA_SERVICE_HEADER_TIMEOUT": "600",
    "OCULA_SERVICE_IDLE_TIMEOUT": "600",
    "OCULA_SERVICE_BODY_TIMEOUT": "600",
    "OCULA_SERVICE_KEEP_ALIVE": "300",
    "OCULA_SERVICE_MAX_CONNECTIONS_PER_CLIENT": "6",
    "OCULA_SERVICE_RATE_PER_MINUTE": "10",
    "OCULA_SERVICE_MAX_CONNECTIONS": "20",
}
#: The server of the tests of the deadlines themselves: short, and only ever expected to expire.
DEADLINES = {
    "OCULA_SERVICE_HEADER_TIMEOUT": "2",
    "OCULA_SERVICE_IDLE_TIMEOUT": "2",
    "OCULA_SERVICE_BODY_TIMEOUT": "4",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, extra_env: dict[str, str], wrap: list[str] | None = None):
    """``ocula serve`` in a subprocess (optionally under ``wrap``), once /healthz answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCULA_")}
    env.update({"OCULA_DATA_DIR": str(data_dir), **extra_env})
    port = free_port()
    command = [sys.executable, "-m", "ocula", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*(wrap or []), *command], env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server, port
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    pytest.fail(f"ocula serve did not start: {server.communicate(timeout=30)[1][-2000:]}")


def stop_server(server: subprocess.Popen) -> str:
    server.send_signal(signal.SIGTERM)
    try:
        return server.communicate(timeout=PATIENCE)[1]
    finally:
        if server.poll() is None:
            server.kill()


def serve_module(tmp_path_factory, limits: dict[str, str]):
    data = tmp_path_factory.mktemp("perimeter") / "data"
    store = KeyStore(key_store_path(data))
    keys = {
        name: store.create(name, scope)[1] for name, scope in (("read", "read"), ("write", "write"), ("hasty", "read"))
    }
    store.close()
    server, port = start_server(data, limits)
    yield port, keys
    log = stop_server(server)
    assert "Traceback" not in log and "Application shutdown complete" in log, log[-3000:]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from serve_module(tmp_path_factory, LIMITS)


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    yield from serve_module(tmp_path_factory, DEADLINES)


def connect(port: int, source: str) -> socket.socket:
    """A connection from ``source`` (another loopback address per test: the per-client limit
    counts addresses)."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE, source_address=(source, 0))
    return conn


def read_answer(conn: socket.socket) -> tuple[int, bytes]:
    """(status, everything up to the server's close); fails on a hang."""
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except ConnectionResetError:  # the server closed while this client was still sending
        pass
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    return int(data[9:12]), data


def read_one_answer(conn: socket.socket) -> int:
    """The status of one answer on a kept-alive connection (its body read by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += conn.recv(65536)
    return int(head[9:12])


def head_only(method: str, path: str, key: str | None, length: int) -> bytes:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def test_refusals_are_answered_before_the_body_is_sent(served):
    port, keys = served
    cases = [  # (method, path, key, declared body size, status)
        ("POST", "/v1/galleries/g/people", keys["read"], 60 * 2**20, 403),  # enrol needs write
        ("POST", "/v1/video/jobs", keys["read"], 300 * 2**20, 403),
        ("POST", "/v1/video/jobs", None, 300 * 2**20, 401),
        ("POST", "/v1/tag", "ocula_not-a-key", 20 * 2**20, 401),
        ("DELETE", "/v1/galleries/g/people/p", keys["write"], 2 * 2**20, 413),  # no upload: its own limit
        ("POST", "/v1/tag", keys["read"], 30 * 2**20, 413),  # one photo of 20 MiB at most
    ]
    for method, path, key, size, status in cases:
        with connect(port, "127.0.0.2") as conn:
            conn.sendall(head_only(method, path, key, size))  # and not one byte of the body
            got, answer = read_answer(conn)  # answered, then closed: the body is not waited for
            assert got == status, (path, answer[:300])
            assert b"application/problem+json" in answer and b"x-frame-options: DENY" in answer
    # A key over its rate gets its 429 before its body too.
    hasty = {"Authorization": f"Bearer {keys['hasty']}"}
    codes = []
    while len(codes) < 30 and 429 not in codes:  # 10 a minute: the 11th, or soon after, is refused
        codes.append(httpx.get(f"http://127.0.0.1:{port}/v1/galleries", headers=hasty).status_code)
    assert codes[0] == 200 and codes[-1] == 429, codes  # the bucket is empty now
    with connect(port, "127.0.0.2") as conn:
        conn.sendall(head_only("POST", "/v1/tag", keys["hasty"], 20 * 2**20))
        got, answer = read_answer(conn)
        assert got == 429 and b"retry-after" in answer.lower()


def test_requests_whose_headers_or_body_do_not_arrive_are_closed(strict):
    port, keys = strict
    conns = [connect(port, "127.0.0.3") for _ in range(4)]
    try:
        for conn in conns[:2]:  # headers begun, never finished
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        # conns[2]: connected, nothing sent at all
        conns[3].sendall(head_only("POST", "/v1/tag", keys["read"], 10_000) + b"--b\r\n")  # a body that stalls
        for conn in conns:
            status, answer = read_answer(conn)
            assert status == 408 and b"did not arrive in time" in answer
    finally:
        for conn in conns:
            conn.close()
    # The server goes on serving.
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200


def test_a_body_trickled_past_its_deadline_is_closed(strict):
    """Never idle long enough for the idle timeout, but the whole body is late (should a loaded
    machine stall the sender for the idle timeout, the answer is the same 408)."""
    port, keys = strict
    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        try:
            while not stop.is_set():
                conn.sendall(b"x")
                time.sleep(0.3)
        except OSError:  # closed by the server
            pass

    with connect(port, "127.0.0.6") as conn:
        part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n'
        conn.sendall(head_only("POST", "/v1/tag", keys["read"], 100_000) + part)
        sender = threading.Thread(target=trickle, args=(conn,), daemon=True)
        sender.start()
        try:
            status, answer = read_answer(conn)
        finally:
            stop.set()
            sender.join(timeout=PATIENCE)
    assert status == 408 and b"body did not arrive in time" in answer


def test_connections_per_client_address_are_bounded(served):
    port, _ = served
    kept = [connect(port, "127.0.0.4") for _ in range(6)]
    try:
        for conn in kept:  # every request sent before any answer is waited for
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for conn in kept:  # each one answered (so accepted and counted), then kept alive
            assert read_one_answer(conn) == 200
        with connect(port, "127.0.0.4") as extra:
            status, answer = read_answer(extra)
            assert status == 429 and b"connections per client" in answer
        with connect(port, "127.0.0.5") as other:  # another address is not affected
            other.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert read_answer(other)[0] == 200
        kept[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # the kept ones still work
        assert read_one_answer(kept[0]) == 200
    finally:
        for conn in kept:
            conn.close()


def test_connections_in_all_are_bounded(served):
    port, _ = served
    conns = [connect(port, f"127.0.1.{i}") for i in range(1, 31)]  # 30 addresses, one each
    statuses = []
    try:
        for conn in conns:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            statuses.append(read_one_answer(conn))
    finally:
        for conn in conns:
            conn.close()
    assert statuses.count(200) <= 20 and statuses.count(503) >= 10, statuses


# -- with the TestClient ------------------------------------------------------------------------
@pytest.fixture
def setup(engine, settings):
    store = KeyStore(key_store_path(settings.data_dir))
    keys = {s: store.create(s, s)[1] for s in ("read", "write", "admin")}
    store.close()
    return create_app(settings, ServiceSettings(rate_per_minute=1000), engine=engine), keys, settings


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_answers_name_no_server_path_and_carry_security_headers(setup):
    app, keys, settings = setup
    for kind in ("galleries", "collections"):  # stores that cannot be read
        (settings.data_dir / kind / "junk").mkdir(parents=True)
        (settings.data_dir / kind / "junk" / "items.sqlite").write_bytes(b"not a database" * 100)
    with TestClient(app) as client:
        answers = [
            client.post("/v1/video/jobs", files={"file": ("x.mp4", b"\0" * 5000)}, headers=auth(keys["write"])),
            client.get("/v1/galleries/junk/people", headers=auth(keys["read"])),
            client.delete("/v1/collections/junk/items/x", headers=auth(keys["write"])),
            client.get("/", headers=auth(keys["read"])),
            client.get("/healthz"),
            client.post("/v1/tag"),
            client.get("/v1/nothing"),
        ]
    assert [a.status_code for a in answers] == [415, 503, 503, 200, 200, 401, 404]
    assert "x.mp4" in answers[0].json()["detail"]  # named as the client named it
    for answer in answers:
        assert str(settings.data_dir) not in answer.text and "service-jobs" not in answer.text, answer.text
        assert "/tmp/" not in answer.text
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert answers[1].json()["title"] == "Storage unavailable"


def test_listings_report_a_broken_store_and_go_on(setup):
    app, keys, settings = setup
    for kind in ("galleries", "collections"):
        (settings.data_dir / kind / "empty").mkdir(parents=True)
        (settings.data_dir / kind / "empty" / "items.sqlite").write_bytes(b"")  # a first write that failed
        (settings.data_dir / kind / "junk").mkdir(parents=True)
        (settings.data_dir / kind / "junk" / "items.sqlite").write_bytes(b"not a database" * 100)
    with TestClient(app) as client:
        r = client.post(
            "/v1/collections/good/items",
            data={"id": "cat"},
            files={"file": ("c.jpg", CAT)},
            headers=auth(keys["write"]),
        )
        assert r.status_code == 200
        galleries = client.get("/v1/galleries", headers=auth(keys["read"]))
        collections = client.get("/v1/collections", headers=auth(keys["read"]))
    assert galleries.status_code == 200 and collections.status_code == 200
    listed = {g["name"]: g for g in galleries.json()["galleries"]}
    assert set(listed) == {"empty", "junk"} and all(g["people"] is None and g["error"] for g in listed.values())
    listed = {c["name"]: c for c in collections.json()["collections"]}
    assert listed["good"]["items"] == 1 and "error" not in listed["good"]
    assert all(listed[n]["items"] is None and listed[n]["error"] for n in ("empty", "junk"))
    assert str(settings.data_dir) not in galleries.text + collections.text


def test_deeply_nested_metadata_is_422(setup):
    app, keys, _ = setup
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    with TestClient(app) as client:
        for metadata in (deep, "[" * 100_000, '{"a":' * 40 + "1" + "}" * 40):
            r = client.post("/v1/collections/c/items", data={"id": "x", "metadata": metadata},
                            files={"file": ("c.jpg", CAT)}, headers=auth(keys["write"]))  # fmt: skip
            assert r.status_code == 422, r.text[:300]
        ok = client.post("/v1/collections/c/items", data={"id": "x", "metadata": '{"a": {"b": [1, {"c": 2}]}}'},
                         files={"file": ("c.jpg", CAT)}, headers=auth(keys["write"]))  # fmt: skip
        assert ok.status_code == 200


def test_refusals_are_audited_cheaply(setup, engine):
    _, keys, settings = setup
    with TestClient(create_app(settings, ServiceSettings(rate_per_minute=3), engine=engine)) as client:
        for _ in range(50):  # a flood of bad keys
            assert (
                client.post("/v1/tag", files={"file": ("c.jpg", CAT)}, headers=auth("ocula_guess")).status_code == 401
            )
        assert client.post("/v1/collections/c/items", data={"id": "x"}, files={"file": ("c.jpg", CAT)},
                           headers=auth(keys["read"])).status_code == 403  # fmt: skip
        codes = [client.get("/v1/galleries", headers=auth(keys["read"])).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        during = client.get("/v1/audit", headers=auth(keys["admin"])).json()["entries"]
    refused = [(e["key"], e["target"], e["status"]) for e in during if e["action"] == "refused"]
    # One row per kind at once (not 50): the repeats are counted, not written one by one.
    assert sorted(refused, key=str) == sorted(
        [
            (None, "POST /v1/tag", 401),
            ("read", "POST /v1/collections/c/items", 403),
            ("read", "GET /v1/galleries", 429),
        ],
        key=str,
    )
    store = KeyStore(key_store_path(settings.data_dir))
    after = store.audit_entries(limit=100)
    store.close()
    repeats = {
        (e["key"], e["status"]): e["target"] for e in after if e["action"] == "refused" and e["target"].startswith("+")
    }
    assert repeats == {(None, 401): "+49 more", ("read", 429): "+1 more"}  # written when the server stopped
    assert all(e["client"] for e in after)


def test_the_service_files_are_private(setup):
    app, keys, settings = setup
    with TestClient(app) as client:
        client.post("/v1/video/jobs", files={"file": ("x.mp4", b"\0" * 5000)}, headers=auth(keys["write"]))
    for path in settings.data_dir.glob("service.sqlite*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((settings.data_dir / "service-jobs").stat().st_mode) == 0o700


def test_a_full_disk_is_507_and_audited(tmp_path):
    """A real full disk: the data folder on a 4 MiB tmpfs, in a mount namespace of its own."""
    if shutil.which("unshare") is None or subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {tmp_path}"], capture_output=True, check=False
    ).returncode != 0:
        pytest.skip("needs unshare -m and tmpfs mounts (root)")
    stage, disk = tmp_path / "stage", tmp_path / "disk"
    store = KeyStore(key_store_path(stage / "data"))
    key = store.create("w", "admin")[1]
    store.close()
    disk.mkdir()
    mount = f"mount -t tmpfs -o size=4m tmpfs {disk} && cp -a {stage / 'data'} {disk}"
    server, port = start_server(disk / "data", {}, ["unshare", "-m", "sh", "-c", mount + ' && exec "$@"', "sh"])
    root = Path(f"/proc/{server.pid}/root") / str(disk).lstrip("/")  # the tmpfs, seen from here
    try:
        base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
        r = httpx.post(base + "/v1/collections/shop/items", data={"id": "cat"}, files={"file": ("c.jpg", CAT)},
                       headers=headers, timeout=PATIENCE)  # fmt: skip
        assert r.status_code == 200, r.text
        filler = root / "filler"
        with open(filler, "wb") as out:  # take every free byte
            try:
                while True:
                    out.write(b"\0" * 65536)
            except OSError:
                pass
        answers = [
            httpx.post(
                base + "/v1/collections/shop/items",
                data={"id": f"cat{i}", "metadata": json.dumps({"pad": "x" * 60_000})},
                files={"file": ("c.jpg", CAT)},
                headers=headers,
                timeout=PATIENCE,
            )
            for i in range(3)
        ] + [
            httpx.post(
                base + "/v1/video/jobs", files={"file": ("v.mp4", b"\0" * 2**20)}, headers=headers, timeout=PATIENCE
            )
        ]
        for r in answers:
            assert r.status_code == 507, r.text
            assert r.json()["title"] == "Insufficient storage" and str(tmp_path) not in r.text
        filler.unlink()  # room again: the audit entries kept meanwhile are written with the next one
        entries = httpx.get(base + "/v1/audit", headers=headers, timeout=PATIENCE).json()["entries"]
        statuses = [(e["action"], e["status"]) for e in entries]
        assert statuses.count(("add_item", 507)) == 3 and ("video_job", 507) in statuses, statuses
    finally:
        stop_server(server)


def test_refusals_from_many_addresses_stay_bounded():
    """Past ``max_kinds`` open kinds (e.g. a flood from many addresses), refusals are counted
    under client "*": the rows stay bounded whatever the number of addresses."""
    from ocula.service.guard import RefusalLog

    refusals = RefusalLog(window=3600, max_kinds=3)
    rows = [row for i in range(1000) for row in refusals.note(401, None, f"10.0.{i // 256}.{i % 256}", "POST /v1/tag")]
    assert [row[4] for row in rows] == ["10.0.0.0", "10.0.0.1", "10.0.0.2", "*"]
    assert sorted(row[2] for row in refusals.flush()) == ["+996 more"]


#: Another process writing the key store: takes SQLite's write lock, says so, and holds it until
#: its stdin closes.
HOLD_THE_WRITE_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
db.execute("COMMIT")
"""
#: Under the key store's own wait for a lock (``keys.LOCK_WAIT``, 30 s): an answer later than
#: this came only once the server gave up waiting, i.e. it was stuck behind the lock.
PROMPT = 20.0


def test_a_locked_key_store_stops_neither_the_event_loop_nor_key_checks(tmp_path):
    """While another process holds service.sqlite's write lock, a refusal's audit row waits for
    it; /healthz and a valid key's request are answered meanwhile."""
    data = tmp_path / "data"
    store = KeyStore(key_store_path(data))
    read, admin = store.create("r", "read")[1], store.create("a", "admin")[1]
    store.close()
    server, port = start_server(data, {})
    base = f"http://127.0.0.1:{port}"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_WRITE_LOCK, str(key_store_path(data))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        try:  # a refusal: its audit row now waits for the lock (the answer waits for the row)
            refused = httpx.get(base + "/v1/galleries", headers=auth("ocula_wrong"), timeout=1).status_code
        except httpx.ReadTimeout:
            refused = None
        assert httpx.get(base + "/v1/galleries", headers=auth(read), timeout=PROMPT).status_code == 200
        assert httpx.get(base + "/healthz", timeout=PROMPT).status_code == 200
        assert holder.poll() is None  # all that while the lock was held
        holder.stdin.close()
        assert holder.wait(PATIENCE) == 0
        entries = httpx.get(base + "/v1/audit", headers=auth(admin), timeout=PATIENCE).json()["entries"]
        assert any(e["action"] == "refused" and e["status"] == 401 for e in entries), (refused, entries)
    finally:
        if holder.poll() is None:
            holder.kill()
        stop_server(server)


def test_the_guard_names_its_types():
    """No ``Any`` where a type exists: the service's settings, the services, ASGI's callables."""
    from typing import get_type_hints

    from starlette.types import ASGIApp, Receive, Scope, Send

    from ocula.service import guard
    from ocula.service.deps import Services

    names = {**vars(guard), "Services": Services}
    assert get_type_hints(guard.body_limit, names)["service"] is ServiceSettings
    assert get_type_hints(guard.vet, names)["svc"] is Services
    assert get_type_hints(guard.Guard.__init__, names)["app"] == ASGIApp
    assert get_type_hints(guard.Guard.__call__, names) == {
        "scope": Scope,
        "receive": Receive,
        "send": Send,
        "return": type(None),
    }
    refusals = guard.RefusalLog(window=3600)
    refusals.note(401, None, "10.0.0.1", "POST /v1/tag")
    refusals.note(401, None, "10.0.0.1", "POST /v1/tag")
    (window,) = refusals._open.values()
    assert isinstance(window, guard.Window) and window.repeats == 1


def multipart_body(files: int, size: int) -> bytes:
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="p%d.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    body = b'--b\r\nContent-Disposition: form-data; name="person"\r\n\r\nx\r\n'
    return body + b"".join(part % i + b"\xff" * size + b"\r\n" for i in range(files)) + b"--b--\r\n"


def test_a_body_of_more_parts_than_the_route_takes_is_refused_as_it_streams(served):
    """Starlette keeps each part of up to 1 MB in memory until the whole form is parsed: 150
    small files took 145 MB before the route could refuse them."""
    port, keys = served
    with connect(port, "127.0.0.7") as conn:
        body = multipart_body(150, 2000)
        conn.sendall(head_only("POST", "/v1/galleries/g/people", keys["write"], len(body)))
        for at in range(0, len(body), 4096):
            try:
                conn.sendall(body[at : at + 4096])
            except (BrokenPipeError, ConnectionResetError):  # refused (and closed) before the end
                break
        status, answer = read_answer(conn)
    assert status == 413 and b"more than 36 parts" in answer, answer[-300:]
    people = httpx.get(f"http://127.0.0.1:{port}/v1/galleries/g/people", headers=auth(keys["read"]), timeout=PATIENCE)
    assert people.status_code == 404  # nobody enrolled: the route never ran


def test_parts_are_counted_across_chunks():
    from ocula.service.guard import Guard, part_delimiter

    body = multipart_body(5, 10)

    async def run(parts: int) -> None:
        chunks = [{"type": "http.request", "body": body[i : i + 1], "more_body": True} for i in range(len(body))]

        async def one_byte_at_a_time():
            return chunks.pop(0) if chunks else {"type": "http.request", "body": b"", "more_body": False}

        receive = Guard._counted(one_byte_at_a_time, 10**9, part_delimiter("multipart/form-data; boundary=b"), parts)
        while (await receive())["more_body"]:
            pass

    import anyio
    from starlette.exceptions import HTTPException

    anyio.run(run, 6)  # the person and 5 files
    with pytest.raises(HTTPException, match="more than 5 parts"):
        anyio.run(run, 5)
