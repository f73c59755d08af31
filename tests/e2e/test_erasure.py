"""Erasure across processes: once a person is forgotten, none of their templates is left in any
file of the gallery, whatever other process holds the gallery open (a running ``ocula serve``)
and even if the forgetting process is killed right after its SQL commit."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

from ocula import Settings
from ocula.collections import Collection, NewItem
from ocula.errors import StoreError, UnknownName
from ocula.galleries import Gallery
from ocula.galleries.enrolment import store_templates
from ocula.galleries.gallery import CLUSTERS_SUFFIX

from ..conftest import REPO_ROOT, run_cli, shared

TRAIN = "faces/face-recognition-examples/examples/knn_examples/train"


def folder_bytes(folder: Path) -> bytes:
    """Every file of a gallery's store folder, raw (SQLite file, WAL, snapshot, temporary
    files), and of its cluster store beside it (``NAME.clusters``) if there is one: a forgotten
    person's faces must not stay there either."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    assert files  # the check sees the store
    clusters = folder.with_name(folder.name + CLUSTERS_SUFFIX)
    if clusters.is_dir():
        files += sorted(p for p in clusters.iterdir() if p.is_file())
    return b"".join(p.read_bytes() for p in files)


def found(templates: np.ndarray, raw: bytes) -> list[int]:
    """Which of the templates appear, as their exact float32 bytes, in ``raw``."""
    return [i for i, t in enumerate(templates) if t.astype("<f4").tobytes() in raw]


def templates_of(settings: Settings, person: str) -> np.ndarray:
    with Collection.open("g", settings=settings, kind="galleries") as store:
        templates = store.vectors(person)
    assert len(templates) > 0
    return templates


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base: str, server: subprocess.Popen) -> None:
    deadline = time.time() + 120  # a hang bound, not a speed goal
    while time.time() < deadline:
        assert server.poll() is None, server.stderr.read()
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("ocula serve did not come up")


def test_forget_from_the_cli_while_ocula_serve_holds_the_gallery(cache_dir, tmp_path):
    """The server's in-memory index still holds the victim when the CLI forgets them; stopping
    the server must not write that index back to disk."""
    train = shared(TRAIN)
    data = tmp_path / "data"
    env = {"OCULA_DATA_DIR": str(data), "OCULA_CACHE_DIR": str(cache_dir)}
    settings = Settings(data_dir=data, cache_dir=cache_dir)
    enrolled = run_cli("faces", "enroll", "obama", *map(str, sorted((train / "obama").iterdir())), "-g", "g",
                       env_extra=env)  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    victim = templates_of(settings, "obama")
    key = run_cli("keys", "create", "ops", "--scope", "write", env_extra=env).stdout.strip().splitlines()[-1]
    port = free_port()
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("OCULA_")} | env
    server = subprocess.Popen(
        [sys.executable, "-m", "ocula", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, server)
        photo = train / "biden" / "biden.jpg"
        r = httpx.post(base + "/v1/galleries/g/people", data={"person": "biden"},
                       files={"file": (photo.name, photo.read_bytes())},
                       headers={"Authorization": f"Bearer {key}"}, timeout=120)  # fmt: skip
        assert r.status_code == 200 and r.json()["photos"] == 1, r.text
        forgot = run_cli("faces", "forget", "obama", "-g", "g", env_extra=env)
        assert forgot.returncode == 0, forgot.stderr
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=120)
        assert server.returncode in (0, -signal.SIGTERM), err
        assert "Application shutdown complete" in err
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=30)
    folder = data / "galleries" / "g"
    raw = folder_bytes(folder)
    assert found(victim, raw) == []
    assert found(templates_of(settings, "biden"), raw) == [0]  # the check can see templates
    with Gallery.open("g", settings=settings) as g:
        assert [p.name for p in g.people()] == ["biden"]


@pytest.mark.parametrize("made_again", [False, True])
def test_a_gallery_dropped_by_another_process_is_neither_answered_from_nor_written_back(
    made_again, cache_dir, tmp_path
):
    """A process (a running ``ocula serve``) holds a gallery with unsaved changes when
    ``ocula galleries drop`` removes it: it must not answer with the dropped people from the
    deleted file, nor accept changes into it, nor write its index back into a folder made again
    at close. With ``made_again``, a new gallery of the same name exists meanwhile: it is left
    alone, and the old handle is still refused."""
    data = tmp_path / "data"
    env = {"OCULA_DATA_DIR": str(data), "OCULA_CACHE_DIR": str(cache_dir)}
    settings = Settings(data_dir=data, cache_dir=cache_dir)
    victim = np.eye(8, dtype=np.float32)[:2]
    server = Collection.open("g", settings=settings, embedder="e", dim=8, create=True, kind="galleries")
    try:
        server.add([NewItem("alice", victim)])  # not flushed: the snapshot would be written at close
        dropped = run_cli("galleries", "drop", "g", env_extra=env)
        assert dropped.returncode == 0, dropped.stderr
        assert not (data / "galleries" / "g").exists()
        if made_again:
            Collection.open("g", settings=settings, embedder="e", dim=8, create=True, kind="galleries").close()
        gone = StoreError if made_again else UnknownName
        with pytest.raises(gone):
            server.get("alice")
        with pytest.raises(gone):
            server.search(victim[:1], 1)
        with pytest.raises(gone):
            len(server)
        with pytest.raises(gone):
            list(server.items())
        with pytest.raises(gone):
            server.vectors("alice")
        with pytest.raises(gone):
            server.add([NewItem("bob", victim[1:])])
    finally:
        server.close()
    if not made_again:
        assert not (data / "galleries" / "g").exists()  # not made again to hold the snapshot
    files = [p for p in data.rglob("*") if p.is_file()]
    raw = b"".join(p.read_bytes() for p in files)
    assert found(victim, raw) == []
    if made_again:
        with Collection.open("g", settings=settings, kind="galleries") as store:
            assert len(store) == 0


#: Another program reading a store (a backup tool, an ``sqlite3`` shell): it holds a read
#: transaction until its stdin closes, which keeps SQLite's write-ahead log from being truncated.
HOLD_A_READ = textwrap.dedent(
    """
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN")
    db.execute("SELECT COUNT(*) FROM items").fetchone()
    print("reading", flush=True)
    sys.stdin.read()
    db.execute("COMMIT")
    """
)


@contextmanager
def another_process_reading(database: Path) -> Iterator[None]:
    reader = subprocess.Popen([sys.executable, "-c", HOLD_A_READ, str(database)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert reader.stdout.readline().strip() == "reading"
        yield
    finally:
        reader.communicate(timeout=60)
    assert reader.returncode == 0


def enrol_two(settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """A gallery g of two people (synthetic templates: the erasure is what is tested)."""
    v = np.random.default_rng(1).normal(size=(2, 128)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    with Gallery.open("g", settings=settings, create=True, descriptor="sface") as g:  # unit 128-D, as SFace's
        store_templates(g._coll, "alice", v[:1], [{"path": "a.jpg", "sha256": "aa", "box": None}])
        store_templates(g._coll, "bob", v[1:], [{"path": "b.jpg", "sha256": "bb", "box": None}])
    return v[:1], v[1:]


def test_a_forget_another_process_keeps_from_finishing_says_so_and_exits_3(settings):
    """``ocula faces forget`` while another process reads the gallery: the person is gone, but
    the WAL could not be truncated, so the CLI warns on stderr and exits 3; the next open with
    no reader finishes the erasure."""
    victim, kept = enrol_two(settings)
    env = {"OCULA_DATA_DIR": str(settings.data_dir), "OCULA_CACHE_DIR": str(settings.cache_dir)}
    folder = settings.data_dir / "galleries" / "g"
    with another_process_reading(folder / "items.sqlite"):
        forgot = run_cli("faces", "forget", "alice", "-g", "g", "--json", env_extra=env)
        assert forgot.returncode == 3, forgot.stdout + forgot.stderr
        assert json.loads(forgot.stdout) == {"forgotten": "alice", "gallery": "g", "erasure_pending": True}
        assert "warning:" in forgot.stderr and "may remain in its files" in forgot.stderr
        with Gallery.open("g", settings=settings) as g:
            assert "alice" not in g and g._coll.unfinished_erasures() == 1
    with Gallery.open("g", settings=settings) as g:
        assert g._coll.unfinished_erasures() == 0 and [p.name for p in g.people()] == ["bob"]
    raw = folder_bytes(folder)
    assert found(victim, raw) == [] and found(kept, raw) == [0]
    forgot = run_cli("faces", "forget", "bob", "-g", "g", env_extra=env)  # nobody reading: done
    assert forgot.returncode == 0 and forgot.stderr == "", forgot.stderr


def test_the_api_says_when_a_forget_is_pending_on_disk(engine, settings, erase_waits_briefly):
    """DELETE /v1/galleries/g/people/P answers 200 with ``erasure_pending`` true when another
    process keeps the erased rows in the WAL, false otherwise; stopping the service (closing the
    gallery) with no reader left finishes the erasure."""
    from fastapi.testclient import TestClient

    from ocula.service import create_app
    from ocula.service.keys import KeyStore, key_store_path
    from ocula.service.settings import ServiceSettings

    victim, kept = enrol_two(settings)
    keys = KeyStore(key_store_path(settings.data_dir))
    key = keys.create("ops", "write")[1]
    keys.close()
    folder = settings.data_dir / "galleries" / "g"
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings, ServiceSettings(), engine=engine)) as client:
        assert client.get("/v1/galleries/g/people", headers=auth).status_code == 200  # the service holds g
        with another_process_reading(folder / "items.sqlite"):
            r = client.delete("/v1/galleries/g/people/alice", headers=auth)
            assert r.status_code == 200 and r.json()["erasure_pending"] is True, r.text
        assert found(victim, folder_bytes(folder)) != []  # what the reader kept in the files
    raw = folder_bytes(folder)
    assert found(victim, raw) == [] and found(kept, raw) == [0]
    with TestClient(create_app(settings, ServiceSettings(), engine=engine)) as client:
        r = client.delete("/v1/galleries/g/people/bob", headers=auth)
        assert r.status_code == 200 and r.json()["erasure_pending"] is False, r.text


KILL_AFTER_COMMIT = textwrap.dedent(
    """
    import os, signal, sys
    from ocula import Settings
    from ocula.collections.vectors import FaissVectors
    from ocula.galleries import Gallery

    # Die right after forget's SQL commit, before the files are cleaned: the first removal
    # from the in-memory FAISS index (a public method) follows the commit of the deletion.
    def die(self, ids):
        if len(ids):
            os.kill(os.getpid(), signal.SIGKILL)

    FaissVectors.remove = die
    with Gallery.open("g", settings=Settings(data_dir=sys.argv[1], cache_dir=sys.argv[2])) as g:
        g.forget(sys.argv[3])
    """
)


def forget_and_die_after_commit(settings: Settings, person: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCULA_")}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_COMMIT, str(settings.data_dir), str(settings.cache_dir), person],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr


@pytest.mark.parametrize("next_process", ["open", "doctor"])
def test_a_forget_killed_right_after_its_commit_leaves_no_template_behind(next_process, engine, settings):
    """The last person of a gallery is forgotten by a process SIGKILLed right after the SQL
    commit: the snapshot on disk (and the database file) still hold the templates. The next
    process to open the store, or ``ocula doctor``, must clear them, and doctor must say so."""
    train = shared(TRAIN)
    with Gallery.open("g", settings=settings, engine=engine, create=True) as g:
        assert g.enroll("obama", sorted((train / "obama").iterdir())).photos == 2
        victim, _ = g.templates("obama")
    folder = settings.data_dir / "galleries" / "g"
    assert found(victim, folder_bytes(folder)) == [0, 1]  # in the snapshot and the database
    forget_and_die_after_commit(settings, "obama")
    assert found(victim, folder_bytes(folder)) != []  # what the dead process left behind
    # It died after the commit, not before (read-only: closing does not checkpoint the WAL).
    with closing(sqlite3.connect(f"file:{folder / 'items.sqlite'}?mode=ro", uri=True)) as db:
        assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
    assert found(victim, (folder / "items.sqlite-wal").read_bytes() + (folder / "items.sqlite").read_bytes()) != []
    if next_process == "open":
        with Collection.open("g", settings=settings, kind="galleries") as store:
            assert len(store) == 0
            assert found(victim, folder_bytes(folder)) == []  # already while it is open
    else:
        env = {"OCULA_DATA_DIR": str(settings.data_dir), "OCULA_CACHE_DIR": str(settings.cache_dir)}
        proc = run_cli("doctor", "--no-models", "--json", env_extra=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        rows = {r["name"]: r for r in map(json.loads, proc.stdout.splitlines()) if r["area"] == "data"}
        assert rows["galleries/g"]["status"] == "repaired", rows
        assert "stale vector snapshot" in rows["galleries/g"]["detail"]
    assert found(victim, folder_bytes(folder)) == []
    with Gallery.open("g", settings=settings, engine=engine) as g:
        assert len(g) == 0 and g.identify(train / "obama" / "obama.jpg")[0].person is None
