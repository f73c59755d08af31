"""``ocula doctor``: installation and model files check out (ONNX Runtime's telemetry off, its
files left from an import with it on named); a missing, damaged or wrong vector
snapshot (of another generation, or other ids or values at the same count) is rebuilt from
SQLite; a damaged SQLite file or a half-created store is a problem (exit 1)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from ocula import Settings
from ocula.collections import Collection, NewItem
from ocula.collections.vectors import FaissVectors
from ocula.doctor import run_checks
from ocula.models.backends.onnx import TELEMETRY_SWITCH, telemetry_folder

from ..conftest import invoke_cli, run_cli


def make(settings: Settings, name: str = "shop", n: int = 50) -> np.ndarray:
    rng = np.random.default_rng(3)
    v = rng.normal(size=(n, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    with Collection.open(name, settings=settings, embedder="test@1", dim=8, create=True) as c:
        c.add([NewItem(f"item{i}", v[i : i + 1], metadata={"i": i}) for i in range(n)])
    return v


def data_checks(settings: Settings) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.detail) for c in run_checks(settings, models=False) if c.area == "data"}


def test_snapshots_are_repaired_from_sqlite(settings):
    v = make(settings)
    folder = settings.data_dir / "collections" / "shop"
    assert data_checks(settings)["collections/shop"][0] == "ok"
    (folder / "vectors.faiss").unlink()
    assert data_checks(settings)["collections/shop"][0] == "repaired"
    assert data_checks(settings)["collections/shop"][0] == "ok"
    (folder / "vectors.faiss").write_bytes(b"garbage")  # damaged
    assert data_checks(settings)["collections/shop"][0] == "repaired"
    # A snapshot of the right generation holding the wrong vectors (10 of 50): rebuilt.
    with Collection.open("shop", settings=settings) as c:
        generation = c._generation()
    FaissVectors.build(np.arange(1, 11, dtype=np.int64), v[:10], 8).save(folder / "vectors.faiss", generation)
    status, detail = data_checks(settings)["collections/shop"]
    assert status == "repaired" and "10" in detail and "50" in detail
    assert data_checks(settings)["collections/shop"][0] == "ok"
    with Collection.open("shop", settings=settings) as c:
        assert c.index_count == 50 and c.search(v[42:43], 1)[0][0].id == "item42"


def test_a_damaged_database_is_a_problem_and_exit_1(settings, tmp_path):
    make(settings, "good")
    make(settings, "bad")
    db = settings.data_dir / "collections" / "bad" / "items.sqlite"
    raw = bytearray(db.read_bytes())
    for offset in range(4096, len(raw), 4096):  # scribble over every page but the header
        raw[offset + 100 : offset + 400] = b"\xa5" * 300
    db.write_bytes(bytes(raw))
    for suffix in ("-wal", "-shm"):
        (db.parent / f"items.sqlite{suffix}").unlink(missing_ok=True)
    checks = data_checks(settings)
    assert checks["collections/good"][0] == "ok" and checks["collections/bad"][0] == "problem"
    env = {"OCULA_DATA_DIR": str(settings.data_dir), "OCULA_CACHE_DIR": str(settings.cache_dir)}
    proc = invoke_cli("doctor", "--no-models", "--json", env_extra=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {r["name"]: r["status"] for r in rows if r["area"] == "data"}["collections/bad"] == "problem"


def test_cli_doctor_on_a_healthy_install(settings):
    make(settings)
    env = {
        "OCULA_DATA_DIR": str(settings.data_dir),
        "OCULA_CACHE_DIR": str(settings.cache_dir),
        # An empty cache folder (ONNX Runtime files another program left here would be a
        # notice), and the switch as ocula leaves it, whatever the developer's environment says.
        "XDG_CACHE_HOME": str(settings.cache_dir / "xdg"),
        TELEMETRY_SWITCH: "1",
    }
    proc = run_cli("doctor", "--json", env_extra=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {r["area"] for r in rows} == {"install", "models", "data"}
    models = [r for r in rows if r["area"] == "models"]
    assert models and all(r["status"] in ("ok", "skipped") for r in models)
    assert any(r["name"].startswith("dlib_resnet_face/") and r["status"] == "ok" for r in models)
    assert all(r["status"] == "ok" for r in rows if r["area"] == "install")


def test_a_snapshot_is_judged_by_its_generation_and_content_not_its_count(settings):
    v = make(settings)
    folder = settings.data_dir / "collections" / "shop"
    with Collection.open("shop", settings=settings) as c:
        generation = c._generation()
    ids = np.arange(1, 51, dtype=np.int64)  # the store's vector ids (one add of 50)
    # The right generation and count, other values (say, the vectors of an erased person).
    FaissVectors.build(ids, np.roll(v, 1, axis=0), 8).save(folder / "vectors.faiss", generation)
    status, detail = data_checks(settings)["collections/shop"]
    assert status == "repaired" and "other values" in detail, detail
    # The right generation and count, other ids.
    FaissVectors.build(ids + 1000, v, 8).save(folder / "vectors.faiss", generation)
    status, detail = data_checks(settings)["collections/shop"]
    assert status == "repaired" and "50 missing" in detail, detail
    # Another generation: it is reported and replaced, whatever it holds.
    FaissVectors.build(ids, v, 8).save(folder / "vectors.faiss", generation - 1)
    status, detail = data_checks(settings)["collections/shop"]
    assert status == "repaired" and f"stale vector snapshot (of generation {generation - 1}" in detail, detail
    assert data_checks(settings)["collections/shop"] == ("ok", "50 items, 50 vectors, snapshot current")


def test_a_half_created_store_is_a_problem_that_says_how_to_remove_it(settings):
    make(settings, "good")
    folder = settings.data_dir / "galleries" / "half"
    folder.mkdir(parents=True)
    (folder / "items.sqlite").write_bytes(b"")  # a first write that failed (before atomic creation)
    checks = data_checks(settings)
    assert checks["collections/good"][0] == "ok"
    status, detail = checks["galleries/half"]
    assert status == "problem" and "ocula galleries drop half" in detail, detail


def test_an_erasure_kept_from_finishing_is_a_problem_until_it_is_finished(settings, erase_waits_briefly):
    import sqlite3

    v = make(settings)
    db = settings.data_dir / "collections" / "shop" / "items.sqlite"
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM items").fetchone()  # a read snapshot from before the erasure
    try:
        with Collection.open("shop", settings=settings) as c:
            c.erase(["item7"])
        status, detail = data_checks(settings)["collections/shop"]
        assert status == "problem" and "erasure is not finished" in detail, detail
    finally:
        reader.execute("COMMIT")
        reader.close()
    status, detail = data_checks(settings)["collections/shop"]
    assert status in ("ok", "repaired") and "erasure is not finished" not in detail, detail
    assert v[7].tobytes() not in b"".join(p.read_bytes() for p in db.parent.iterdir() if p.is_file())


def _telemetry_row(settings, cache: Path, extra: dict[str, str] | None = None) -> dict:
    """`ocula doctor --json`'s telemetry row in a real process whose cache folder is ``cache``."""
    env = {
        "OCULA_DATA_DIR": str(settings.data_dir),
        "OCULA_CACHE_DIR": str(settings.cache_dir),
        "XDG_CACHE_HOME": str(cache),
        TELEMETRY_SWITCH: "",  # unset: ocula's own choice
        **(extra or {}),
    }
    proc = run_cli("doctor", "--no-models", "--json", env_extra=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    (row,) = [r for r in rows if r["name"] == "onnxruntime telemetry"]
    return row


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ONNX Runtime's folder was checked on Linux")
def test_doctor_names_onnx_runtime_telemetry_files_left_from_before(settings, tmp_path):
    cache = tmp_path / "cache"
    assert _telemetry_row(settings, cache)["status"] == "ok"  # doctor itself writes none
    assert not cache.exists()
    # What an import with the telemetry on leaves (tests/e2e/test_onnx_telemetry.py shows it does).
    left = cache / "Microsoft" / "DeveloperTools" / ".onnxruntime"
    left.mkdir(parents=True)
    (left / "deviceid").write_text("0d3c5e3a-0000-0000-0000-000000000000")
    row = _telemetry_row(settings, cache)
    assert row["status"] == "notice" and str(left) in row["detail"] and "delete" in row["detail"]
    assert (left / "deviceid").exists()  # reported, never deleted by doctor


def test_doctor_says_when_the_environment_turns_onnx_runtime_telemetry_on(settings, tmp_path):
    row = _telemetry_row(settings, tmp_path / "cache", {TELEMETRY_SWITCH: "0"})
    assert row["status"] == "notice" and f"{TELEMETRY_SWITCH}=0" in row["detail"]
    assert str(tmp_path / "cache" / "Microsoft" / "DeveloperTools" / ".onnxruntime") in row["detail"]
    # Values ONNX Runtime reads as off, in any case, are off (checked against it: no files).
    assert _telemetry_row(settings, tmp_path / "cache2", {TELEMETRY_SWITCH: " On"})["status"] == "ok"


def test_the_telemetry_folder_is_where_onnx_runtime_puts_it(monkeypatch, tmp_path):
    """Under $XDG_CACHE_HOME only when that is an absolute path, as ONNX Runtime reads it."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    tail = Path("Microsoft", "DeveloperTools", ".onnxruntime")
    for xdg, cache in [
        (str(tmp_path / "xdg"), tmp_path / "xdg"),
        ("relative", tmp_path / "home" / ".cache"),
        ("", tmp_path / "home" / ".cache"),
        (f" {tmp_path}", tmp_path / "home" / ".cache"),
    ]:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert telemetry_folder() == cache / tail, xdg
