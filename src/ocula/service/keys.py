"""API keys and the audit log of the service, in one SQLite file (``DATA_DIR/service.sqlite``).

A key is 32 random bytes (``ocula_`` + URL-safe base64), shown once when created; only its
SHA-256 is stored. A slow password hash is not needed: a 256-bit random key cannot be guessed or
brute-forced from its hash, unlike a password. Scopes are ordered: ``read`` (tag, detect,
verify, identify, search, list) < ``write`` (enrol, forget, add and delete items, video jobs) <
``admin`` (the audit log).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, UnknownName

__all__ = ["SCOPES", "ApiKey", "KeyStore", "key_store_path", "private_file", "private_folder", "scope_allows"]

log = logging.getLogger("ocula.audit")

SCOPES = ("read", "write", "admin")
#: Audit entries kept in memory while the log cannot be written (a full disk), retried later.
MAX_PENDING_AUDIT = 10_000
#: Seconds a write waits for another process's write to the file to end.
LOCK_WAIT = 30.0
KEY_PREFIX = "ocula_"
MAX_NAME = 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    shown_prefix TEXT NOT NULL,
    created REAL NOT NULL,
    revoked REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_name ON api_keys(name) WHERE revoked IS NULL;
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    key_name TEXT,
    action TEXT NOT NULL,
    target TEXT,
    status INTEGER NOT NULL,
    client TEXT
);
"""


def scope_allows(have: str, need: str) -> bool:
    return SCOPES.index(have) >= SCOPES.index(need)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    scope: str
    shown_prefix: str  # the first characters, to tell keys apart in lists
    created: float
    revoked: float | None

    def to_dict(self) -> dict[str, Any]:
        def iso(t: float | None) -> str | None:
            return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

        return {
            "name": self.name,
            "scope": self.scope,
            "prefix": self.shown_prefix,
            "created": iso(self.created),
            "revoked": iso(self.revoked),
        }


class KeyStore:
    """Keys and audit entries; safe to share between threads.

    Keys and the audit log have a connection (and a lock) each: an audit insert waits for
    SQLite's write lock (up to ``LOCK_WAIT`` seconds, while another process writes the file),
    and a key check must not wait behind it. Key checks only read, and in WAL mode a reader
    never waits for a writer.
    """

    def __init__(self, path: Path):
        private_file(path)
        self._db = self._connect(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        for side in ("-wal", "-shm"):  # SQLite makes these with the file's mode, but they may predate it
            private_file(path.with_name(path.name + side), create=False)
        self._lock = threading.Lock()  # the keys' connection
        self._audit_db = self._connect(path)
        self._audit_lock = threading.Lock()  # the audit connection and ``_pending``
        self._pending: list[tuple] = []  # audit rows not written yet (a full disk)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        return sqlite3.connect(path, timeout=LOCK_WAIT, check_same_thread=False, isolation_level=None)

    @staticmethod
    def _row(row: tuple) -> ApiKey:
        return ApiKey(*row)

    def create(self, name: str, scope: str) -> tuple[ApiKey, str]:
        """A new key: (its record, the key itself, to show once)."""
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or not name.isprintable():
            raise InputError(f"a key name is 1 to {MAX_NAME} printable characters")
        if scope not in SCOPES:
            raise UnknownName("scope", str(scope), SCOPES)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            try:
                cur = self._db.execute(
                    "INSERT INTO api_keys (name, scope, key_sha256, shown_prefix, created) VALUES (?, ?, ?, ?, ?)",
                    (name, scope, _digest(key), key[: len(KEY_PREFIX) + 4], time.time()),
                )
            except sqlite3.IntegrityError:
                raise InputError(f"an active key named {name!r} exists; revoke it first") from None
            row = self._db.execute(
                "SELECT id, name, scope, shown_prefix, created, revoked FROM api_keys WHERE id = ?", (cur.lastrowid,)
            ).fetchone()
        return self._row(row), key

    def list(self, *, include_revoked: bool = True) -> list[ApiKey]:
        sql = "SELECT id, name, scope, shown_prefix, created, revoked FROM api_keys"
        if not include_revoked:
            sql += " WHERE revoked IS NULL"
        with self._lock:
            return [self._row(r) for r in self._db.execute(sql + " ORDER BY id")]

    def revoke(self, name: str) -> ApiKey:
        with self._lock:
            row = self._db.execute("SELECT id FROM api_keys WHERE name = ? AND revoked IS NULL", (name,)).fetchone()
            if row is None:
                raise UnknownName("active key", name)
            self._db.execute("UPDATE api_keys SET revoked = ? WHERE id = ?", (time.time(), row[0]))
            row = self._db.execute(
                "SELECT id, name, scope, shown_prefix, created, revoked FROM api_keys WHERE id = ?", (row[0],)
            ).fetchone()
        return self._row(row)

    def authenticate(self, key: str) -> ApiKey | None:
        """The active key ``key`` is, or None (unknown or revoked)."""
        if not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, scope, shown_prefix, created, revoked FROM api_keys WHERE key_sha256 = ?",
                (_digest(key),),
            ).fetchone()
        if row is None or row[5] is not None:
            return None
        return self._row(row)

    # -- audit ------------------------------------------------------------------------------
    def audit(self, key_name: str | None, action: str, target: str | None, status: int, client: str | None) -> None:
        """Append an entry. When the log cannot be written (a full disk), the entry goes to the
        ``ocula.audit`` log and waits in memory (at most ``MAX_PENDING_AUDIT``) for the next
        write or read of the log: the answer to the request is not turned into a 500."""
        row = (time.time(), key_name, action, target, status, client)
        with self._audit_lock:
            self._pending.append(row)
            self._write_pending()

    def _write_pending(self) -> None:
        """Write the entries waiting (the audit lock held)."""
        if not self._pending:
            return
        try:
            self._audit_db.executemany(
                "INSERT INTO audit (at, key_name, action, target, status, client) VALUES (?, ?, ?, ?, ?, ?)",
                self._pending,
            )
            self._pending = []
        except sqlite3.Error as exc:
            log.error("audit entry not written yet (%s): %s", exc, self._pending[-1][1:])
            self._pending = self._pending[-MAX_PENDING_AUDIT:]

    def audit_entries(self, *, limit: int = 100, key_name: str | None = None) -> list[dict[str, Any]]:
        """The newest entries first."""
        sql, args = "SELECT at, key_name, action, target, status, client FROM audit", []
        if key_name is not None:
            sql, args = sql + " WHERE key_name = ?", [key_name]
        with self._audit_lock:
            self._write_pending()
            rows = self._audit_db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, int(limit))).fetchall()
        return [
            {
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
                "key": key,
                "action": action,
                "target": target,
                "status": status,
                "client": client,
            }
            for at, key, action, target, status, client in rows
        ]

    def close(self) -> None:
        with self._audit_lock:
            self._audit_db.close()
        with self._lock:
            self._db.close()


def key_store_path(data_dir: Path) -> Path:
    return data_dir / "service.sqlite"


def private_folder(path: Path) -> None:
    """``path`` (and missing parents) as a folder only the owner can enter (0700); the process's
    umask is left alone."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def private_file(path: Path, *, create: bool = True) -> None:
    """``path`` readable and writable by the owner only (0600), made empty if missing (when
    ``create``); its folder 0700 if ocula made it. Keys' hashes, the audit log and uploaded
    faces must not be readable by every local user."""
    if not path.parent.exists():
        private_folder(path.parent)
    if create:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    if path.exists():
        os.chmod(path, 0o600)
