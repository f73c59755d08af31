"""``faces verify``'s first photo decoded from process start (cli/_ahead.py): when a guess is
made from the raw arguments, and that the command gets the same photo, or its own decode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocula.cli._ahead import start
from ocula.errors import ImageDecodeError
from ocula.io import load_reduced

pytestmark = pytest.mark.quick

SIDE = 640  # YuNet's input, the default detector's


@pytest.fixture
def photos(tmp_path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("RGB", (2000, 1500), (200, 120, 40)).save(a)
    Image.new("RGB", (300, 200), "grey").save(b)
    return a, b


@pytest.mark.parametrize(
    "argv",
    [
        ["faces", "detect", "{a}"],  # not verify
        ["tag", "{a}"],
        ["faces", "verify", "{a}", "{b}", "--cropped"],  # crops: no detector
        ["faces", "verify", "--detector", "hog", "{a}", "{b}"],  # dlib decodes the whole photo
        ["faces", "verify", "{a}", "{b}", "--descriptor=dlib"],
        ["faces", "verify", "/nonexistent/x.png", "--json"],  # no file named
        ["faces", "verify"],
    ],
)
def test_no_guess(photos, argv):
    a, b = photos
    assert start([arg.format(a=a, b=b) for arg in argv]) is None


def test_the_first_file_after_the_command_is_decoded_at_yunets_size(photos):
    a, b = photos
    ahead = start(["--threads", "1", "faces", "verify", "--fmr", "1e-4", str(a), str(b), "--json"])
    assert ahead is not None and ahead.path == a
    assert ahead.take(b, SIDE) is None  # another photo: the command decodes it itself
    assert ahead.take(a, None) is None  # a detector that needs the whole photo
    assert ahead.take(a, 320) is None  # another size
    photo = ahead.take(a, SIDE)
    assert photo is not None
    got, expected = photo.reduced(SIDE), load_reduced(a, longer_side=SIDE)
    assert (got.factor, got.full_size) == (expected.factor, expected.full_size) == (3, (2000, 1500))
    np.testing.assert_array_equal(got.pixels, expected.pixels)


def test_a_photo_that_fails_ahead_fails_as_the_commands_own_decode(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ahead = start(["faces", "verify", str(broken), str(broken)])
    assert ahead is not None
    photo = ahead.take(broken, SIDE)
    assert photo is not None
    with pytest.raises(ImageDecodeError) as own:
        load_reduced(broken, longer_side=SIDE)
    with pytest.raises(ImageDecodeError) as early:
        photo.reduced(SIDE)
    assert str(early.value) == str(own.value)
