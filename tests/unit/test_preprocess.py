from __future__ import annotations

import numpy as np
import pytest

from ocula.models.registry import Preprocess, Resample
from ocula.pipelines.preprocess import resize_center_crop, to_tensor


def test_short_side_resize_then_centre_crop():
    image = np.zeros((300, 600, 3), np.uint8)
    image[:, 250:350] = 255  # a white band in the middle
    crop = resize_center_crop(image, 224, 0.875, Resample.BICUBIC)
    assert crop.shape == (224, 224, 3)
    # short side 300 -> 256, long side 512; the centre 224 holds the band at its centre
    assert crop[112, 112, 0] == 255 and crop[112, 0, 0] == 0


@pytest.mark.parametrize("shape", [(10, 10, 3), (1000, 30, 3), (224, 224, 3)])
def test_small_and_tall_images_still_give_full_crops(shape):
    assert resize_center_crop(np.zeros(shape, np.uint8), 224, 0.875, Resample.BILINEAR).shape == (224, 224, 3)


def test_matches_resizing_the_whole_image_then_cropping():
    y, x = np.mgrid[0:375, 0:500]
    image = np.stack([x % 256, y % 256, (x * y) % 256], axis=2).astype(np.uint8)
    from PIL import Image

    full = Image.fromarray(image).resize((341, 256), Image.Resampling.BICUBIC)  # short side 256
    naive = np.asarray(full.crop((58, 16, 282, 240)))
    ours = resize_center_crop(image, 224, 0.875, Resample.BICUBIC)
    assert np.abs(ours.astype(int) - naive.astype(int)).mean() < 1.0


def test_extreme_aspect_ratio_costs_only_the_crop():
    # A 1x20000 strip would be 256 x 5,120,000 px if resized whole (about 4 GB).
    strip = np.zeros((20_000, 1, 3), np.uint8)
    assert resize_center_crop(strip, 224, 0.875, Resample.BICUBIC).shape == (224, 224, 3)
    assert resize_center_crop(strip.transpose(1, 0, 2), 296, 0.89, Resample.BICUBIC).shape == (296, 296, 3)


def test_to_tensor_normalises_and_lays_out():
    pre = Preprocess(input_size=2, crop_fraction=1.0)
    crops = np.zeros((1, 2, 2, 3), np.uint8)
    crops[0, :, :, 0] = 255
    x = to_tensor(crops, pre)
    assert x.shape == (1, 3, 2, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0], 1.0)
    np.testing.assert_allclose(x[0, 1], -1.0)
    bgr = to_tensor(crops, Preprocess(input_size=2, crop_fraction=1.0, channel_order="BGR", layout="NHWC",
                                      mean=(0.4, 0.5, 0.6), std=(0.1, 0.2, 0.3)))
    assert bgr.shape == (1, 2, 2, 3)
    np.testing.assert_allclose(bgr[0, 0, 0], [(0 - 0.6) / 0.3, (0 - 0.5) / 0.2, (1 - 0.4) / 0.1], rtol=1e-5)


def test_subject_windows_cover_the_photo_in_a_3x3_grid_of_half_size():
    from ocula.pipelines.search_embed import subject_windows

    boxes = subject_windows(800, 600)
    assert len(boxes) == 9 and boxes[0] == (0, 0, 400, 300) and boxes[-1] == (400, 300, 800, 600)
    assert all(x1 - x0 == 400 and y1 - y0 == 300 for x0, y0, x1, y1 in boxes)
    assert subject_windows(60, 60) == []  # half of 60 px is too small to embed


def test_query_parts_are_the_whole_photo_then_its_windows():
    from ocula.pipelines.search_embed import query_parts

    image = np.arange(600 * 800 * 3, dtype=np.uint32).reshape(600, 800, 3)
    boxes, parts = query_parts(image)
    assert boxes[0] is None and parts[0] is image and len(parts) == 10
    assert boxes[-1] == (400, 300, 800, 600) and np.array_equal(parts[-1], image[300:600, 400:800])
    boxes, parts = query_parts(image, windows=False)
    assert boxes == [None] and len(parts) == 1


def test_crop_region_clips_and_refuses_bad_boxes():
    import numpy as np
    import pytest

    from ocula import InputError
    from ocula.pipelines.preprocess import crop_region

    image = np.zeros((100, 200, 3), np.uint8)
    crop, box = crop_region(image, (150, -10, 400, 50))
    assert box == (150, 0, 200, 50) and crop.shape == (50, 50, 3)
    for bad in ((10, 10, 5, 20), (0, 0, 5, 5), (300, 0, 400, 50), (1, 2, 3), ("a", 0, 1, 1), (0, 0, float("nan"), 9)):
        with pytest.raises(InputError):
            crop_region(image, bad)
