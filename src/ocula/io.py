"""Image input: every image ocula looks at passes through :func:`load_image`.

It accepts a path, encoded bytes, a PIL image or a NumPy array and returns an ``(H, W, 3)``
``uint8`` RGB array in the photo's upright orientation (EXIF applied). Limits on file size and
pixel count are checked *before* pixels are decoded, so a 20k×20k "decompression bomb" costs a
header read, not gigabytes. Only common raster formats are decoded (no EPS, which would start
Ghostscript, and no exotic plugins).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .config import Settings
from .errors import ImageDecodeError, ImageError, ImageTooLarge
from .image_file import (
    ReducedImage,
    check_pixels,
    on_thread,
    open_image_file,
    open_pil,
    read_image_file,
    reduce_opened,
    reduced_by,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageSource",
    "PendingPhoto",
    "Reduced",
    "check_image",
    "decode_reduced_ahead",
    "iter_image_paths",
    "load_image",
    "load_reduced",
    "open_image_file",
]

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray

#: File suffixes picked up when a directory is walked (explicit files are tried whatever their name).
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".mpo"}
)

_WHITE = (255, 255, 255)


def load_image(
    source: ImageSource,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    min_side: int | None = None,
    settings: Settings | None = None,
) -> np.ndarray:
    """Decode ``source`` into an upright ``(H, W, 3)`` uint8 RGB array.

    Args:
        source: a file path, encoded image bytes, a ``PIL.Image.Image``, or an array
            ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` (RGB) or ``(H, W, 4)`` (RGBA) of uint8,
            uint16 (scaled down) or float in [0, 1].
        max_bytes, max_pixels: limits; default to the settings' ``max_image_bytes`` and
            ``max_image_pixels``.
        min_side: if given, a JPEG file or bytes may be decoded at a reduced scale (1/2, 1/4,
            1/8) as long as its shorter side stays at least this long; much faster for large
            photos that will be shrunk anyway (a 12 MP JPEG: 7 ms instead of 67 ms). Other
            formats (and JPEGs still too big after that) are shrunk right after decoding by
            the largest whole factor that keeps the shorter side at least this long (a box
            filter, like JPEG's DCT scaling), so a 40 MP PNG never becomes a 120 MB array.

    Transparent pixels are composited onto white; palette, grayscale, CMYK and 16-bit images are
    converted to 8-bit RGB; animated images give their first frame.

    Raises:
        ImageNotFound, ImageDecodeError, ImageTooLarge (all :class:`ImageError`).
    """
    settings = settings or Settings()
    max_bytes = settings.max_image_bytes if max_bytes is None else max_bytes
    max_pixels = settings.max_image_pixels if max_pixels is None else max_pixels

    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels)
    if isinstance(source, Image.Image):
        return _from_pil(source, max_pixels, None)  # the caller's object: never draft() it
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise ImageTooLarge(f"image data is {len(data):,} bytes, over the limit of {max_bytes:,}")
        return _decode(data, max_pixels, min_side, name="image data")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return _decode(read_image_file(path, max_bytes), max_pixels, min_side, name=str(path))
    raise ImageError(f"cannot load an image from {type(source).__name__}; pass a path, bytes, PIL image or array")


@dataclass(frozen=True)
class Reduced:
    """A photo decoded at a reduced scale (:func:`load_reduced`).

    ``pixels``: upright ``(h, w, 3)`` uint8 RGB; ``factor``: full-resolution pixels per pixel of
    ``pixels`` along each axis (1: the photo as :func:`load_image` decodes it); ``full_size``:
    the upright ``(width, height)`` of the full-resolution photo."""

    pixels: np.ndarray
    factor: int
    full_size: tuple[int, int]


def load_reduced(
    source: ImageSource, *, longer_side: int, settings: Settings | None = None
) -> Reduced:
    """``source`` decoded no larger than needed to keep its longer side at least
    ``longer_side`` pixels long, for a detector that looks at the photo at that size anyway.

    A JPEG is decoded by DCT scaling (1/2, 1/4, 1/8); then any photo is reduced by the largest
    whole factor that keeps its longer side at least ``longer_side`` (a box filter), so a
    40 MP PNG costs one decode into PIL (4 bytes a pixel) and never becomes a full-size RGB
    array. The limits and errors are :func:`load_image`'s, checked before any pixel is
    decoded. Photos already that small come back exactly as :func:`load_image` gives them
    (``factor`` 1)."""
    settings = settings or Settings()
    if longer_side < 1:
        raise ValueError("longer_side must be at least 1")
    if isinstance(source, (np.ndarray, Image.Image)):
        return _reduced_array(load_image(source, settings=settings), longer_side)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > settings.max_image_bytes:
            raise ImageTooLarge(f"image data is {len(data):,} bytes, over the limit of {settings.max_image_bytes:,}")
        name = "image data"
    elif isinstance(source, (str, os.PathLike)):
        data, name = read_image_file(Path(source), settings.max_image_bytes), os.fspath(source)
    else:
        return _reduced_array(load_image(source, settings=settings), longer_side)  # its error
    with open_pil(data, name) as image:
        return reduced_from_image(reduce_opened(image, settings.max_image_pixels, longer_side, name), name)


class PendingPhoto:
    """A photo to decode with its own limits (``settings``' ``max_image_bytes`` and
    ``max_image_pixels``: the service's for an upload, not the engine's), perhaps already being
    decoded at a reduced size on a worker thread (:func:`decode_reduced_ahead`; the command
    line's ``faces verify`` starts one when the process starts, cli/_ahead.py). PIL's decoders
    release the GIL, so on a second core that decode overlaps what the caller does meanwhile
    (the CLI: importing ocula's engine and loading the models; a 40 MP PNG takes ~0.5 s).
    :meth:`Engine.faces` accepts it in place of the photo.

    ``decoded``, when given, waits for that decode (made at ``longer_side`` under these
    limits) and returns its result or raises its error."""

    def __init__(
        self,
        source: ImageSource,
        settings: Settings,
        longer_side: int | None = None,
        decoded: Callable[[], Reduced] | None = None,
    ):
        if (longer_side is None) != (decoded is None):
            raise ValueError("a photo decoding ahead needs both its size and the decode to wait for")
        self.source = source
        self.settings = settings
        self.longer_side = longer_side  # the size decoded ahead, if any
        self._decoded = decoded

    def reduced(self, longer_side: int) -> Reduced:
        """The photo as ``load_reduced(source, longer_side)`` gives it under this photo's limits
        (its errors too): the decode started ahead when it was for this size, else one now."""
        if self._decoded is None or longer_side != self.longer_side:
            return load_reduced(self.source, longer_side=longer_side, settings=self.settings)
        return self._decoded()

    def full(self) -> np.ndarray:
        """The photo at full size (:func:`load_image`) under this photo's limits."""
        return load_image(self.source, settings=self.settings)


def decode_reduced_ahead(source: ImageSource, longer_side: int, settings: Settings | None = None) -> PendingPhoto:
    """Start decoding ``source`` (:func:`load_reduced`) on a worker thread; the photo comes back
    as a :class:`PendingPhoto` to hand to :meth:`Engine.faces` when its models are loaded. The
    thread is a daemon: a process that stops early does not wait for it."""
    settings = settings or Settings()
    decoded = on_thread(lambda: load_reduced(source, longer_side=longer_side, settings=settings), "ocula-decode-ahead")
    return PendingPhoto(source, settings, longer_side, decoded)


def reduced_from_image(reduced: ReducedImage, name: str) -> Reduced:
    """A photo decoded and reduced by PIL (:mod:`ocula.image_file`) as RGB pixels."""
    try:
        pixels = _to_rgb(reduced.image)
    except Exception as exc:  # noqa: BLE001 - PIL raises many types on hostile input
        raise ImageDecodeError(f"{name}: cannot convert {reduced.image.mode} image to RGB ({exc})") from None
    return Reduced(pixels, reduced.factor, reduced.full_size)


def _reduced_array(pixels: np.ndarray, longer_side: int) -> Reduced:
    """An already decoded photo reduced like :func:`load_reduced` reduces a decoded PNG."""
    h, w = pixels.shape[:2]
    factor = max(w, h) // longer_side
    if factor < 2:
        return Reduced(pixels, 1, (w, h))
    return Reduced(_rgb_array(Image.fromarray(pixels).reduce(factor)), factor, (w, h))


def _decode(data: bytes, max_pixels: int, min_side: int | None, *, name: str) -> np.ndarray:
    with open_pil(data, name) as image:
        return _from_pil(image, max_pixels, min_side, name=name)


def check_image(data: bytes, *, settings: Settings | None = None) -> tuple[int, int]:
    """``(width, height)`` as stored in encoded image ``data``, read from its header alone: the
    limits and errors of :func:`load_image` (format, bytes, pixels) without decoding a pixel,
    to refuse a bad upload before any work is done."""
    settings = settings or Settings()
    name = "image data"
    if len(data) > settings.max_image_bytes:
        raise ImageTooLarge(f"{name} is {len(data):,} bytes, over the limit of {settings.max_image_bytes:,}")
    with open_pil(data, name) as image:
        check_pixels(image.width, image.height, settings.max_image_pixels, name)
        return image.size


def _from_pil(image: Image.Image, max_pixels: int, min_side: int | None, *, name: str = "image") -> np.ndarray:
    check_pixels(image.width, image.height, max_pixels, name)
    try:
        if min_side and image.format == "JPEG":
            scale = min_side / min(image.size)
            if scale < 1:
                # draft() picks the largest DCT scaling that keeps the image at least this big.
                image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"{name}: too many pixels to decode safely ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - PIL raises many types on hostile input
        raise ImageDecodeError(f"{name}: cannot decode ({type(exc).__name__}: {exc})") from None
    if min_side:
        image = _shrunk(image, min_side)
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the picture
        pass
    try:
        return _to_rgb(image)
    except Exception as exc:  # noqa: BLE001 - PIL raises many types on hostile input
        raise ImageDecodeError(f"{name}: cannot convert {image.mode} image to RGB ({exc})") from None


def _shrunk(image: Image.Image, min_side: int) -> Image.Image:
    """``image`` reduced by the largest whole factor that keeps its shorter side >= ``min_side``
    (itself when that factor is 1, or when PIL cannot reduce its mode)."""
    factor = min(image.size) // min_side
    if factor < 2:
        return image
    return reduced_by(image, factor) or image  # a mode PIL cannot reduce: the full image


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode == "RGB":
        return _rgb_array(image)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image).astype(np.float64)
        gray = np.clip(values / 257.0, 0, 255).round().astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":  # float images (e.g. TIFF): [0, 1] like float arrays
        gray = (np.clip(np.nan_to_num(np.asarray(image, dtype=np.float64)), 0, 1) * 255).round().astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"), dtype=np.uint8).copy()
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _rgb_array(image: Image.Image) -> np.ndarray:
    """An RGB image's pixels, copied a band of rows at a time: ``np.asarray`` would first make
    a full-size bytes copy (a 40 MP photo: 120 MB more at the peak of every decode)."""
    width, height = image.size
    out = np.empty((height, width, 3), np.uint8)
    rows = max(1, 2**22 // (3 * width))  # about 4 MB a band
    for top in range(0, height, rows):
        band = image.crop((0, top, width, min(height, top + rows)))
        out[top : top + band.height] = np.asarray(band, dtype=np.uint8)
    return out


def _from_array(array: np.ndarray, max_pixels: int) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"array of shape {array.shape} is not an image; expected (H, W), (H, W, 3) or (H, W, 4)")
    check_pixels(array.shape[1], array.shape[0], max_pixels, "array")
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.uint16:
        pixels = (array.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif array.dtype == np.bool_:
        pixels = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise ImageError("float image array contains NaN or infinity")
        pixels = (np.clip(array, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    else:
        raise ImageError(f"unsupported image array dtype {array.dtype}; use uint8, uint16, bool or float in [0, 1]")
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if pixels.shape[2] == 4:
        rgb, alpha = pixels[:, :, :3].astype(np.float32), pixels[:, :, 3:].astype(np.float32) / 255.0
        return (rgb * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(pixels)


def source_name(source: ImageSource | PendingPhoto) -> str:
    """How an input is named in results and errors: its path, or ``<type>`` for data."""
    if isinstance(source, PendingPhoto):
        return source_name(source.source)
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return f"<{type(source).__name__}>"


def iter_image_paths(inputs: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Expand inputs into image paths: directories are walked recursively (sorted, hidden
    entries skipped, files with image suffixes only); anything else is yielded as given, so a
    missing file or an oddly named image still reaches :func:`load_image` and its error.

    Nothing is opened here. A FIFO, device or socket with an image suffix in a folder (or a
    symlink to one) is yielded too: :func:`load_image` refuses it without blocking, so a batch
    reports that one file as failed and goes on, rather than skipping it silently."""
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for fname in sorted(files):
                    if not fname.startswith(".") and Path(fname).suffix.lower() in IMAGE_SUFFIXES:
                        yield Path(root) / fname
        else:
            yield path
