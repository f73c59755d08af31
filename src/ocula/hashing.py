"""sha256 of files, read a chunk at a time: the one helper behind verifying model files, noticing
changed photos when indexing again, and a gallery's references to its enrolled photos."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO, overload

__all__ = ["file_sha256"]

CHUNK = 1 << 20


@overload
def file_sha256(file: Path | BinaryIO, *, max_bytes: None = None) -> str: ...
@overload
def file_sha256(file: Path | BinaryIO, *, max_bytes: int) -> str | None: ...


def file_sha256(file: Path | BinaryIO, *, max_bytes: int | None = None) -> str | None:
    """The sha256 (hex) of ``file``'s bytes (a path, or an open binary file from where it stands).
    With ``max_bytes``, None for a file holding more than that: reading stops one byte past it,
    so a huge (or endless) file costs no more than the limit. Raises ``OSError`` as reading does."""
    if isinstance(file, Path):
        with file.open("rb") as fh:
            return file_sha256(fh, max_bytes=max_bytes)
    digest, size = hashlib.sha256(), 0
    while chunk := file.read(CHUNK if max_bytes is None else min(CHUNK, max_bytes + 1 - size)):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            return None
        digest.update(chunk)
    return digest.hexdigest()
