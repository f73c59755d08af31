"""Photo files read and decoded by PIL alone, before numpy or pydantic are imported.

The steps of :mod:`ocula.io`'s loaders that need PIL only: reading a photo file without ever
blocking and within a byte limit, opening it in an allowed format, checking its pixel count
before a pixel is decoded, and decoding it reduced to the size a detector looks at. They live
here, importable in a few milliseconds, so that the command line can start decoding the first
photo of ``faces verify`` while the rest of ocula is still being imported (cli/_ahead.py).
:mod:`ocula.io` is the public face: use its functions.
"""

from __future__ import annotations

import contextlib
import io as _io
import math
import os
import stat
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, TypeVar

from PIL import Image, ImageOps, UnidentifiedImageError

from .environment import available_cpus
from .errors import ImageDecodeError, ImageNotFound, ImageTooLarge
from .text_file import file_kind

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "BAND_BYTES",
    "DECODE_FORMATS",
    "SPLIT_REDUCE_PIXELS",
    "ReducedImage",
    "check_pixels",
    "on_thread",
    "open_image_file",
    "open_pil",
    "read_image_file",
    "read_reduced",
    "reduce_opened",
    "reduced_by",
    "upright",
]

T = TypeVar("T")

#: Formats PIL may use to decode. Anything else is refused as ImageDecodeError.
DECODE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM")  # multi-picture JPEGs (MPO) open as JPEG


class ReducedImage(NamedTuple):
    """A photo decoded by PIL no larger than a detector needs (:func:`reduce_opened`):
    ``image``, upright; ``factor``: full-resolution pixels per pixel of ``image`` along each
    axis; ``full_size``: the upright ``(width, height)`` of the full-resolution photo. (A
    NamedTuple, not a dataclass: this module is imported before the CLI's first photo starts
    decoding, and the dataclasses module would cost that start 20 ms.)"""

    image: Image.Image
    factor: int
    full_size: tuple[int, int]


def reduce_opened(image: Image.Image, max_pixels: int, longer_side: int, name: str) -> ReducedImage:
    """``image`` (opened by :func:`open_pil`, not yet decoded) decoded no larger than needed
    to keep its longer side at least ``longer_side`` long: a JPEG by DCT scaling, then any
    photo reduced by the largest whole factor that keeps it so (a box filter), and turned
    upright. Its pixel count is checked against ``max_pixels`` before any pixel is decoded."""
    check_pixels(image.width, image.height, max_pixels, name)
    width, height = image.size
    dct = 1  # the JPEG's DCT scaling denominator
    try:
        if image.format == "JPEG" and max(width, height) >= 2 * longer_side:
            scale = longer_side / max(width, height)
            image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            dct = _draft_denominator(image, width)
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"{name}: too many pixels to decode safely ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - PIL raises many types on hostile input
        raise ImageDecodeError(f"{name}: cannot decode ({type(exc).__name__}: {exc})") from None
    whole = max(image.size) // longer_side
    reduced = reduced_by(image, whole) if whole >= 2 else None
    if reduced is None:
        whole = 1
    else:
        image = reduced
    image, turned = upright(image)
    return ReducedImage(image, dct * whole, (height, width) if turned else (width, height))


def read_reduced(path: str | Path, max_bytes: int, max_pixels: int, longer_side: int) -> ReducedImage:
    """The photo file ``path`` read and decoded by :func:`reduce_opened` under these limits."""
    name = os.fspath(path)
    with open_pil(read_image_file(path, max_bytes), name) as image:
        reduced = reduce_opened(image, max_pixels, longer_side, name)
        # Closing the file's image frees its pixels: a result that is that very image (a small
        # photo whose EXIF could not be read) is copied first.
        return reduced._replace(image=image.copy()) if reduced.image is image else reduced


def _draft_denominator(image: Image.Image, width: int) -> int:
    """How many stored pixels a pixel of a drafted JPEG stands for (1, 2, 4 or 8)."""
    return max(1, round(width / image.width))


#: Photos of at least this many pixels are reduced in two halves at once, and converted a band
#: of rows at a time where the reduction needs them converted (:func:`reduced_by`).
SPLIT_REDUCE_PIXELS = 4_000_000
#: About how many bytes of 4-byte pixels a band of such a photo holds (whole boxes of rows); each
#: reducing thread holds a band cropped and converted at a time.
BAND_BYTES = 8 * 2**20


def reduced_by(image: Image.Image, factor: int) -> Image.Image | None:
    """``image`` reduced by ``factor`` (>= 2; a box filter), or None when PIL cannot reduce its
    mode. The result is what ``image.reduce(factor)`` gives, byte for byte, with the photo's info;
    a palette or bilevel photo, which PIL cannot reduce, is first converted to RGB (RGBA where it
    has transparency).

    A large photo (:data:`SPLIT_REDUCE_PIXELS`) on a machine with two CPUs or more is reduced in
    two halves at once, the bottom one on a worker thread (PIL releases the GIL): each output
    pixel averages the same box of pixels, in about half the time (a 40 MP PNG by 12: 36 ms
    instead of 66 ms on 2 cores, 2026-12-02). For ``faces verify`` of a large photo that time is
    spent while everything else waits for it. Where the reduction needs the photo converted
    (alpha premultiplied, as ``reduce()`` does; a palette to RGB), a large photo is converted a
    band of rows at a time (:data:`BAND_BYTES`), not whole: ``reduce()`` would hold a converted
    copy of it all (a 40 MP RGBA PNG: 160 MB more). A photo so wide that a band would be no
    smaller than its part (one box of rows over the band's bytes) is converted whole, as before.
    Should the halves fail (no thread to be had, memory), the photo is reduced on this thread."""
    try:
        image.load()  # once, here: the halves' threads must not both decode a lazily opened file
        steps, mode = _conversions(image)
        width, height = image.size
        large = width * height >= SPLIT_REDUCE_PIXELS
        top_rows = height // factor // 2 * factor  # the top half, in whole boxes
        halves = large and top_rows > 0 and available_cpus() >= 2
        rows = factor * (BAND_BYTES // (4 * width * factor))  # a band's rows; 0: a box is bigger
        if steps and not (large and 0 < rows < (top_rows if halves else height)):
            for step in steps:  # bands would save nothing: converted whole, as reduce() does
                image = image.convert(step)
            steps = ()
        reduced = None
        if halves:
            with contextlib.suppress(Exception):
                reduced = _reduced_in_halves(image, factor, top_rows, steps, rows)
        if reduced is None:
            reduced = _reduced_rows(image, factor, 0, height, steps, rows)
        return reduced.convert(mode) if reduced.mode != mode else reduced
    except Exception:  # noqa: BLE001 - e.g. 16-bit modes PIL cannot reduce
        return None


#: Modes PIL's reduce() first converts whole to their premultiplied form (and back after).
_PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}


def _conversions(image: Image.Image) -> tuple[tuple[str, ...], str]:
    """The modes ``image``'s pixels are converted to, in turn, before they are reduced, and the
    mode of the reduced photo."""
    mode = image.mode
    steps: tuple[str, ...] = ()
    if mode in ("P", "1"):  # PIL reduces neither palette nor bilevel images
        mode = "RGBA" if mode == "P" and "transparency" in image.info else "RGB"
        steps = (mode,)
    if mode in _PREMULTIPLIED:
        steps += (_PREMULTIPLIED[mode],)
    return steps, mode


def _reduced_in_halves(
    image: Image.Image, factor: int, top_rows: int, steps: tuple[str, ...], rows: int
) -> Image.Image:
    """Rows ``[0, top_rows)`` and the rest of ``image`` reduced at once (see :func:`reduced_by`)."""
    height = image.height
    bottom = on_thread(lambda: _reduced_rows(image, factor, top_rows, height, steps, rows), "ocula-reduce")
    top = _reduced_rows(image, factor, 0, top_rows, steps, rows)
    return _stacked([top, bottom()])


def _reduced_rows(
    image: Image.Image, factor: int, top: int, bottom: int, steps: tuple[str, ...], rows: int
) -> Image.Image:
    """Rows ``[top, bottom)`` of ``image`` (``top`` a multiple of ``factor``) reduced by
    ``factor``; with ``steps``, converted through them ``rows`` rows (a multiple of ``factor``)
    at a time first, and in the last step's mode (premultiplied, for a photo with alpha)."""
    width = image.width
    if not steps:
        return image.reduce(factor, box=(0, top, width, bottom))
    parts = []
    for y in range(top, bottom, rows):
        band = image.crop((0, y, width, min(y + rows, bottom)))
        for mode in steps:
            band = band.convert(mode)
        parts.append(band.reduce(factor))
    return _stacked(parts)


def _stacked(parts: list[Image.Image]) -> Image.Image:
    """Images of one mode and width, one below the other, with the first one's info (the
    photo's, as reduce() keeps it: its EXIF orientation included)."""
    if len(parts) == 1:
        return parts[0]
    stacked = Image.new(parts[0].mode, (parts[0].width, sum(part.height for part in parts)))
    y = 0
    for part in parts:
        stacked.paste(part, (0, y))
        y += part.height
    stacked.info = parts[0].info
    return stacked


def upright(image: Image.Image) -> tuple[Image.Image, bool]:
    """``image`` turned upright by its EXIF orientation, and whether that swapped its width and
    height (a broken EXIF block leaves the picture as stored)."""
    try:
        orientation = image.getexif().get(0x0112, 1)
        turned_image = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the picture
        return image, False
    return turned_image, orientation in (5, 6, 7, 8)


def read_image_file(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path`` (at most ``max_bytes``), without ever blocking."""
    with open_image_file(path, max_bytes) as fh:
        try:
            # Read what the file holds (one byte more shows growth), not max_bytes: read(n)
            # reserves n bytes first, 100 MB of address space for every photo by default.
            size = min(os.fstat(fh.fileno()).st_size, max_bytes)
            data = fh.read(size + 1)
            if len(data) > size:  # it grew since: read on, to the limit
                data += fh.read(max_bytes + 1 - len(data))
        except OSError as exc:
            raise ImageNotFound(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise ImageTooLarge(f"{path}: file is over the limit of {max_bytes:,} bytes")
    return data


@contextlib.contextmanager
def open_image_file(path: str | Path, max_bytes: int) -> Iterator[BinaryIO]:
    """Open the regular file ``path`` of at most ``max_bytes`` bytes for reading, without ever
    blocking; ImageNotFound / ImageTooLarge otherwise. Every reader of photo files (decoding,
    hashing for ``ocula index``) opens them here.

    A FIFO would wait for a writer for ever and ``/dev/zero`` never ends, so what is not a
    regular file (also through a symlink) is refused before a byte is read. Checked twice:
    ``stat`` before opening (a device is never opened), then ``fstat`` on what was opened, with
    ``O_NONBLOCK`` so that a file swapped for a FIFO in between cannot block the open. Readers
    read at most ``max_bytes + 1`` bytes in case the file grows meanwhile."""
    try:
        _check_regular_file(path, os.stat(path), max_bytes)
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        raise ImageNotFound(f"{path}: no such file") from None
    except OSError as exc:
        raise ImageNotFound(f"{path}: cannot read ({exc.strerror or exc})") from None
    with open(fd, "rb") as fh:
        _check_regular_file(path, os.fstat(fd), max_bytes)
        yield fh


#: Opening never blocks (a FIFO swapped in after the stat), is not inherited by child processes,
#: and on Windows reads bytes untranslated.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _check_regular_file(path: str | Path, info: os.stat_result, max_bytes: int) -> None:
    """ImageNotFound unless ``info`` (of ``path``) is a regular file; ImageTooLarge if it is
    over ``max_bytes``."""
    if not stat.S_ISREG(info.st_mode):
        raise ImageNotFound(f"{path}: is {file_kind(info.st_mode)}{_link_note(path)}, not an image file")
    if info.st_size > max_bytes:
        raise ImageTooLarge(f"{path}: file is {info.st_size:,} bytes, over the limit of {max_bytes:,}")


def _link_note(path: str | Path) -> str:
    """`` (a symlink to <target>)`` when ``path`` is a symlink, so the refusal names what it reached."""
    if not os.path.islink(path):
        return ""
    try:
        return f" (a symlink to {os.path.realpath(path)})"
    except (OSError, ValueError):
        return " (through a symlink)"


def open_pil(data: bytes, name: str) -> Image.Image:
    """``data`` opened by PIL (header read, no pixels decoded) in one of the allowed formats."""
    if not data:
        raise ImageDecodeError(f"{name}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # We enforce our own pixel limit; PIL's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(_io.BytesIO(data), formats=DECODE_FORMATS)
    except Image.DecompressionBombError as exc:  # PIL's own guard (over ~179 megapixels)
        raise ImageTooLarge(f"{name}: too many pixels to decode safely ({exc})") from None
    except UnidentifiedImageError:
        raise ImageDecodeError(
            f"{name}: not an image in a supported format ({', '.join(DECODE_FORMATS)})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - PIL raises many types on hostile input
        raise ImageDecodeError(f"{name}: corrupt image header ({type(exc).__name__}: {exc})") from None


def check_pixels(width: int, height: int, max_pixels: int, name: str) -> None:
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"{name}: image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{name}: {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,}"
        )


def on_thread(work: Callable[[], T], name: str) -> Callable[[], T]:
    """Start ``work`` on a daemon thread (a process that stops early does not wait for it);
    the function returned waits for it and returns its result or raises its error."""
    done = threading.Event()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the result
            failure.append(exc)
        finally:
            done.set()

    def wait() -> T:
        done.wait()
        if failure:
            raise failure[0]
        return outcome[0]

    threading.Thread(target=run, name=name, daemon=True).start()
    return wait
