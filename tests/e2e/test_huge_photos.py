"""Huge and faceless photos with YuNet (issue 17): a blank 8000x5000 photo is refused as "no
face" without ever becoming a full-size array (it is decoded at the size YuNet searches), and a
face in such a photo is still found and described from full-resolution pixels. Speed and memory
figures live in benchmarks/huge_photos.py; here only what a hang or a full decode would break."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from PIL import Image

from ocula.errors import NoFaceFound

from ..conftest import run_cli, shared

ROSE = "faces/face-recognition-examples/examples/knn_examples/train/rose_leslie"
V2 = {"detector": "yunet", "descriptor": "sface"}


def _blank(path, size):
    Image.new("RGB", size, "white").save(path)
    return path


def test_blank_huge_photos_are_no_face_without_a_full_size_decode(engine, tmp_path):
    big, square = _blank(tmp_path / "big.png", (8000, 5000)), _blank(tmp_path / "square.png", (1500, 1500))
    for photo in (square, big):
        with pytest.raises(NoFaceFound):
            engine.verify(photo, photo, descriptor="sface")
    engine.faces(big, **V2)  # models loaded: what follows measures the photo alone
    tracemalloc.start()  # NumPy's arrays are traced: a full-size RGB array would be 120 MB
    try:
        faces = engine.faces(big, **V2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(faces) == 0 and faces.image_size == (8000, 5000)
    assert peak < 20e6, f"{peak / 1e6:.0f} MB of arrays for a faceless photo"


def test_cli_refuses_a_blank_huge_photo_as_no_face(tmp_path):
    big = _blank(tmp_path / "big.png", (8000, 5000))
    # The default descriptor (sface+dlib), as a user types it: the first photo decodes from process start.
    result = run_cli("faces", "verify", str(big), str(big), timeout=120)
    assert result.returncode == 1 and "no face found" in result.stderr, result.stderr
    # As the second photo (decoded from process start after the first), behind a photo with a face.
    face = sorted(shared(ROSE).iterdir())[-1]
    result = run_cli("faces", "verify", str(face), str(big), "--json", timeout=120)
    assert result.returncode == 1 and "no face found" in result.stderr, result.stderr
    assert str(big) in result.stderr and str(face) not in result.stderr


def test_a_faceless_photo_is_refused_before_the_other_is_described(engine, monkeypatch, tmp_path):
    """Review of issue 17: with the faceless photo second, verify described the first (loading
    the descriptor's models) before it even decoded the second: 1.4-1.5 s through the CLI. Both
    photos are now searched first, whichever has no face."""
    from ocula.pipelines.faces import FaceAnalyzer

    face = sorted(shared(ROSE).iterdir())[-1]
    blank = _blank(tmp_path / "blank.png", (1500, 1500))
    described = []
    describe = FaceAnalyzer.describe

    def counted(self, *args, **kwargs):
        described.append(True)
        return describe(self, *args, **kwargs)

    monkeypatch.setattr(FaceAnalyzer, "describe", counted)
    for a, b in ((face, blank), (blank, face)):
        with pytest.raises(NoFaceFound, match=r"blank\.png"):
            engine.verify(a, b)
    assert described == []
    assert engine.verify(face, face).same and len(described) == 2


def test_a_face_in_a_huge_photo_is_described_at_full_resolution(engine, tmp_path):
    """Rose Leslie's photo pasted at its own scale into a blank 8000x5000 canvas: YuNet finds the
    face at 1/12 scale, looks again at full resolution around it, and the chip is cut from the
    full-resolution pixels, so the descriptor matches the photo's own: 0.965 here, 0.959-0.970
    wherever it was pasted (the photo alone is itself searched at 0.73 scale, so not 1.0).
    Found at 1/12 scale alone, as before, it scored 0.83 here (0.83-0.96 by position), and with
    chips cut from the reduced photo 0.58."""
    photos = sorted(shared(ROSE).iterdir())
    original = photos[-1]  # img2.jpg, 577x880
    canvas = Image.new("RGB", (8000, 5000), "white")
    canvas.paste(Image.open(original).convert("RGB"), (2666, 1250))
    canvas.save(tmp_path / "huge.png")
    faces = engine.faces(tmp_path / "huge.png", largest_only=True, **V2)
    alone = engine.faces(original, largest_only=True, **V2)
    assert len(faces) == 1 and len(alone) == 1
    x0, y0, x1, y1 = faces.boxes[0]
    assert 2666 <= x0 < x1 <= 2666 + 577 and 1250 <= y0 < y1 <= 1250 + 880
    assert float(np.dot(faces.embeddings[0], alone.embeddings[0])) > 0.95
    assert engine.verify(tmp_path / "huge.png", photos[0], descriptor="sface").same  # img1.jpg: her too


def test_a_photo_decoded_ahead_gives_the_faces_and_errors_of_the_photo(engine, tmp_path):
    # `ocula faces verify` decodes its photos on a worker thread while the engine loads
    # (ocula.io.decode_reduced_ahead): the same faces, the same refusals, as the paths give.
    from ocula.errors import ImageNotFound
    from ocula.io import decode_reduced_ahead

    face = sorted(shared(ROSE).iterdir())[-1]
    big = _blank(tmp_path / "big.png", (2000, 1250))  # reduced 3x for YuNet
    ahead = decode_reduced_ahead(face, 640)
    found, direct = engine.faces(ahead, largest_only=True, **V2), engine.faces(face, largest_only=True, **V2)
    assert len(found) == 1 and np.allclose(found.boxes, direct.boxes)
    assert np.allclose(found.embeddings, direct.embeddings)
    blank = engine.faces(decode_reduced_ahead(big, 640), **V2)
    assert len(blank) == 0 and blank.image_size == (2000, 1250)
    with pytest.raises(ImageNotFound):
        engine.faces(decode_reduced_ahead(tmp_path / "missing.jpg", 640), **V2)
    with pytest.raises(NoFaceFound, match=r"big\.png"):  # named by its path, as the path itself is
        engine.verify(decode_reduced_ahead(big, 640), face, descriptor="sface")
