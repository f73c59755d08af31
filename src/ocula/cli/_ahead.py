"""The first photo of ``ocula faces verify``, decoded from the moment the process starts.

Before ``faces verify A B`` reads A it spends about half a second importing (Typer, numpy,
the engine) and parsing its options, and a 40 MP PNG takes about 0.4 s more to decode. PIL's
decoders release the GIL, so on a second core the two overlap when the decode starts first: the
entry point (:func:`ocula.cli.main`) calls :func:`start` with the raw arguments, before Typer
parses them, and the command takes the photo with :meth:`PhotoAhead.take`.

It is a guess made from the raw arguments: the first one after ``faces verify`` that names a
file, decoded at the size YuNet searches. The command uses it only when its parsed first photo
is that same path and its detector searches at that size, and no guess is made when the
arguments choose a detector, a descriptor or crops. A wrong guess costs one reduced decode on a
daemon thread, never a different answer: the photo is then decoded as if nothing had been
guessed. A photo decoded ahead is decoded under the same limits as the command's own decode
(``Settings()``: the image limits come from the environment only), and its error, if any, is
the one the command would have met.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..io import PendingPhoto

#: The command whose first photo is decoded ahead, as typed.
COMMAND = ("faces", "verify")
#: Options after which no guess is made: they may choose a detector other than YuNet (dlib's
#: decode the whole photo) or say the photos are crops (no detector at all).
_CHOOSING = ("--cropped", "--detector", "--descriptor")


@dataclass
class PhotoAhead:
    """A photo being decoded on a worker thread since the process started (see the module doc)."""

    path: Path
    _ready: threading.Event = field(default_factory=threading.Event)
    _photo: PendingPhoto | None = None

    def take(self, path: Path, longer_side: int | None) -> PendingPhoto | None:
        """The photo decoded ahead, if it is ``path`` decoded at ``longer_side``; else None (the
        caller decodes it itself). Waits for the worker to have started the decode, not for the
        decode itself (:meth:`PendingPhoto.reduced` waits for that)."""
        if Path(path) != self.path or longer_side is None:
            return None
        self._ready.wait()
        photo = self._photo
        if photo is None or photo.longer_side != longer_side:
            return None
        return photo

    def _decode(self) -> None:
        try:
            from ..config import Settings
            from ..io import decode_reduced_ahead
            from ..pipelines.faces import DEFAULT_DESCRIPTOR, DEFAULT_DETECTORS, detection_side

            side = detection_side(DEFAULT_DETECTORS[DEFAULT_DESCRIPTOR])
            if side is not None:
                self._photo = decode_reduced_ahead(self.path, side, Settings())
        except Exception:  # noqa: BLE001 - a guess: the command decodes the photo itself and reports any error
            self._photo = None
        finally:
            self._ready.set()


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
    if first is None:
        return None
    ahead = PhotoAhead(Path(first))
    threading.Thread(target=ahead._decode, name="ocula-photo-ahead", daemon=True).start()
    return ahead
