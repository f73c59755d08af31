"""Text files a user names (calibration tables, the CSVs of pairs, identities and catalogs):
only regular files of a bounded size are read, so a FIFO, a device such as /dev/zero or a
directory is refused before anything is read, never hangs a command or fills memory, as photos
are refused (:mod:`ocula.image_file`)."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:  # no pathlib at run time: image_file (and the CLI's early photo decode) import this
    from pathlib import Path

__all__ = ["MAX_CSV_BYTES", "MAX_TABLE_BYTES", "check_text_file", "file_kind", "read_text_file"]

#: A calibration table: the shipped ones are a few KB.
MAX_TABLE_BYTES = 16 * 2**20
#: A CSV of pairs, identities or a catalog: a million rows of paths and metadata fit easily.
MAX_CSV_BYTES = 2 * 2**30

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, by its ``st_mode``: "a directory", "a FIFO
    (named pipe)", "a character device", ..., else "not a regular file"."""
    return next((name for is_kind, name in _KINDS if is_kind(mode)), "not a regular file")


def check_text_file(
    path: str | Path, *, max_bytes: int, what: str, error: type[InputError] = InputError
) -> None:
    """``error`` (an InputError; ``what`` names the file's role) unless ``path`` is a regular file
    of at most ``max_bytes``."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise error(f"{what} {path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{what} {path}: is {file_kind(info.st_mode)}, not a file")
    if info.st_size > max_bytes:
        raise error(f"{what} {path}: {info.st_size:,} bytes, over the limit of {max_bytes:,}")


def read_text_file(path: str | Path, *, max_bytes: int, what: str) -> str:
    """The UTF-8 text of ``path`` after :func:`check_text_file`; at most ``max_bytes`` are read
    even if the file grows meanwhile. An InputError when it is not UTF-8."""
    check_text_file(path, max_bytes=max_bytes, what=what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise InputError(f"{what} {path}: over the limit of {max_bytes:,} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
