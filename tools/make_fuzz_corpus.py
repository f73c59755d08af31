"""Write the seed corpus of the image fuzz targets (tests/fuzz/corpus/), deterministically.

Each seed is a kind of file that has broken image libraries: truncated, zero bytes, wrong magic,
huge declared dimensions (a decompression bomb), CMYK, 16-bit, palette with transparency,
animated, EXIF-rotated, and polyglots (a JPEG that is also a ZIP; a GIF that is also a script).

    python tools/make_fuzz_corpus.py
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "tests" / "fuzz" / "corpus"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), "RGB")
    jpeg = encode(rgb, "JPEG", quality=80)
    seeds: dict[str, bytes] = {
        "valid.jpg": jpeg,
        "valid.png": encode(rgb, "PNG"),
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": encode(rgb, "PNG")[:200],
        "zero.bin": b"",
        "one-byte.bin": b"\xff",
        "wrong-magic.png": b"\x89PNX\r\n\x1a\n" + encode(rgb, "PNG")[8:],
        "jpeg-magic-only.jpg": b"\xff\xd8\xff\xe0" + b"\0" * 60,
        "text.txt": b"this is not an image\n" * 4,
        "huge-dims.png": b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + png_chunk(b"IEND", b""),
        "long-strip.png": encode(Image.new("L", (20000, 1)), "PNG"),
        "cmyk.jpg": encode(rgb.convert("CMYK"), "JPEG"),
        "gray16.png": encode(Image.fromarray((rng.integers(0, 65535, (32, 32))).astype(np.uint16)), "PNG"),
        "palette-transparent.png": encode(rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG", transparency=0),
        "rgba.png": encode(rgb.convert("RGBA"), "PNG"),
        "animated.gif": encode(rgb.convert("P"), "GIF", save_all=True, append_images=[rgb.rotate(90).convert("P")] * 3, duration=50, loop=0),
        "tiny.bmp": encode(rgb.resize((3, 2)), "BMP"),
        "one-pixel.webp": encode(rgb.resize((1, 1)), "WEBP"),
        "multipage.tiff": encode(rgb, "TIFF", save_all=True, append_images=[rgb]),
    }  # fmt: skip
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    seeds["exif-rotated.jpg"] = encode(rgb, "JPEG", exif=exif.tobytes())
    bad_exif = Image.Exif()
    bad_exif[0x0112] = 99  # an orientation that does not exist
    seeds["exif-bad-orientation.jpg"] = encode(rgb, "JPEG", exif=bad_exif.tobytes())
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("payload.txt", "a zip after the image")
    seeds["polyglot-jpeg-zip.jpg"] = jpeg + zipped.getvalue()
    seeds["polyglot-gif-script.gif"] = b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00;*/=1;alert(1)//" + encode(rgb.convert("P"), "GIF")[13:]
    seeds["svg.svg"] = b'<svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"/>'
    for name, data in sorted(seeds.items()):
        (OUT / name).write_bytes(data)
    print(f"{len(seeds)} seeds in {OUT}")


if __name__ == "__main__":
    main()
