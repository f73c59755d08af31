"""Stores on a full disk, for real: a subprocess whose file-size limit (``RLIMIT_FSIZE``, with
SIGXFSZ ignored) makes every write past the limit fail with EFBIG, as a full disk does, even for
root. Creation is whole or nothing, read-only commands do not fail because a cache snapshot
cannot be written, a failed write reports its own error, and ``ocula doctor`` reports the store
instead of aborting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from ocula import Settings
from ocula.collections import Collection, NewItem, collection_names

from ..conftest import REPO_ROOT

N = 3000  # items of 8 dimensions: a snapshot of ~120 kB, over the limit below
LIMIT = 64 * 1024  # room for SQLite's 32 kB shared-memory file, not for the snapshot


#: Starts the real command under the limit: an exec keeps both the limit and the ignored signal
#: (no preexec_fn, which is unsafe in a process with threads).
LIMITED = (
    "import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]),) * 2); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
)


def run_limited(args: list[str], settings: Settings, max_file_bytes: int = LIMIT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCULA_")}
    env |= {"OCULA_DATA_DIR": str(settings.data_dir), "OCULA_CACHE_DIR": str(settings.cache_dir)}
    return subprocess.run(
        [sys.executable, "-c", LIMITED, str(max_file_bytes), *args],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip


def python(code: str) -> list[str]:
    return ["-c", textwrap.dedent(code)]


def make(settings: Settings, name: str = "shop") -> None:
    """A store of N items whose snapshot is missing, so that closing it wants to write one."""
    rng = np.random.default_rng(5)
    v = rng.normal(size=(N, 8)).astype(np.float32)
    with Collection.open(name, settings=settings, embedder="test@1", dim=8, create=True) as c:
        c.add(NewItem(f"item{i}", v[i : i + 1]) for i in range(N))
        folder = c.path
    for f in ("vectors.faiss", "vectors.json"):
        (folder / f).unlink()


CREATE = """
    import sys
    from ocula import Settings
    from ocula.collections import Collection
    try:
        Collection.open("fresh", settings=Settings(), embedder="test@1", dim=8, create=True).close()
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}")
        sys.exit(3)
"""


def test_a_store_whose_creation_fails_is_not_left_half_made(settings):
    proc = run_limited(python(CREATE), settings, max_file_bytes=0)
    assert proc.returncode == 3, proc
    assert collection_names(settings) == []
    assert [p.name for p in (settings.data_dir / "collections").iterdir()] == []  # no temporary folder either
    assert proc.stdout.startswith("StoreError: cannot create collection fresh"), proc.stdout
    with Collection.open("fresh", settings=settings, embedder="test@1", dim=8, create=True) as c:
        assert len(c) == 0 and c.embedder == "test@1"


def test_read_only_commands_succeed_when_the_snapshot_cannot_be_written(settings):
    make(settings)
    proc = run_limited(["-m", "ocula", "collections", "info", "shop", "--json"], settings)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["items"] == N
    assert "Traceback" not in proc.stderr


ADD = """
    import sys
    import numpy as np
    from ocula import Settings
    from ocula.collections import Collection, NewItem
    v = np.random.default_rng(6).normal(size=(3000, 8)).astype(np.float32)
    try:
        with Collection.open("shop", settings=Settings()) as c:
            c.add(NewItem(f"new{i}", v[i : i + 1]) for i in range(len(v)))
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}")
        sys.exit(3)
"""


def test_a_failed_write_reports_its_own_error_not_the_snapshots(settings):
    make(settings)
    proc = run_limited(python(ADD), settings)
    assert proc.returncode == 3, proc
    assert proc.stdout.startswith("StoreError: cannot write to shop"), proc.stdout
    assert "vector index" not in proc.stdout
    with Collection.open("shop", settings=settings) as c:  # nothing lost, nothing half-written
        assert len(c) == N and c.get("new0") is None


def test_doctor_reports_a_store_it_cannot_repair_and_goes_on(settings):
    make(settings, "shop")
    make(settings, "other")
    proc = run_limited(["-m", "ocula", "doctor", "--no-models", "--json"], settings)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    rows = {r["name"]: r for r in map(json.loads, proc.stdout.splitlines()) if r["area"] == "data"}
    assert {rows[n]["status"] for n in ("collections/shop", "collections/other")} == {"problem"}, rows
    assert "vector snapshot could not be written" in rows["collections/shop"]["detail"]
    assert "File too large" in rows["collections/shop"]["detail"]  # the cause, not "see the log"
