"""Image -> network input, exactly as a :class:`~ocula.models.registry.Preprocess` declares."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..models.registry import Preprocess, Resample

__all__ = ["MIN_REGION_SIDE", "crop_region", "resize_center_crop", "to_tensor"]

MIN_REGION_SIDE = 8  # pixels; a smaller region carries too little to embed

_PIL_RESAMPLE = {Resample.BICUBIC: Image.Resampling.BICUBIC, Resample.BILINEAR: Image.Resampling.BILINEAR}


def resize_center_crop(image: np.ndarray, input_size: int, crop_fraction: float, resample: Resample) -> np.ndarray:
    """Resize the short side to ``floor(input_size / crop_fraction)``, cut the centre square.

    ``image`` is (H, W, 3) uint8; returns (input_size, input_size, 3) uint8. Same rule as timm's
    eval transform, so published accuracies apply. The crop is mapped back to source coordinates
    and only that box is resampled, so the resized full image is never materialised: a 1x20000
    strip costs a 224x224 output, not gigabytes.
    """
    h, w = image.shape[:2]
    short = Preprocess.resize_short_side(input_size, crop_fraction)
    scale = short / min(h, w)
    new_w, new_h = round(w * scale), round(h * scale)  # both >= short >= input_size
    left, top = (new_w - input_size) // 2, (new_h - input_size) // 2
    sx, sy = w / new_w, h / new_h
    box = (left * sx, top * sy, (left + input_size) * sx, (top + input_size) * sy)
    pil = Image.fromarray(image)
    return np.asarray(pil.resize((input_size, input_size), _PIL_RESAMPLE[resample], box=box))


def to_tensor(crops: np.ndarray, pre: Preprocess) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> normalised float32 in the declared channel order and layout.

    The channels are reordered and laid out on the uint8 pixels (a quarter of the bytes), then
    converted to float once, in place; scale, mean and std are skipped when they change nothing
    (OpenCV Zoo's models take raw 0..255). The values are those of ``(x * scale - mean) / std``
    computed in float32, bit for bit."""
    x = crops[..., ::-1] if pre.channel_order == "BGR" else crops
    mean, std = np.array(pre.mean, np.float32), np.array(pre.std, np.float32)
    if pre.channel_order == "BGR":
        mean, std = mean[::-1], std[::-1]
    if pre.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
        mean, std = mean[:, None, None], std[:, None, None]
    out = np.ascontiguousarray(x, dtype=np.float32)
    if pre.pixel_scale != 1.0:
        out *= np.float32(pre.pixel_scale)
    if mean.any():
        out -= mean
    if (std != 1).any():
        out /= std
    return out


def crop_region(image: np.ndarray, region) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The part of ``image`` (H, W, C) inside ``region`` = (x0, y0, x1, y1) in pixels, clipped
    to the image, and the clipped box. A region that is malformed, or that leaves less than
    :data:`MIN_REGION_SIDE` pixels a side inside the image, is an :class:`InputError`."""
    from ..errors import InputError

    try:
        x0, y0, x1, y1 = (float(v) for v in region)
    except (TypeError, ValueError):
        raise InputError(f"a region is four numbers x0,y0,x1,y1 in pixels, not {region!r}") from None
    if not all(np.isfinite([x0, y0, x1, y1])) or x1 <= x0 or y1 <= y0:
        raise InputError(f"region {region!r} must have x0 < x1 and y0 < y1")
    h, w = image.shape[:2]
    box = (max(0, round(x0)), max(0, round(y0)), min(w, round(x1)), min(h, round(y1)))
    if box[2] - box[0] < MIN_REGION_SIDE or box[3] - box[1] < MIN_REGION_SIDE:
        raise InputError(
            f"region {region!r} leaves less than {MIN_REGION_SIDE} pixels a side inside the {w}x{h} image"
        )
    return image[box[1] : box[3], box[0] : box[2]], box
