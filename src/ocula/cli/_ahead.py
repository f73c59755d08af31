"""The first photo of ``faces verify``, decoded from the moment the process starts.

Before ``faces verify A B`` reads A it spends about 0.5 s importing (Typer, numpy, ONNX Runtime,
the engine) and loading YuNet, and a 40 MP PNG takes about 0.5 s more to decode. PIL's decoders
release the GIL, so on a second core the two overlap when the decode starts first: the entry
point (:func:`ocula.cli.run`, through :func:`ocula.cli.main`) calls :func:`start` with the raw
arguments before anything else is imported, and the command takes the photo with
:meth:`PhotoAhead.take`. This module imports
nothing of weight, and :func:`start` only PIL and what the decode needs
(:mod:`ocula.image_file`, :mod:`ocula.environment`; no pathlib, no dataclasses): the decode
starts about 0.08 s after the interpreter (0.45 s before this module existed in this form).

The second photo, when it names another file, is decoded next (on a thread that waits for the
first decode, so the two never compete for the second core): ``verify`` searches both photos for
a face before it describes either, so a faceless second photo is refused without waiting for
its decode after start-up (review of issue 17: 1.4-1.5 s against 0.6-0.8 s as the first).

It is a guess made from the raw arguments: the first one after ``faces verify`` that is neither an
option nor an option's value, if it names a file, decoded at the size YuNet searches
(:data:`SIDE`) under the image limits the environment sets
(:func:`ocula.environment.image_limits`). The command uses it only when its parsed first photo has
that same name, its detector searches at that size and its settings have the same limits; no guess
is made when the arguments say the photos are crops or choose a detector other than YuNet (by
``--detector``, or by a ``--descriptor`` whose detector is not YuNet). A wrong guess costs one
reduced decode on a daemon thread, never a different answer: the photo is then decoded as if
nothing had been guessed. An error met ahead is the one the command's own decode would meet,
raised when the command takes the photo.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..environment import image_limits

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ..config import Settings
    from ..image_file import ReducedImage
    from ..io import PendingPhoto

#: The command whose first photo is decoded ahead, as typed.
COMMAND = ("faces", "verify")
#: An option after which no guess is made: the photos are crops (no detector at all).
_CROPPED = "--cropped"
#: The detector named by --detector, else the one of the descriptor named by --descriptor, else
#: the default descriptor's (YuNet) decides: the guess is made for YuNet only (dlib's detectors
#: decode the whole photo). The values with which it is YuNet (pipelines.faces.DEFAULT_DETECTORS;
#: a test checks the two agree).
_YUNET_DETECTORS = ("yunet",)
_YUNET_DESCRIPTORS = ("sface", "sface+dlib")
#: verify's options that take a value: the argument after one is not a photo.
_VALUED = ("--fmr", "--face-a", "--face-b", "--calibration", "--detector", "--descriptor")
#: The longer side YuNet, the default descriptor's detector, searches at (its registry entry's
#: input size; a test checks the two agree: where they did not, the guess would go unused).
SIDE = 640


class PhotoAhead:
    """A photo being decoded on a worker thread since the process started (see the module doc).
    (A plain class, and no pathlib: what is imported before the decode starts delays it.)"""

    __slots__ = ("argument", "decoded", "limits", "second")

    def __init__(
        self,
        argument: str,
        limits: tuple[int, int],
        decoded: Callable[[], ReducedImage],
        second: PhotoAhead | None = None,
    ):
        self.argument = argument  # the photo as typed
        self.limits = limits  # (max_image_bytes, max_image_pixels) it is decoded under
        self.decoded = decoded  # waits for the decode; its result or its error
        self.second = second  # verify's second photo, decoded after this one (None: not guessed)

    def take(self, path: str | Path, longer_side: int | None, settings: Settings) -> PendingPhoto | None:
        """The photo decoded ahead, if it is ``path`` decoded at ``longer_side`` under the
        limits of ``settings``; else None (the caller decodes it itself). Does not wait for the
        decode (:meth:`PendingPhoto.reduced` does)."""
        # The same name, not only the same file: an error met ahead names the photo as the
        # command's own decode would (a typed "./a.png" is "a.png" to the command: no match).
        if os.fspath(path) != self.argument or longer_side != SIDE:
            return None
        if (settings.max_image_bytes, settings.max_image_pixels) != self.limits:
            return None
        from ..io import PendingPhoto, reduced_from_image

        name = str(path)
        return PendingPhoto(path, settings, SIDE, lambda: reduced_from_image(self.decoded(), name))


def start(argv: list[str]) -> PhotoAhead | None:
    """Start decoding the first photo of ``faces verify`` in ``argv`` (the arguments after the
    program's name), or None when ``argv`` is not such a command or makes no guess possible.
    Nothing is imported for any other command (PIL is imported here, not with this module)."""
    at = next((i for i in range(len(argv) - 1) if tuple(argv[i : i + 2]) == COMMAND), None)
    if at is None:
        return None
    rest = argv[at + 2 :]
    if _CROPPED in rest or not _searches_with_yunet(rest):
        return None
    photos = _photos(rest)
    limits = image_limits()
    if not photos or limits is None:
        return None
    from PIL import Image

    from ..image_file import on_thread, read_reduced

    # PIL's common decoders are imported here, before the thread starts: imports are Python
    # work, and on the thread they would compete for the interpreter with the main thread's.
    Image.preinit()
    first = on_thread(lambda: read_reduced(photos[0], *limits, SIDE), "ocula-photo-ahead")
    second = None
    if len(photos) == 2:

        def after_the_first() -> ReducedImage:
            try:
                first()
            except BaseException:  # noqa: BLE001 - the command meets the first photo's error itself
                pass
            return read_reduced(photos[1], *limits, SIDE)

        second = PhotoAhead(photos[1], limits, on_thread(after_the_first, "ocula-photo-ahead-2"))
    return PhotoAhead(photos[0], limits, first, second)


def _searches_with_yunet(args: list[str]) -> bool:
    """Whether the detector these arguments choose (see _YUNET_DETECTORS) is YuNet, read as
    Click reads them: options until ``--``, each valued option taking the next argument as its
    value (even one that looks like an option), the last value of an option counting."""
    chosen: dict[str, str] = {}
    remaining = iter(args)
    for arg in remaining:
        if arg == "--":
            break
        if not arg.startswith("-"):
            continue
        name, equals, value = arg.partition("=")
        if name in _VALUED and not equals:
            value = next(remaining, "")
        if name in ("--detector", "--descriptor"):
            chosen[name] = value
    if "--detector" in chosen:
        return chosen["--detector"] in _YUNET_DETECTORS
    if "--descriptor" in chosen:
        return chosen["--descriptor"] in _YUNET_DESCRIPTORS
    return True  # the default descriptor's detector is YuNet


def _photos(args: list[str]) -> list[str]:
    """The first argument that is neither an option nor an option's value, if it names a file
    (``os.path.isfile``: False, never an error, for a name the system refuses; none: no guess),
    and the second such argument too if it names another file."""
    options = True
    skip = False
    found: list[str] = []
    for arg in args:
        if skip:
            skip = False
        elif options and arg == "--":
            options = False
        elif options and arg.startswith("-"):
            skip = arg in _VALUED
        else:
            if not os.path.isfile(arg) or arg in found:
                break
            found.append(arg)
            if len(found) == 2:
                break
    return found
