"""Drawing results onto photos. Kept apart from the result types (supervision's split)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .face_types import Faces

__all__ = ["draw_faces"]


def draw_faces(image: np.ndarray, faces: Faces, *, color: tuple[int, int, int] = (0, 220, 90)) -> Image.Image:
    """A copy of ``image`` (RGB array) with each face's box, 5 landmarks and index drawn."""
    canvas = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(canvas)
    line = max(2, round(max(canvas.size) / 400))
    for i in range(len(faces)):
        x0, y0, x1, y1 = (float(v) for v in faces.boxes[i])
        draw.rectangle((x0, y0, x1, y1), outline=color, width=line)
        for x, y in faces.landmarks[i]:
            r = line + 1
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 60, 60))
        if faces.landmarks68 is not None:
            for x, y in faces.landmarks68[i]:
                draw.point((float(x), float(y)), fill=(255, 200, 0))
        draw.text((x0 + line, max(0.0, y0 - 12 - line)), str(i), fill=color)
    return canvas
