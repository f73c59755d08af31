"""How the service answers storage errors: never a bare 500 (issue: full disk, broken store)."""

from __future__ import annotations

import sqlite3

from ocula.errors import StoreError
from ocula.service.problems import classify


def test_a_broken_store_is_503():
    assert classify(StoreError("gallery g was never fully created"))[0] == 503


def test_a_store_write_on_a_full_disk_is_507():
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to g ({exc})") from None
    except StoreError as err:
        assert classify(err) == (507, "Insufficient storage")
