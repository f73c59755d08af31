"""Collections on a real Milvus server (``milvus://127.0.0.1:PORT``), not Milvus Lite.

The server is the standalone Milvus 2.3.5 that the ``milvus`` package runs locally (a Linux
x86_64 wheel: ``pip install milvus==2.3.5``; its ``client`` extra would pin pymilvus < 2.4, so
install it without extras). It is started once for this module in a temporary directory (about
10 s, ~250 MB resident) and stopped at the end; without the package these tests are skipped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from ocula import Settings
from ocula.collections import Collection, NewItem, collection_names, drop_collection

GRACE_S = 15  # a Milvus still running this long after SIGTERM is killed (its data survives that)
STARTUP_S = 60  # ~10 s on 2 cores
SESSION_TTL_S = 10
ETCD_PEER_PORT = 2380  # fixed in the package's config: one such server per machine at a time
# The server binary keeps its pid file in /run/milvus, else /tmp/milvus (fixed paths), and leaves
# a server_id_<pid> file in /tmp/milvus.
RUNTIME_DIRS = (Path("/run/milvus"), Path("/tmp/milvus"))


def _runtime_dir_usable() -> bool:
    return any(os.access(d if d.is_dir() else d.parent, os.W_OK) for d in RUNTIME_DIRS)


def unit(rng, n, d=8):
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _bind_like_milvus(port: int) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        return sock
    except OSError:
        sock.close()
        return None


class LocalMilvus:
    """A standalone Milvus server in ``base`` (the ``milvus`` package's ``MilvusServer``),
    restartable on the same port so collections that recorded ``milvus://127.0.0.1:PORT``
    find it again."""

    def __init__(self, milvus_module, base: Path):
        self.base = base
        self.server = milvus_module.MilvusServer()
        self.server.set_base_dir(str(base))
        # The package checks its ports with a plain bind(), which a port still in TIME_WAIT fails
        # for a minute after a stop (pymilvus keeps a connection open, so the server closes it);
        # Milvus itself (Go) listens with SO_REUSEADDR, so check the way it will bind.
        self.server.config.try_bind_port = _bind_like_milvus
        self.server.wait_for_started = False  # its own wait lasts 180 s even for a dead server
        # After a restart the first request waits for the old process's etcd sessions to expire
        # (30 s by default: ~22 s here); 10 s makes that ~2 s.
        self.server.config.set("common.session.ttl", SESSION_TTL_S)
        self.port: int | None = None

    @property
    def uri(self) -> str:
        return f"milvus://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.port is not None:  # a restart: the same port, or fail (never a silent other one)
            self.server.config.update(proxy_port=self.port)
        try:
            self.server.start()
            self._wait_healthy()
        except (RuntimeError, TimeoutError, OSError) as exc:
            self.stop()
            log = self.base / "logs" / "milvus-stderr.log"
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            pytest.fail(f"the local Milvus server did not start ({exc}); {log}:\n{tail}")
        self.port = self.server.listen_port

    def _wait_healthy(self) -> None:
        """Until /healthz answers OK; a server that exited or hangs (it panics without exiting
        when a port is taken) fails at once or after STARTUP_S, not after the package's 180 s."""
        url = f"http://127.0.0.1:{self.server.webservice_port}/healthz"
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.server.server_proc.poll() is not None:
                raise RuntimeError(f"milvus exited with status {self.server.server_proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    if b"OK" in resp.read():
                        time.sleep(1)  # as the package does: the proxy follows /healthz closely
                        return
            except OSError:  # URLError, refused, reset
                pass
            time.sleep(0.2)
        raise TimeoutError(f"not healthy after {STARTUP_S} s")

    def stop(self) -> None:
        """Release the loaded collections, SIGTERM, wait for the exit. Milvus 2.3.5 standalone
        does not exit on SIGTERM (for minutes: its coordinators stop first, the rest retries
        them) while a collection is loaded or was dropped loaded in the last ~20 s (ocula's
        drop_collection loads it, then drops it); MilvusServer.stop() would SIGKILL it 1 s after
        SIGTERM."""
        proc = self.server.server_proc
        if proc is not None and proc.poll() is None and self.port is not None:
            self.release_all()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            self.server.server_proc = None
            try:
                (RUNTIME_DIRS[1] / f"server_id_{proc.pid}").unlink(missing_ok=True)
            except OSError:
                pass
        self.server.stop()  # closes the log files

    def release_all(self) -> None:
        from pymilvus import MilvusClient, MilvusException

        try:
            client = MilvusClient(uri=f"http://127.0.0.1:{self.port}", timeout=10)
            try:
                for name in client.list_collections():
                    client.release_collection(name)
            finally:
                client.close()
        except (MilvusException, OSError, ValueError):
            pass  # then the grace period and SIGKILL

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    pytest.importorskip("pymilvus", reason="the milvus extra (pymilvus) is not installed")
    milvus = pytest.importorskip(
        "milvus",
        reason="the `milvus` package (a local Milvus 2.3.5 server; Linux x86_64: pip install milvus==2.3.5) "
        "is not installed",
    )
    if not hasattr(milvus, "MilvusServer"):
        pytest.skip(f"the importable `milvus` module ({milvus.__file__}) is not the Milvus server package")
    busy = _bind_like_milvus(ETCD_PEER_PORT)
    if busy is None:
        pytest.skip(
            f"port {ETCD_PEER_PORT} is in use (another local Milvus or etcd): the `milvus` package's server "
            "has a fixed etcd peer port, so only one runs per machine"
        )
    busy.close()
    if not _runtime_dir_usable():
        pytest.skip(f"the Milvus server needs a writable {' or '.join(map(str, RUNTIME_DIRS))} (another user's?)")
    server = LocalMilvus(milvus, tmp_path_factory.mktemp("milvus-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(milvus_server, tmp_path, cache_dir):
    settings = Settings(data_dir=tmp_path / "data", cache_dir=cache_dir, offline=True, vectors=milvus_server.uri)
    yield settings
    milvus_server.release_all()  # the server is shared by the module's tests; it is thrown away after them


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def make(settings, rng, n=20, name="shop"):
    c = Collection.open(name, settings=settings, embedder="test@1", dim=8, create=True)
    vecs = unit(rng, n)
    c.add(
        NewItem(
            f"id{i}",
            vecs[i : i + 1],
            path=f"/p/{i}.jpg",
            metadata={"category": "shoes" if i % 2 else "hats", "price": i},
        )
        for i in range(n)
    )
    return c, vecs


def test_add_search_get_reopen_and_drop(settings, rng, milvus_server):
    c, vecs = make(settings, rng)
    info = c.info()
    assert info["vectors_store"] == milvus_server.uri and info["index"].startswith(f"milvus {milvus_server.uri}")
    (matches,) = c.search(vecs[3], k=3)
    assert matches[0].id == "id3" and matches[0].score == pytest.approx(1.0, abs=1e-5)
    assert len(matches) == 3 and matches[0].score >= matches[1].score >= matches[2].score
    assert c.get("id3").metadata == {"category": "shoes", "price": 3} and c.get("nope") is None
    assert len(c._vectors) == 20  # count(*) on the server
    c.close()
    assert collection_names(settings) == ["shop"]
    with Collection.open("shop", settings=settings) as again:
        assert len(again) == 20 and again.search(vecs[5], k=1)[0][0].id == "id5"
        name = again._vectors.collection
        assert again._vectors._client.has_collection(name)
    # First in the module: a Milvus 2.3.5 that dropped a collection in the last ~20 s is slow to
    # stop (see LocalMilvus.stop), and the last test restarts the server.
    drop_collection("shop", settings)
    assert collection_names(settings) == []
    with Collection.open("other", settings=settings, embedder="test@1", dim=8, create=True) as other:
        assert not other._vectors._client.has_collection(name)


def test_filters_are_applied_before_ranking_with_correct_k(settings, rng, monkeypatch):
    c, vecs = make(settings, rng, n=200)
    with c:
        (matches,) = c.search(vecs[4], k=5, where="category = 'shoes'")  # vid in [...] on the server
        assert len(matches) == 5 and all(m.metadata["category"] == "shoes" for m in matches)
        (matches,) = c.search(vecs[4], k=50, where="category = 'shoes' and price < 7")
        assert sorted(m.id for m in matches) == ["id1", "id3", "id5"]
        assert c.search(vecs[4], k=3, where="price in (2, 4)")[0][0].id == "id4"
        assert c.search(vecs[4], k=3, where="category = 'boats'") == [[]]

        from ocula.collections import milvus

        monkeypatch.setattr(milvus, "IN_FILTER_MAX", 10)  # 100 shoes > 10: filtered after ranking
        (matches,) = c.search(vecs[4], k=30, where="category = 'shoes'")
        assert len(matches) == 30 and all(m.metadata["category"] == "shoes" for m in matches)
        scores = [m.score for m in matches]
        assert scores == sorted(scores, reverse=True)


def test_a_delete_is_real_right_after_it_and_replace_keeps_one_copy(settings, rng):
    c, vecs = make(settings, rng)
    for i in range(10):  # Strong consistency: no search may still see what was just deleted
        assert c.delete([f"id{i}", "missing"]) == 1
        (found,) = c.search(vecs[i], k=20)
        assert len(found) == 19 - i and all(m.id != f"id{i}" for m in found)
        assert len(c._vectors) == 19 - i
    c.add([NewItem("id14", vecs[3:4], metadata={"category": "new"})])  # replace id14's vector (an upsert)
    (matches,) = c.search(vecs[3], k=20)
    assert matches[0].id == "id14" and [m.id for m in matches].count("id14") == 1 and len(matches) == 10
    assert len(c) == 10 and len(c._vectors) == 10
    c.close()
    with Collection.open("shop", settings=settings) as again:
        assert again.get("id3") is None and again.search(vecs[3], k=1)[0][0].id == "id14"


def test_another_writer_is_seen_at_once(settings, rng):
    reader, _ = make(settings, rng)
    with reader, Collection.open("shop", settings=settings) as writer:
        new = unit(rng, 1)
        writer.add([NewItem("late", new)])
        assert reader.search(new, k=1)[0][0].id == "late"
        writer.delete(["late"])
        (found,) = reader.search(new, k=21)
        assert len(found) == 20 and all(m.id != "late" for m in found)


def test_l2_metric_scores_are_one_minus_half_the_squared_distance(settings, rng):
    """Milvus reports L2 as the squared distance; the score is 1 - |a - b|^2 / 2, as on FAISS."""
    x = (0.3 * rng.normal(size=(30, 8))).astype(np.float32)
    with Collection.open("faces", settings=settings, embedder="test@1", dim=8, create=True, metric="l2") as c:
        c.add(NewItem(f"p{i}", x[i : i + 1], metadata={"even": i % 2 == 0}) for i in range(30))
        q = x[4] + 0.01
        expected = 1 - 0.5 * ((x - q) ** 2).sum(axis=1)
        (matches,) = c.search(q, k=5)
        assert [m.id for m in matches] == [f"p{i}" for i in np.argsort(-expected)[:5]]
        np.testing.assert_allclose([m.score for m in matches], np.sort(expected)[::-1][:5], atol=1e-4)
        (odd,) = c.search(q, k=3, where="even = 0")
        assert all(int(m.id[1:]) % 2 for m in odd) and len(odd) == 3
        assert c.info()["metric"] == "l2"


def test_collections_survive_a_server_restart(settings, rng, milvus_server):
    c, vecs = make(settings, rng)
    c.delete(["id7"])
    name = c._vectors.collection
    c.close()
    milvus_server.restart()  # the collection comes back released (see LocalMilvus.stop): open loads it
    with Collection.open("shop", settings=settings) as again:
        assert again._vectors._client.has_collection(name)
        assert len(again._vectors) == 19 and again.search(vecs[5], k=1)[0][0].id == "id5"
        (found,) = again.search(vecs[7], k=19)
        assert len(found) == 19 and all(m.id != "id7" for m in found)
        again.add([NewItem("new", vecs[7:8])])
        assert again.search(vecs[7], k=1)[0][0].id == "new"
