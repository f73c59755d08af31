"""``ocula doctor``: is the installation whole, are the model files the registry's, and are the
stores in the data directory consistent? Repairs what can be rebuilt.

SQLite holds the truth of every collection and gallery; the vector index is a cache. So a
damaged vector snapshot, one of another generation than the store (it may hold erased vectors),
or one whose ids or values differ from SQLite's vectors, is repaired by rebuilding it from
SQLite; an erasure a stopped process left half done is finished. A SQLite file that fails
``PRAGMA integrity_check``, or a store that cannot be opened (half created), cannot be rebuilt
and is reported.
"""

from __future__ import annotations

import importlib
import os
import platform
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .collections import Collection
from .collections.collection import KINDS, collection_names, collection_path
from .config import Settings
from .errors import OculaError
from .models.backends.onnx import TELEMETRY_SWITCH, onnxruntime_module, telemetry_folder, telemetry_is_off
from .models.files import file_status
from .models.registry import list_models
from .models.sources import PackageFile

__all__ = ["Check", "run_checks"]

#: Modules ocula needs, and what for.
REQUIRED = {
    "numpy": "arrays",
    "PIL": "image decoding",
    "onnxruntime": "running the networks",
    "dlib": "face detection and landmarks",
    "cv2": "video and the people detector",
    "av": "video containers OpenCV cannot decode",
    "faiss": "the vector index",
    "fastapi": "ocula serve",
    "uvicorn": "ocula serve",
}


@dataclass(frozen=True)
class Check:
    """One finding: ``status`` is ok, repaired, problem (exit 1), notice (worth knowing, nothing
    broken: exit 0) or skipped."""

    area: str  # install, models, data
    name: str
    status: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"area": self.area, "name": self.name, "status": self.status, "detail": self.detail}


def check_install() -> list[Check]:
    out = [Check("install", "python", "ok", f"{platform.python_version()} on {platform.machine()}")]
    for module, why in REQUIRED.items():
        try:
            # ONNX Runtime as the rest of ocula imports it: with its telemetry off.
            m = onnxruntime_module() if module == "onnxruntime" else importlib.import_module(module)
        except Exception as exc:  # an import can fail with anything (a missing .so, ABI errors)
            out.append(
                Check("install", module, "problem", f"cannot import ({type(exc).__name__}: {exc}); needed for {why}")
            )
            continue
        detail = str(getattr(m, "__version__", ""))
        if module == "cv2" and not hasattr(m, "HOGDescriptor"):
            out.append(
                Check(
                    "install",
                    module,
                    "problem",
                    f"{detail} has no HOGDescriptor (OpenCV 5): install opencv-python-headless<5",
                )
            )
            continue
        out.append(Check("install", module, "ok", detail))
    return [*out, check_telemetry()]


def check_telemetry() -> Check:
    """ONNX Runtime's telemetry: off in ocula's processes unless the environment turns it on, and
    whether its device identifier and event cache are still on disk from an import with it on
    (an earlier ocula, or another program; on Linux, where their folder was checked)."""
    name = "onnxruntime telemetry"
    folder = telemetry_folder()
    if not telemetry_is_off():
        value = os.environ[TELEMETRY_SWITCH]
        return Check(
            "install",
            name,
            "notice",
            f"on: {TELEMETRY_SWITCH}={value} in the environment turns it on (its device identifier "
            f"and event cache go to {folder})",
        )
    off = f"off ({TELEMETRY_SWITCH}={os.environ.get(TELEMETRY_SWITCH) or 1})"
    if not sys.platform.startswith("linux"):
        return Check("install", name, "ok", off)
    try:
        left = folder.is_dir() and any(folder.iterdir())
    except OSError as exc:  # not readable by this user: whether it holds anything cannot be told
        return Check("install", name, "ok", f"{off}; {folder} could not be read ({exc.strerror})")
    if left:
        return Check(
            "install",
            name,
            "notice",
            f"off; {folder} still holds the device identifier and event cache an import with it on "
            "wrote (an earlier ocula or another program): delete the folder unless another program "
            "of yours wants it",
        )
    return Check("install", name, "ok", off)


def check_models(settings: Settings) -> list[Check]:
    out = []
    for spec in list_models():
        for s, f in zip(file_status(spec, settings, verify=True), spec.files, strict=False):
            name = f"{spec.name}/{s.filename}"
            if not s.installed:
                required = isinstance(f.source, PackageFile)
                out.append(Check("models", name, "problem" if required else "skipped",
                                 "missing (pip install should have put it there)" if required
                                 else "opt-in download, not fetched"))  # fmt: skip
            elif s.verified:
                out.append(Check("models", name, "ok", "sha256 matches the registry"))
            else:
                out.append(
                    Check("models", name, "problem", f"sha256 {s.actual_sha256} != registry {s.expected_sha256}")
                )
    return out


def _integrity(path: Path) -> str:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def check_store(settings: Settings, kind: str, name: str) -> list[Check]:
    label = f"{kind}/{name}"
    path = collection_path(name, settings, kind=kind)
    try:
        verdict = _integrity(path / "items.sqlite")
    except sqlite3.Error as exc:
        return [Check("data", label, "problem", f"items.sqlite cannot be read ({exc})")]
    if verdict != "ok":
        return [Check("data", label, "problem", f"items.sqlite is damaged ({verdict}); restore it from a backup")]
    try:
        # Opening replays Milvus's outbox, removes a snapshot of another generation and
        # finishes an interrupted erasure; coll.repairs says which of these it did.
        coll = Collection.open(name, settings=settings, kind=kind)
    except (OculaError, sqlite3.Error, OSError) as exc:
        return [Check("data", label, "problem", f"cannot be opened ({type(exc).__name__}: {exc})")]
    with coll:
        try:
            if coll.unfinished_erasures():
                return [Check("data", label, "problem", UNFINISHED_ERASURE)]
            items, stored = coll.counts()
            if coll.vectors_uri != "faiss":
                indexed = coll.index_count
                status = "ok" if indexed == stored else "problem"
                detail = f"{items} items; {stored} vectors in SQLite, {indexed} in {coll.vectors_uri}"
                if status == "problem":
                    detail += "; run ocula reindex" if kind == "collections" else ""
                return [Check("data", label, status, detail)]
            return _repair(coll, label, items, stored)
        except (OculaError, sqlite3.Error, OSError) as exc:
            return [Check("data", label, "problem", f"cannot be checked or repaired ({exc})")]


UNFINISHED_ERASURE = (
    "an erasure is not finished on disk: another process kept the write-ahead log from being "
    "truncated; run ocula doctor again when the store is idle"
)


def _repair(coll: Collection, label: str, items: int, stored: int) -> list[Check]:
    """Rebuild the FAISS snapshot from SQLite where it is of another generation, or its ids or
    values are not SQLite's (a count can match while the content does not)."""
    done = list(coll.repairs)
    difference = coll.index_differences()
    if difference is not None:
        coll.rebuild_index()
        done.append(f"the vector snapshot {difference}; rebuilt from SQLite")
    elif coll.snapshot_stale:  # missing, stale or unreadable: rebuilt in memory at open
        coll.flush()
        done.append(f"vector snapshot rebuilt from SQLite ({stored} vectors)")
    if done:
        return [Check("data", label, "repaired", "; ".join(done))]
    return [Check("data", label, "ok", f"{items} items, {stored} vectors, snapshot current")]


def check_data(settings: Settings) -> list[Check]:
    out = []
    for kind in KINDS:
        for name in collection_names(settings, kind=kind):
            out += check_store(settings, kind, name)
    service_db = settings.data_dir / "service.sqlite"
    if service_db.is_file():
        try:
            verdict = _integrity(service_db)
        except sqlite3.Error as exc:
            verdict = f"cannot be read ({exc})"
        out.append(
            Check(
                "data",
                "service.sqlite",
                "ok" if verdict == "ok" else "problem",
                verdict if verdict != "ok" else "keys and audit log",
            )
        )
    if not out:
        out.append(Check("data", str(settings.data_dir), "ok", "no collections or galleries yet"))
    return out


def run_checks(settings: Settings, *, models: bool = True) -> list[Check]:
    """Every check, in order: installation, model files (sha256), data directory (repairing
    vector snapshots from SQLite, which opening a store does anyway)."""
    return check_install() + (check_models(settings) if models else []) + check_data(settings)
