"""YuNet's retry on a turned photo maps what it finds back to the photo: every pixel of a photo
turned by ``np.rot90`` lands where ``unturn`` says, for each number of quarter turns."""

from __future__ import annotations

import numpy as np
import pytest

from ocula.pipelines.yunet import TURNS, unturn


@pytest.mark.parametrize("turns", [0, *TURNS])
def test_unturn_maps_every_pixel_of_a_turned_photo_back(turns):
    height, width = 5, 7  # not square: the turned photo's sides are swapped
    photo = np.arange(height * width).reshape(height, width)
    turned = np.rot90(photo, turns)
    rows, cols = np.indices(turned.shape)
    centres = np.stack([cols + 0.5, rows + 0.5], axis=-1).astype(np.float32)  # (x, y) of each turned pixel
    back = unturn(centres, turns, width, height)
    assert back.shape == centres.shape
    x, y = np.floor(back[..., 0]).astype(int), np.floor(back[..., 1]).astype(int)
    assert ((0 <= x) & (x < width) & (0 <= y) & (y < height)).all()
    assert (photo[y, x] == turned).all()  # the same pixel, so the same place on the face


def test_unturn_maps_the_turned_photos_corners_to_the_photos_corners():
    width, height = 400, 320
    corners = {(0, 0), (width, 0), (0, height), (width, height)}
    for turns in TURNS:
        w, h = (height, width) if turns % 2 else (width, height)
        turned = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float32)
        assert {tuple(p) for p in unturn(turned, turns, width, height).tolist()} == corners
