"""Swapping a rebuilt collection in for the one it replaces (``ocula reindex``, gallery reindex)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from ..config import Settings
from .collection import collection_path, drop_collection

__all__ = ["RETIRED_SUFFIX", "swap_collection"]

RETIRED_SUFFIX = ".retired"  # the replaced store, between the two renames and its removal
#: renameat2's flag: swap two paths in one step (Linux 3.15+, most local filesystems).
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap the folders ``a`` and ``b`` in one atomic step (Linux's ``renameat2`` with
    ``RENAME_EXCHANGE``): no moment, and so no crash, leaves either name missing. False where
    the system or the filesystem cannot (the caller then renames twice)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a libc without it (glibc < 2.28, musl < 1.2.?)
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(a), None, os.fspath(b))


def swap_collection(
    name: str,
    replacement: str,
    settings: Settings,
    *,
    kind: str = "collections",
    hold: Callable[[Path], AbstractContextManager[object]] | None = None,
) -> None:
    """Put the complete collection ``replacement`` in the place of ``name`` and drop the old one.
    On Linux the two are exchanged in one atomic step (the old one then under ``replacement``'s
    name until dropped: a crash leaves it where an interrupted rebuild is cleaned up). Elsewhere
    ``name`` is renamed aside, ``replacement`` renamed in (the old one is put back if that fails)
    and the old one dropped. ``hold(path of name)`` is entered around the renames (a gallery
    holds its store's write lock there and refuses the swap if the store changed meanwhile)."""
    target, temporary = collection_path(name, settings, kind=kind), collection_path(replacement, settings, kind=kind)
    retired = target.with_name(f"{name}{RETIRED_SUFFIX}")
    drop_collection(retired.name, settings, kind=kind, missing_ok=True)  # left by a crashed swap
    with hold(target) if hold is not None else contextlib.nullcontext():
        exchanged = _exchange(temporary, target)
        if not exchanged:
            target.rename(retired)
            try:
                temporary.rename(target)
            except OSError:
                retired.rename(target)  # put the old one back
                raise
    drop_collection((temporary if exchanged else retired).name, settings, kind=kind, missing_ok=True)
