"""atheris fuzz target: ``ocula.io.load_image`` and ``load_reduced`` on arbitrary bytes.

Every input must either decode to an upright RGB uint8 array within the pixel limit or raise an
ocula error (ImageError and its kinds); anything else (another exception, a hang, memory past
libFuzzer's ``-rss_limit_mb``) is a finding. Run by tests/fuzz/test_fuzz.py; by hand:

    python tests/fuzz/fuzz_load_image.py tests/fuzz/corpus -max_total_time=60 -rss_limit_mb=3072
"""

import sys

import atheris

# Only PIL and ocula are instrumented (PIL's format plugins are Python: their branches guide the
# fuzzer). Instrumenting every module the block imports (numpy, pydantic, asyncio, ...) took 20 s
# of CPU before the first input and adds nothing to what the target tests.
with atheris.instrument_imports(include=["PIL", "ocula"]):
    import PIL.Image  # noqa: F401

    from ocula.config import Settings
    from ocula.errors import OculaError
    from ocula.io import load_image, load_reduced

SETTINGS = Settings(max_image_pixels=20_000_000, max_image_bytes=8 * 2**20)


def one_input(data: bytes) -> None:
    check_full(data)
    check_reduced(data)


def check_full(data: bytes) -> None:
    try:
        image = load_image(data, settings=SETTINGS)
    except OculaError:
        return
    h, w = image.shape[:2]
    assert image.dtype.name == "uint8" and image.ndim == 3 and image.shape[2] == 3, image.shape
    assert 0 < h * w <= SETTINGS.max_image_pixels, (w, h)


def check_reduced(data: bytes) -> None:
    """Decoded for a detector that looks at 64 px: reduced, never larger than the photo."""
    try:
        reduced = load_reduced(data, longer_side=64, settings=SETTINGS)
    except OculaError:
        return
    image, (w, h) = reduced.pixels, reduced.full_size
    assert image.dtype.name == "uint8" and image.ndim == 3 and image.shape[2] == 3, image.shape
    assert 0 < w * h <= SETTINGS.max_image_pixels and reduced.factor >= 1, (w, h, reduced.factor)
    assert image.shape[0] <= h and image.shape[1] <= w, (image.shape, w, h)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
