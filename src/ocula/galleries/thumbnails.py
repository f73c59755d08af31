"""Face thumbnails for the people and clusters of a gallery, made when asked, never stored.

A thumbnail is a small JPEG crop around a face box. It is made from the photo the gallery
recorded for that face: the file at its absolute path, and only while that file still has the
SHA-256 recorded at enrolment or clustering (a file replaced since, or a name that only looks
like a path, such as an upload's filename, gives no thumbnail). Nothing is cached, so a
forgotten person's thumbnails are gone with the photo references the erasure removes.

A person enrolled from data rather than a file (an upload to the service, bytes or an array
given to the Python API) leaves no photo file to read later: the gallery stores a small crop
at enrolment in the person's metadata (``thumbnail``, a ``data:`` URL), erased with the person
too; :func:`stored_thumbnail` reads it back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..config import Settings
from ..errors import OculaError
from ..io import load_image, open_image_file

__all__ = [
    "PHOTO_THUMBNAIL_PX",
    "STORED_THUMBNAIL_PX",
    "THUMBNAIL_KEY",
    "THUMBNAIL_PX",
    "data_url",
    "face_crop_jpeg",
    "photo_file",
    "photo_thumbnail",
    "reference_thumbnail",
    "stored_thumbnail",
]

THUMBNAIL_PX = 128  # the longer side: sharp at the UI's 96 CSS px tiles on a 1.3x screen
PHOTO_THUMBNAIL_PX = 192  # a search result's whole photo, longer side: the UI's 144 CSS px tiles at 1.3x
STORED_THUMBNAIL_PX = 96  # a crop kept in the metadata: small, it is read with every listing
THUMBNAIL_KEY = "thumbnail"  # the metadata key of a crop stored at enrolment (a data: URL)
_DATA_URL = "data:image/jpeg;base64,"
_MARGIN = 0.3  # of the box's size on each side: the whole head, not just the landmarks


def face_crop_jpeg(image: np.ndarray, box: Sequence[float], size: int = THUMBNAIL_PX) -> bytes | None:
    """A JPEG of the face at ``box`` (x0, y0, x1, y1 pixels) in ``image`` with a margin, at most
    ``size`` px a side; None if the box lies outside the image."""
    x0, y0, x1, y1 = (float(v) for v in box)
    mx, my = (x1 - x0) * _MARGIN, (y1 - y0) * _MARGIN
    h, w = image.shape[:2]
    pixels = image[max(0, int(y0 - my)) : min(h, int(y1 + my)), max(0, int(x0 - mx)) : min(w, int(x1 + mx))]
    if pixels.size == 0:
        return None
    crop = Image.fromarray(np.ascontiguousarray(pixels))
    crop.thumbnail((size, size))
    buffer = io.BytesIO()
    crop.save(buffer, "JPEG", quality=82)
    return buffer.getvalue()


def photo_file(ref: Mapping[str, Any]) -> Path | None:
    """The file a photo reference points at: its ``file`` (absolute, recorded since thumbnails
    exist), else its ``path`` when that is absolute (older galleries); None when it names no
    file or has no SHA-256 to check it against."""
    if not isinstance(ref.get("sha256"), str):
        return None
    for key in ("file", "path"):
        value = ref.get(key)
        if isinstance(value, str) and os.path.isabs(value):
            return Path(value)
    return None


def reference_thumbnail(ref: Mapping[str, Any], settings: Settings) -> bytes | None:
    """The thumbnail of the face a photo reference records (see the module's note), or None
    when the photo is gone, changed, unreadable, or the reference has no box."""
    path, box = photo_file(ref), ref.get("box")
    if path is None or not isinstance(box, list) or len(box) != 4:
        return None
    try:  # a regular file of bounded size only: a FIFO or device put there must not block a worker
        with open_image_file(path, settings.max_image_bytes) as fh:
            data = fh.read(settings.max_image_bytes + 1)
        if hashlib.sha256(data).hexdigest() != ref["sha256"]:
            return None
        image = load_image(data, settings=settings)
    except (OculaError, OSError):
        return None
    return face_crop_jpeg(image, box)


def photo_thumbnail(
    path: str | None, sha256: str | None, settings: Settings, size: int = PHOTO_THUMBNAIL_PX
) -> bytes | None:
    """A JPEG of the whole photo at ``path`` (absolute), at most ``size`` px a side, made only
    while the file still has ``sha256`` (a collection item's recorded file: a search result's
    thumbnail); None when there is no such file, it changed, or it cannot be read."""
    if not path or not sha256 or not os.path.isabs(path):
        return None
    try:  # a regular file of bounded size only, as for face thumbnails
        with open_image_file(Path(path), settings.max_image_bytes) as fh:
            data = fh.read(settings.max_image_bytes + 1)
        if hashlib.sha256(data).hexdigest() != sha256:
            return None
        image = load_image(data, min_side=size, settings=settings)
    except (OculaError, OSError):
        return None
    picture = Image.fromarray(np.ascontiguousarray(image))
    picture.thumbnail((size, size))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=82)
    return buffer.getvalue()


def data_url(jpeg: bytes) -> str:
    """How a crop is stored in a person's metadata (and shown by the web UI as it is)."""
    return _DATA_URL + base64.b64encode(jpeg).decode("ascii")


def stored_thumbnail(metadata: Mapping[str, Any]) -> bytes | None:
    """The JPEG of a crop the service stored in a person's metadata, or None (none, or not a
    JPEG data: URL: a value set through the library is never fetched or trusted)."""
    url = metadata.get(THUMBNAIL_KEY)
    if not isinstance(url, str) or not url.startswith(_DATA_URL):
        return None
    try:
        data = base64.b64decode(url[len(_DATA_URL) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if data.startswith(b"\xff\xd8") else None
