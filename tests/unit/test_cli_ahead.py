"""``faces verify``'s first photo decoded from process start (cli/_ahead.py): when a guess is
made from the raw arguments, and that the command gets the same photo, or its own decode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocula.cli._ahead import SIDE, start
from ocula.config import Settings
from ocula.errors import ImageDecodeError, ImageTooLarge
from ocula.io import load_reduced
from ocula.pipelines.faces import DEFAULT_DESCRIPTOR, DEFAULT_DETECTORS, detection_side

pytestmark = pytest.mark.quick


def test_the_guess_is_made_at_the_default_detectors_size():
    assert detection_side(DEFAULT_DETECTORS[DEFAULT_DESCRIPTOR]) == SIDE


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
        ["faces", "verify", "--descriptor", "dlib", "{a}", "{b}"],
        ["faces", "verify", "--descriptor", "sface", "--detector=hog+cnn", "{a}", "{b}"],  # the detector decides
        ["faces", "verify", "{a}", "{b}", "--descriptor"],  # no value: the command says so
        # Read as Click reads them: an option's value is never an option, nothing after "--" is.
        ["faces", "verify", "--detector", "hog", "--calibration", "--detector=yunet", "{a}", "{b}"],
        ["faces", "verify", "--descriptor", "dlib", "--calibration", "--descriptor=sface", "{a}", "{b}"],
        ["faces", "verify", "--detector", "hog", "--", "{a}", "--detector=yunet"],
        ["faces", "verify", "/nonexistent/x.png", "--json"],  # no file named
        ["faces", "verify", "/nonexistent/x.png", "{a}"],  # the first photo is missing: the command says so
        ["faces", "verify", "x" * 300, "{a}"],  # a name the system refuses (ENAMETOOLONG): no guess, no error
        ["faces", "verify"],
    ],
)
def test_no_guess(photos, argv):
    a, b = photos
    assert start([arg.format(a=a, b=b) for arg in argv]) is None


@pytest.mark.parametrize(
    "options",
    [
        ["--descriptor", "sface"],
        ["--descriptor=sface+dlib"],
        ["--descriptor", "dlib", "--detector", "yunet"],  # the detector decides
        ["--detector=yunet"],
    ],
)
def test_options_that_keep_yunet_keep_the_guess(photos, options):
    a, b = photos
    ahead = start(["faces", "verify", *options, str(a), str(b)])
    assert ahead is not None and ahead.argument == str(a)


def test_the_yunet_choices_are_the_pipelines():
    from ocula.cli import _ahead
    from ocula.pipelines.faces import Descriptor, Detector

    assert DEFAULT_DETECTORS[DEFAULT_DESCRIPTOR] is Detector.YUNET
    assert set(_ahead._YUNET_DESCRIPTORS) == {d.value for d in Descriptor if DEFAULT_DETECTORS[d] is Detector.YUNET}
    assert set(_ahead._YUNET_DETECTORS) == {d.value for d in Detector if detection_side(d) == SIDE}


def test_the_first_file_after_the_command_is_decoded_at_yunets_size(photos):
    a, b = photos
    ahead = start(["--threads", "1", "faces", "verify", "--fmr", "1e-4", str(a), str(b), "--json"])
    assert ahead is not None and ahead.argument == str(a)
    calibrated = start(["faces", "verify", "--calibration", str(b), str(a), str(b)])  # an option's value
    assert calibrated is not None and calibrated.argument == str(a)
    settings = Settings()
    assert ahead.take(b, SIDE, settings) is None  # another photo: the command decodes it itself
    assert ahead.take(a, None, settings) is None  # a detector that needs the whole photo
    assert ahead.take(a, 320, settings) is None  # another size
    assert ahead.take(a, SIDE, settings.replace(max_image_pixels=1000)) is None  # other limits
    photo = ahead.take(a, SIDE, settings)
    assert photo is not None
    got, expected = photo.reduced(SIDE), load_reduced(a, longer_side=SIDE)
    assert (got.factor, got.full_size) == (expected.factor, expected.full_size) == (3, (2000, 1500))
    np.testing.assert_array_equal(got.pixels, expected.pixels)


def test_the_second_photo_is_decoded_after_the_first(photos, tmp_path):
    """verify searches both photos before describing either, so the second is decoded ahead too
    (review of issue 17: a faceless second photo waited for its decode after start-up)."""
    a, b = photos
    ahead = start(["faces", "verify", str(a), "--fmr", "1e-4", str(b)])
    assert ahead is not None and ahead.second is not None and ahead.second.argument == str(b)
    assert ahead.second.take(a, SIDE, Settings()) is None  # another photo
    photo = ahead.second.take(b, SIDE, Settings())
    assert photo is not None
    got, expected = photo.reduced(SIDE), load_reduced(b, longer_side=SIDE)
    np.testing.assert_array_equal(got.pixels, expected.pixels)
    same = start(["faces", "verify", str(a), str(a)])  # the same file twice: decoded once
    assert same is not None and same.second is None
    missing = start(["faces", "verify", str(a), str(tmp_path / "none.png")])
    assert missing is not None and missing.second is None
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    after_a_failure = start(["faces", "verify", str(broken), str(b)])  # the first's error stays the first's
    assert after_a_failure is not None and after_a_failure.second is not None
    second = after_a_failure.second.take(b, SIDE, Settings())
    assert second is not None and second.reduced(SIDE).full_size == (300, 200)


def test_a_photo_that_fails_ahead_fails_as_the_commands_own_decode(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ahead = start(["faces", "verify", str(broken), str(broken)])
    assert ahead is not None
    photo = ahead.take(broken, SIDE, Settings())
    assert photo is not None
    with pytest.raises(ImageDecodeError) as own:
        load_reduced(broken, longer_side=SIDE)
    with pytest.raises(ImageDecodeError) as early:
        photo.reduced(SIDE)
    assert str(early.value) == str(own.value)


def test_the_limits_the_environment_sets_are_the_ones_decoded_under(photos, monkeypatch):
    a, b = photos
    monkeypatch.setenv("OCULA_MAX_IMAGE_PIXELS", "1000000")  # a is 2000x1500
    ahead = start(["faces", "verify", str(a), str(b)])
    assert ahead is not None and ahead.limits[1] == 1_000_000
    photo = ahead.take(a, SIDE, Settings())
    assert photo is not None
    with pytest.raises(ImageTooLarge, match="over the limit of 1,000,000"):
        photo.reduced(SIDE)
    monkeypatch.setenv("OCULA_MAX_IMAGE_PIXELS", "lots")  # the settings refuse it: no guess
    assert start(["faces", "verify", str(a), str(b)]) is None


def test_a_photo_smaller_than_the_detectors_side_comes_whole(photos):
    _, b = photos
    ahead = start(["faces", "verify", str(b), str(b)])
    assert ahead is not None
    photo = ahead.take(b, SIDE, Settings())
    assert photo is not None
    got, expected = photo.reduced(SIDE), load_reduced(b, longer_side=SIDE)
    assert (got.factor, got.full_size) == (expected.factor, expected.full_size) == (1, (300, 200))
    np.testing.assert_array_equal(got.pixels, expected.pixels)


def test_a_result_that_is_the_files_own_image_outlives_the_file(tmp_path, monkeypatch):
    from ocula import image_file

    # What upright() gives for a photo whose EXIF block cannot be read: the image it was given.
    monkeypatch.setattr(image_file, "upright", lambda image: (image, False))
    small = tmp_path / "small.png"
    Image.new("RGB", (300, 200), (0, 128, 128)).save(small)
    reduced = image_file.read_reduced(small, 10**6, 10**6, SIDE)
    assert reduced.factor == 1 and reduced.image.getpixel((5, 5)) == (0, 128, 128)
