"""The first photo of ``faces verify``, decoded from the moment the process starts.

Before ``faces verify A B`` reads A it spends about 0.6 s importing (Typer, numpy, pydantic, the
engine) and loading YuNet, and a 40 MP PNG takes about 0.5 s more to decode. PIL's decoders
release the GIL, so on a second core the two overlap when the decode starts first: the entry
point (:func:`ocula.cli.main`) calls :func:`start` with the raw arguments before anything else is
imported, and the command takes the photo with :meth:`PhotoAhead.take`. This module and what
the decode needs (:mod:`ocula.image_file`, :mod:`ocula.environment`) import PIL and nothing
else of weight: the decode starts a few milliseconds after the interpreter.

It is a guess made from the raw arguments: the first one after ``faces verify`` that names a
file, decoded at the size YuNet searches (:data:`SIDE`) under the image limits the environment
sets (:func:`ocula.environment.image_limits`). The command uses it only when its parsed first
photo is that same path, its detector searches at that size and its settings have the same
limits; no guess is made when the arguments choose a detector, a descriptor or crops. A wrong
guess costs one reduced decode on a daemon thread, never a different answer: the photo is then
decoded as if nothing had been guessed. An error met ahead is the one the command's own decode
would meet, raised when the command takes the photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from ..environment import image_limits
from ..image_file import ReducedImage, on_thread, read_reduced

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..config import Settings
    from ..io import PendingPhoto

#: The command whose first photo is decoded ahead, as typed.
COMMAND = ("faces", "verify")
#: Options after which no guess is made: they may choose a detector other than YuNet (dlib's
#: decode the whole photo) or say the photos are crops (no detector at all).
_CHOOSING = ("--cropped", "--detector", "--descriptor")
#: The longer side YuNet, the default descriptor's detector, searches at (its registry entry's
#: input size; a test checks the two agree: where they did not, the guess would go unused).
SIDE = 640


@dataclass(frozen=True)
class PhotoAhead:
    """A photo being decoded on a worker thread since the process started (see the module doc)."""

    path: Path
    limits: tuple[int, int]  # (max_image_bytes, max_image_pixels) it is decoded under
    decoded: Callable[[], ReducedImage]  # waits for the decode; its result or its error

    def take(self, path: Path, longer_side: int | None, settings: Settings) -> PendingPhoto | None:
        """The photo decoded ahead, if it is ``path`` decoded at ``longer_side`` under the
        limits of ``settings``; else None (the caller decodes it itself). Does not wait for the
        decode (:meth:`PendingPhoto.reduced` does)."""
        if Path(path) != self.path or longer_side != SIDE:
            return None
        if (settings.max_image_bytes, settings.max_image_pixels) != self.limits:
            return None
        from ..io import PendingPhoto, reduced_from_image

        name = str(path)
        return PendingPhoto(path, settings, SIDE, lambda: reduced_from_image(self.decoded(), name))


def start(argv: list[str]) -> PhotoAhead | None:
    """Start decoding the first photo of ``faces verify`` in ``argv`` (the arguments after the
    program's name), or None when ``argv`` is not such a command or makes no guess possible."""
    at = next((i for i in range(len(argv) - 1) if tuple(argv[i : i + 2]) == COMMAND), None)
    if at is None:
        return None
    rest = argv[at + 2 :]
    if any(arg.split("=", 1)[0] in _CHOOSING for arg in rest):
        return None
    first = next((arg for arg in rest if not arg.startswith("-") and Path(arg).is_file()), None)
    limits = image_limits()
    if first is None or limits is None:
        return None
    path = Path(first)
    # PIL's common decoders are imported here, before the thread starts: imports are Python
    # work, and on the thread they would compete for the interpreter with the main thread's.
    Image.preinit()
    return PhotoAhead(path, limits, on_thread(lambda: read_reduced(path, *limits, SIDE), "ocula-photo-ahead"))
