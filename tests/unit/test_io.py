"""load_image: every input kind, every bad input, and the limits."""

from __future__ import annotations

import io
import os
import socket
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image

from ocula import ImageDecodeError, ImageError, ImageNotFound, ImageTooLarge, image_file, load_image
from ocula.io import iter_image_paths, load_reduced


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def gradient(w: int = 64, h: int = 48) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, (x + y) % 256], axis=2).astype(np.uint8)


def png_bomb(width: int, height: int) -> bytes:
    """A real decompression bomb: a valid 1-channel PNG whose zlib data inflates to w*h bytes."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + gray pixels
    parts = [comp.compress(row * 1000) for _ in range(height // 1000)]
    parts.append(comp.compress(row * (height % 1000)))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def test_path_bytes_pil_and_array_agree(tmp_path):
    rgb = gradient()
    data = encode(Image.fromarray(rgb), "PNG")
    (tmp_path / "g.png").write_bytes(data)
    from_path = load_image(tmp_path / "g.png")
    assert from_path.shape == (48, 64, 3) and from_path.dtype == np.uint8
    np.testing.assert_array_equal(from_path, rgb)
    np.testing.assert_array_equal(load_image(str(tmp_path / "g.png")), rgb)
    np.testing.assert_array_equal(load_image(data), rgb)
    np.testing.assert_array_equal(load_image(memoryview(data)), rgb)
    np.testing.assert_array_equal(load_image(Image.fromarray(rgb)), rgb)
    np.testing.assert_array_equal(load_image(rgb), rgb)


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty"):
        load_image(tmp_path / "empty.jpg")


def test_truncated_jpeg(tmp_path):
    data = encode(Image.fromarray(gradient(256, 256)), "JPEG", quality=90)
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError):
        load_image(tmp_path / "cut.jpg")


def test_truncated_png(tmp_path):
    data = encode(Image.fromarray(gradient(256, 256)), "PNG")
    with pytest.raises(ImageDecodeError):
        load_image(data[: len(data) - 40])


def test_wrong_extension_is_decoded_by_content(tmp_path):
    rgb = gradient()
    (tmp_path / "really_a_png.jpg").write_bytes(encode(Image.fromarray(rgb), "PNG"))
    np.testing.assert_array_equal(load_image(tmp_path / "really_a_png.jpg"), rgb)


def test_text_file(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is not an image\n" * 10)
    with pytest.raises(ImageDecodeError, match="not an image"):
        load_image(tmp_path / "notes.jpg")


def test_unsupported_format_is_refused_not_delegated(tmp_path):
    # EPS would make PIL start Ghostscript; it must be refused before any plugin runs.
    (tmp_path / "doc.eps").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")
    with pytest.raises(ImageDecodeError, match="supported format"):
        load_image(tmp_path / "doc.eps")


@pytest.mark.slow
def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    bomb = png_bomb(20_000, 20_000)
    assert len(bomb) < 2_000_000  # small file, 400 megapixels
    (tmp_path / "bomb.png").write_bytes(bomb)
    with pytest.raises(ImageTooLarge, match="pixels"):
        load_image(tmp_path / "bomb.png")
    # also below PIL's own guard, where ocula's limit is the one that stops it
    with pytest.raises(ImageTooLarge, match="12000x12000"):
        load_image(png_bomb(12_000, 12_000))


def test_pixel_and_byte_limits_are_configurable(tmp_path):
    data = encode(Image.fromarray(gradient(100, 100)), "PNG")
    with pytest.raises(ImageTooLarge):
        load_image(data, max_pixels=9_999)
    with pytest.raises(ImageTooLarge):
        load_image(data, max_bytes=len(data) - 1)
    (tmp_path / "x.png").write_bytes(data)
    with pytest.raises(ImageTooLarge):
        load_image(tmp_path / "x.png", max_bytes=100)
    with pytest.raises(ImageTooLarge):
        load_image(np.zeros((100, 100, 3), np.uint8), max_pixels=100)
    assert load_image(data, max_pixels=10_000).shape == (100, 100, 3)


def test_rgba_is_composited_on_white():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :5] = (255, 0, 0, 255)  # opaque red
    rgba[:, 5:] = (0, 0, 0, 0)  # fully transparent (black underneath)
    out = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 9]) == (255, 255, 255)
    np.testing.assert_array_equal(load_image(rgba), out)


def test_cmyk_jpeg():
    cmyk = Image.new("CMYK", (32, 16), (0, 255, 255, 0))  # pure red in CMYK
    out = load_image(encode(cmyk, "JPEG", quality=95))
    assert out.shape == (16, 32, 3)
    r, g, b = out[8, 16].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_palette_with_transparency():
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    pal.info["transparency"] = 0
    pal.putpixel((0, 0), 0)
    out = load_image(encode(pal, "PNG", transparency=0))
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[4, 4]) == (0, 0, 255)


def test_grayscale_and_16_bit():
    gray = Image.fromarray(np.full((6, 7), 77, np.uint8))
    assert tuple(load_image(encode(gray, "PNG"))[0, 0]) == (77, 77, 77)
    deep = Image.fromarray(np.full((6, 7), 65535, np.uint16))
    out = load_image(encode(deep, "PNG"))
    assert out.dtype == np.uint8 and tuple(out[0, 0]) == (255, 255, 255)
    mid = load_image(np.full((4, 4), 257 * 100, np.uint16))
    assert tuple(mid[0, 0]) == (100, 100, 100)


def test_exif_orientation_is_applied():
    rgb = gradient(60, 20)  # landscape
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = load_image(encode(image, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.shape == (60, 20, 3)  # displayed upright: portrait


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (10, 10), c) for c in [(255, 0, 0), (0, 255, 0)]]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    out = load_image(buf.getvalue())
    assert out[5, 5, 0] > 200 and out[5, 5, 1] < 50


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageNotFound, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageNotFound, match="directory"):
        load_image(tmp_path)


def load_within(path, timeout: float = 30, **kwargs):
    """``load_image(path)`` on a daemon thread: its error or result, or a failed test if it is still
    blocked after ``timeout`` s (the old code waited for a FIFO's writer for ever). A blocked open
    of a FIFO is released by opening its other end, so the thread does not outlive the test."""
    outcome: dict[str, object] = {}

    def load() -> None:
        try:
            outcome["result"] = load_image(path, **kwargs)
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        target = os.path.realpath(path)
        os.close(os.open(target, os.O_WRONLY | os.O_NONBLOCK))  # a reader is waiting: this releases it
        pytest.fail(f"load_image({path}) was still blocked after {timeout} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    with pytest.raises(ImageNotFound, match=r"pipe\.jpg: is a FIFO \(named pipe\), not an image file"):
        load_within(tmp_path / "pipe.jpg")
    (tmp_path / "link.jpg").symlink_to(tmp_path / "pipe.jpg")
    with pytest.raises(ImageNotFound, match=r"link\.jpg: is a FIFO .*a symlink to .*pipe\.jpg"):
        load_within(tmp_path / "link.jpg")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero on this system")
def test_devices_are_refused_before_reading_a_byte(tmp_path):
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    # The old code read max_bytes + 1 zeros (100 MB by default) before refusing it as too large.
    with pytest.raises(ImageNotFound, match=r"zero\.png: is a character device \(a symlink to /dev/zero\)"):
        load_within(tmp_path / "zero.png")
    with pytest.raises(ImageNotFound, match="/dev/null: is a character device, not an image file"):
        load_within("/dev/null")


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets on this system")
def test_a_socket_is_refused_as_such(tmp_path):
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s.jpg"))
        with pytest.raises(ImageNotFound, match=r"s\.jpg: is a socket, not an image file"):
            load_within(tmp_path / "s.jpg")


def test_a_file_over_the_byte_limit_is_refused_by_its_size(tmp_path):
    with open(tmp_path / "big.jpg", "wb") as fh:
        fh.truncate(1001)  # sparse: nothing to read, the size alone refuses it
    with pytest.raises(ImageTooLarge, match="1,001 bytes, over the limit of 1,000"):
        load_image(tmp_path / "big.jpg", max_bytes=1000)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_folder_walk_yields_a_fifo_so_its_load_reports_it(tmp_path):
    os.mkfifo(tmp_path / "b.jpg")
    Image.fromarray(gradient()).save(tmp_path / "a.png")
    found = list(iter_image_paths([tmp_path]))
    assert found == [tmp_path / "a.png", tmp_path / "b.jpg"]
    assert load_within(found[0]).shape == (48, 64, 3)
    with pytest.raises(ImageNotFound, match="FIFO"):
        load_within(found[1])


@pytest.mark.parametrize(
    "value",
    [12345, None, np.zeros((4, 4, 2), np.uint8), np.zeros((4,), np.uint8), np.zeros((4, 4), np.int64),
     np.full((4, 4), np.nan, np.float32)],
)
def test_wrong_types_are_typed_errors(value):
    with pytest.raises(ImageError):
        load_image(value)


def test_float_and_bool_arrays():
    assert tuple(load_image(np.ones((2, 2), np.float32))[0, 0]) == (255, 255, 255)
    assert tuple(load_image(np.ones((2, 2), bool))[0, 0]) == (255, 255, 255)


def test_jpeg_draft_decodes_smaller_but_not_below_min_side():
    data = encode(Image.fromarray(gradient(2000, 1600)), "JPEG", quality=90)
    full = load_image(data)
    small = load_image(data, min_side=300)
    assert full.shape == (1600, 2000, 3)
    assert min(small.shape[:2]) >= 300 and small.shape[0] < 1600


def test_callers_pil_image_is_not_changed():
    data = encode(Image.fromarray(gradient(2000, 1600)), "JPEG", quality=90)
    image = Image.open(io.BytesIO(data))
    out = load_image(image, min_side=300)
    assert image.size == (2000, 1600) and out.shape == (1600, 2000, 3)


def test_float_tiff_reads_like_a_float_array():
    tiff = Image.fromarray(np.full((4, 4), 0.5, np.float32), mode="F")
    assert tuple(load_image(encode(tiff, "TIFF"))[0, 0]) == (128, 128, 128)


def test_iter_image_paths_walks_sorted_and_skips_hidden(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ["b/2.JPG", "a.png", "notes.txt", ".x.jpg", ".hidden/c.jpg", "b/1.webp"]:
        (tmp_path / name).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_image_paths([tmp_path])]
    assert found == ["a.png", "b/1.webp", "b/2.JPG"]
    # explicit files are passed through whatever their name, missing ones too
    assert list(iter_image_paths([tmp_path / "notes.txt", tmp_path / "gone.jpg"])) == [
        tmp_path / "notes.txt", tmp_path / "gone.jpg"]


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA"])
def test_other_formats_shrink_right_after_decoding_but_not_below_min_side(mode):
    """A blank 40 MP PNG is 130 KB; with min_side it must not become a full-size array."""
    data = encode(Image.fromarray(gradient(3000, 2000)).convert(mode), "PNG")
    small = load_image(data, min_side=300)
    assert 300 <= min(small.shape[:2]) < 600 and small.shape[2] == 3
    assert small.shape[:2] == (334, 500)  # reduced 6 times (PIL rounds up)
    assert load_image(data).shape == (2000, 3000, 3)


def test_shrinking_keeps_the_exif_orientation():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show upright
    data = encode(Image.fromarray(gradient(3000, 2000)), "PNG", exif=exif)
    assert load_image(data).shape == (3000, 2000, 3)
    assert load_image(data, min_side=300).shape == (500, 334, 3)


def test_load_reduced_decodes_no_larger_than_the_detector_needs():
    """``load_reduced``: the largest whole reduction keeping the longer side >= the asked one,
    the full photo's size and the factor to map back; a PNG and the same pixels as an array
    reduce alike; small photos come back as ``load_image`` gives them."""
    rgb = gradient(2000, 1300)
    png = encode(Image.fromarray(rgb), "PNG")
    reduced = load_reduced(png, longer_side=640)
    assert (reduced.factor, reduced.full_size, reduced.pixels.shape) == (3, (2000, 1300), (434, 667, 3))
    np.testing.assert_array_equal(load_reduced(rgb, longer_side=640).pixels, reduced.pixels)
    jpeg = load_reduced(encode(Image.fromarray(rgb), "JPEG", quality=90), longer_side=640)
    assert jpeg.factor == 2 and jpeg.full_size == (2000, 1300) and jpeg.pixels.shape == (650, 1000, 3)  # DCT 1/2
    small = encode(Image.fromarray(gradient(1000, 700)), "PNG")
    same = load_reduced(small, longer_side=640)
    assert same.factor == 1 and same.full_size == (1000, 700)
    np.testing.assert_array_equal(same.pixels, load_image(small))


def test_load_reduced_maps_exif_rotation_and_keeps_the_limits():
    image = Image.fromarray(gradient(3000, 1000))
    exif = image.getexif()
    exif[0x0112] = 6  # displayed rotated by 90 degrees: portrait
    reduced = load_reduced(encode(image, "JPEG", exif=exif.tobytes(), quality=90), longer_side=640)
    assert reduced.full_size == (1000, 3000) and reduced.pixels.shape[0] > reduced.pixels.shape[1]
    assert reduced.pixels.shape[0] * reduced.factor <= 3000 < (reduced.pixels.shape[0] + 1) * reduced.factor
    with pytest.raises(ImageTooLarge, match="12000x12000"):
        load_reduced(png_bomb(12_000, 12_000), longer_side=640)
    with pytest.raises(ImageDecodeError):
        load_reduced(b"not an image", longer_side=640)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "P transparent", "1"])
@pytest.mark.parametrize(("size", "factor"), [((301, 257), 2), ((301, 257), 7), ((640, 97), 12), ((50, 23), 12)])
@pytest.mark.parametrize(("cpus", "bands"), [(2, "a box high"), (2, "default"), (1, "a box high"), (2, "under a box")])
def test_a_large_photo_reduced_in_halves_and_bands_is_pil_reduce_byte_for_byte(
    monkeypatch, mode, size, factor, cpus, bands
):
    """reduced_by's two halves (the bottom one on a thread) and its bands converted one at a time
    (alpha premultiplied, a palette made RGB) give what converting the whole photo and one
    reduce() give, the photo's info (its EXIF) kept; forced here on any machine and size, down
    to bands a box of rows high, and with bands smaller than a box (then converted whole)."""
    box_bytes = 4 * size[0] * factor  # a box of rows in 4-byte pixels
    band_bytes = {"a box high": box_bytes, "default": image_file.BAND_BYTES, "under a box": box_bytes - 1}[bands]
    monkeypatch.setattr(image_file, "SPLIT_REDUCE_PIXELS", 0)
    monkeypatch.setattr(image_file, "BAND_BYTES", band_bytes)
    monkeypatch.setattr(image_file, "available_cpus", lambda: cpus)
    threads = []
    real_on_thread = image_file.on_thread
    monkeypatch.setattr(image_file, "on_thread", lambda work, name: threads.append(name) or real_on_thread(work, name))
    rng = np.random.default_rng(size[0] * factor)
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8), "RGBA")
    if mode == "P transparent":
        image = image.convert("P")
        image.info["transparency"] = 7  # palette entry 7 is see-through
    else:
        image = image.convert(mode)
    image.info["exif"] = b"Exif\x00\x00kept"
    whole = image.convert("RGBA" if "transparency" in image.info else "RGB") if image.mode in ("P", "1") else image
    expected = whole.reduce(factor)
    converted = []  # the size of every image converted (reduce() converts a photo with alpha whole)
    real_convert = Image.Image.convert
    monkeypatch.setattr(
        Image.Image, "convert", lambda im, *a, **k: converted.append(im.size) or real_convert(im, *a, **k)
    )
    reduced = image_file.reduced_by(image, factor)
    monkeypatch.setattr(Image.Image, "convert", real_convert)
    part_rows = size[1] // factor // 2 * factor if cpus >= 2 else size[1]  # the rows of a half, or all
    if bands == "a box high" and part_rows > factor:  # two bands or more: never converted whole
        assert image.size not in converted
    assert reduced.mode == expected.mode and reduced.size == expected.size
    assert reduced.tobytes() == expected.tobytes()
    assert reduced.info == expected.info and reduced.info["exif"] == b"Exif\x00\x00kept"
    assert threads == (["ocula-reduce"] if size[1] // factor >= 2 and cpus >= 2 else [])


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "P"])
def test_a_photo_opened_but_not_yet_decoded_is_decoded_once_before_its_halves(monkeypatch, mode):
    """reduced_by on a lazily opened file: both halves' threads would otherwise decode it at once
    (PIL's crop and reduce load it), which gave wrong pixels in most runs."""
    monkeypatch.setattr(image_file, "SPLIT_REDUCE_PIXELS", 0)
    monkeypatch.setattr(image_file, "BAND_BYTES", 4 * 600 * 4)  # bands a box of rows high
    monkeypatch.setattr(image_file, "available_cpus", lambda: 2)
    rng = np.random.default_rng(5)
    image = Image.fromarray(rng.integers(0, 256, (400, 600, 4), dtype=np.uint8), "RGBA").convert(mode)
    data = encode(image, "PNG")
    with Image.open(io.BytesIO(data)) as whole:
        converted = whole.convert("RGBA" if "transparency" in whole.info else "RGB") if mode == "P" else whole
        expected = converted.reduce(4).tobytes()
    for _ in range(5):
        with Image.open(io.BytesIO(data)) as lazy:
            assert image_file.reduced_by(lazy, 4).tobytes() == expected
