"""Annotated output: boxes, names and track ids drawn on frames, faces blurred (redaction), and
the video writer. Drawing is kept apart from the analysis (supervision's split).

Redaction blurs every face box that is not a named track, enlarged by ``REDACT_MARGIN`` on each
side, because the models see one frame per ``every`` seconds and a face moves in between; the
boxes of the last analysed frame are applied to the frames up to the next one (after a shot cut
in between, none of them counts as a named person's), together with the faces the redaction
shield (:mod:`ocula.video.shield`) finds on each written frame. The blur is a
heavy downscale-upscale (pixelation) followed by a (stack) blur: no detector should find a face
in it, and ``tests/e2e/test_video.py`` checks exactly that on the annotated output.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import InputError

__all__ = ["Overlay", "VideoWriter", "draw", "redact"]

#: Redacted area: the face box grown by this fraction of its size on every side.
REDACT_MARGIN = 0.35
KNOWN, UNKNOWN, BODY = (60, 220, 90), (240, 160, 40), (80, 160, 255)


@dataclass(frozen=True)
class Overlay:
    """What to draw on a frame: face boxes with labels, and whether each face is a named person."""

    boxes: np.ndarray  # (n, 4) xyxy
    labels: tuple[str, ...]
    named: tuple[bool, ...]
    bodies: np.ndarray | None = None  # (m, 4) person-detector boxes
    drawn: tuple[bool, ...] | None = None  # False: a face lost for a moment, redacted but not drawn

    @staticmethod
    def empty() -> Overlay:
        return Overlay(np.zeros((0, 4), np.float32), (), ())

    def unnamed(self) -> Overlay:
        """The same faces, none of them taken for a named person (so redaction blurs them all)."""
        return dataclasses.replace(self, named=(False,) * len(self.named))


def _grow(box: np.ndarray, margin: float, w: int, h: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (float(v) for v in box)
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    return (max(0, int(x0 - mx)), max(0, int(y0 - my * 1.3)), min(w, int(x1 + mx + 1)), min(h, int(y1 + my + 1)))


def redact(rgb: np.ndarray, overlay: Overlay, faces: np.ndarray | None = None) -> np.ndarray:
    """``rgb`` with every face that is not a named person blurred (a copy when anything changes).
    ``faces``: more face boxes (n, 4) to blur (the redaction shield's, found on this very frame),
    except those whose centre lies in a named person's box."""
    import cv2

    h, w = rgb.shape[:2]
    out = rgb
    for box in _to_blur(overlay, faces):
        x0, y0, x1, y1 = _grow(box, REDACT_MARGIN, w, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        if out is rgb:
            out = rgb.copy()
        region = out[y0:y1, x0:x1]
        small = cv2.resize(region, (max(1, (x1 - x0) // 12), max(1, (y1 - y0) // 12)), interpolation=cv2.INTER_AREA)
        region = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        k = max(3, ((x1 - x0) // 4) | 1)
        # Stack blur: a Gaussian's look at a cost that does not grow with the kernel (10x
        # faster than GaussianBlur at a 300 px face, where redaction spent most of its time).
        out[y0:y1, x0:x1] = cv2.stackBlur(region, (k, k))
    return out


def _to_blur(overlay: Overlay, faces: np.ndarray | None) -> list[np.ndarray]:
    """Every box that is not a named track, and every face the shield found except those centred
    in a named face seen on this very frame: a named track's old box (lost for a moment, kept
    while the track lingers, maybe across a shot cut) exempts nothing, or a stranger found there
    by the shield would stay unblurred."""
    seen = overlay.drawn or (True,) * len(overlay.labels)
    named = [
        box for box, is_named, shown in zip(overlay.boxes, overlay.named, seen, strict=False) if is_named and shown
    ]
    boxes = [box for box, is_named in zip(overlay.boxes, overlay.named, strict=False) if not is_named]
    for box in faces if faces is not None else ():
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        if not any(n[0] <= cx <= n[2] and n[1] <= cy <= n[3] for n in named):
            boxes.append(box)
    return boxes


def draw(rgb: np.ndarray, overlay: Overlay) -> np.ndarray:
    """A copy of ``rgb`` with the overlay's boxes and labels."""
    import cv2

    out = np.ascontiguousarray(rgb.copy())
    thick = max(1, round(max(out.shape[:2]) / 480))
    if overlay.bodies is not None:
        for x0, y0, x1, y1 in overlay.bodies.astype(int):
            cv2.rectangle(out, (x0, y0), (x1, y1), BODY, thick)
    drawn = overlay.drawn or (True,) * len(overlay.labels)
    for box, label, named, shown in zip(overlay.boxes, overlay.labels, overlay.named, drawn, strict=False):
        if not shown:
            continue
        x0, y0, x1, y1 = (int(v) for v in box)
        color = KNOWN if named else UNKNOWN
        cv2.rectangle(out, (x0, y0), (x1, y1), color, thick + 1)
        scale = 0.45 * thick
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = y0 - 4 if y0 - th - base - 4 >= 0 else y1 + th + 4
        cv2.rectangle(out, (x0, ty - th - base), (x0 + tw + 4, ty + base), color, -1)
        cv2.putText(out, label, (x0 + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return out


class VideoWriter:
    """Writes RGB frames with OpenCV: ``.mp4`` as MPEG-4 Part 2 (mp4v; OpenCV's wheel has no
    H.264 encoder), ``.avi`` as Motion-JPEG. Frames go to a hidden file beside ``path`` that
    :meth:`close` renames to ``path``: a run that is killed leaves no unplayable file under the
    name asked for, and a file already there stays whole until the new one is."""

    CODECS: ClassVar[dict[str, str]] = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]):
        import cv2

        path = Path(path)
        codec = self.CODECS.get(path.suffix.lower())
        if codec is None:
            raise InputError(f"{path}: annotated video must end in one of {', '.join(self.CODECS)}")
        if not path.parent.is_dir():
            raise InputError(f"{path.parent}: no such folder for the annotated video")
        self.path = path
        # Same suffix: OpenCV picks the container by it.
        self.partial = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
        self._cv2 = cv2
        self._writer = cv2.VideoWriter(str(self.partial), cv2.VideoWriter_fourcc(*codec), fps or 25.0, size)
        if not self._writer.isOpened():
            self._writer.release()
            self.partial.unlink(missing_ok=True)
            raise InputError(f"{path}: cannot write a {codec} video here")
        self._closed = False

    def write(self, rgb: np.ndarray) -> None:
        self._writer.write(self._cv2.cvtColor(rgb, self._cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        """Finish the file and move it to ``path`` (also after an interrupted run: what was
        written plays)."""
        if self._closed:
            return
        self._closed = True
        self._writer.release()
        try:
            os.replace(self.partial, self.path)
        except OSError as exc:
            self.partial.unlink(missing_ok=True)
            raise InputError(f"{self.path}: the annotated video could not be written ({exc.strerror or exc})") from None
