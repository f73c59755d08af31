"""Tagging on the real EfficientNet-Lite weights and real photos."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

import ocula
from ocula import Engine, Settings

from ..conftest import SAMPLES, shared

pytestmark = [pytest.mark.e2e, pytest.mark.quick]  # seconds on the shared engine: in the quick tier


def test_dog_photo_gets_a_breed_that_is_a_dog(engine):
    photo = shared("imagenet/sample-334/images/n02099601_golden_retriever.JPEG")
    tags = engine.tag(photo)
    assert tags[0].label == "golden retriever" and tags[0].score > 0.5
    assert "dog" in tags[0].ancestors and "animal" in tags[0].ancestors
    (dog,) = engine.tag(photo, levels=["dog"])
    assert dog.label == "dog" and dog.score > 0.9
    breeds = engine.tag(photo, within="dog", top_k=3)
    assert len(breeds) == 3 and all("dog" in t.ancestors for t in breeds)
    # Within "dog" a breed's score is p(breed | dog), and the dog's own probability is kept.
    assert breeds.within is not None and abs(breeds.within.score - dog.score) < 1e-5
    assert abs(breeds.score[0] - tags.score[0] / dog.score) < 1e-5 and breeds.recognised


def test_a_blank_or_noise_image_is_nothing_recognised_a_photo_is(engine):
    blank = np.full((240, 320, 3), 128, np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    for image in (blank, noise):
        guesses = engine.tag(image)
        assert not guesses.recognised and len(guesses) == 5  # the guesses stay visible
        assert guesses.score[0] < engine.tagger().preset.recognised_at
    assert engine.tag(SAMPLES / "coffee.jpg").recognised


def test_bundled_samples(engine):
    tags = {p.name: engine.tag(p, top_k=3) for p in sorted(SAMPLES.glob("*.jpg"))}
    assert tags["cat-chelsea.jpg"][tags["cat-chelsea.jpg"].has("cat")].score.sum() > 0.8
    assert tags["coffee.jpg"][0].label == "espresso"
    assert "rocket" in tags["rocket.jpg"][0].ancestors or tags["rocket.jpg"][0].label == "missile"


def test_every_input_kind_gives_the_same_answer(engine):
    path = SAMPLES / "coffee.jpg"
    data = path.read_bytes()
    results = [
        engine.tag(x, top_k=1)[0] for x in (path, str(path), data, Image.open(io.BytesIO(data)), ocula.load_image(path))
    ]
    assert {r.label for r in results} == {"espresso"}
    np.testing.assert_allclose([r.score for r in results], results[0].score, atol=1e-6)


def test_exif_rotated_photo_is_tagged_upright(engine, tmp_path):
    photo = shared("imagenet/sample-334/images/n02099601_golden_retriever.JPEG")
    upright = Image.open(photo)
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # stored rotated...
    exif = sideways.getexif()
    exif[0x0112] = 6  # ...with the EXIF tag that says "rotate back to display"
    buf = io.BytesIO()
    sideways.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    assert engine.tag(buf.getvalue(), top_k=1)[0].label == "golden retriever"


def test_module_function_uses_a_temporary_engine(cache_dir, tmp_path):
    tags = ocula.tag([SAMPLES / "coffee.jpg", SAMPLES / "cat-chelsea.jpg"], top_k=2,
                     settings=Settings(data_dir=tmp_path, cache_dir=cache_dir))
    assert isinstance(tags, list) and isinstance(tags[0], ocula.Tags) and tags[0][0].label == "espresso"


def test_converted_graph_is_cached_by_weights_hash_and_rebuilt_if_broken(tmp_path):
    settings = Settings(data_dir=tmp_path / "d", cache_dir=tmp_path / "c")
    with Engine(settings) as engine:
        first = engine.tag(SAMPLES / "coffee.jpg", top_k=1)[0]
    (graph,) = (tmp_path / "c" / "onnx").glob("efficientnet_lite0-*.onnx")
    sha = ocula.get_model("efficientnet_lite0").files[0].sha256
    from ocula.models.convert.efficientnet_lite import CONVERTER_VERSION

    assert graph.name == f"efficientnet_lite0-{sha[:16]}-c{CONVERTER_VERSION}.onnx"
    assert [p.name for p in graph.parent.iterdir()] == [graph.name]  # no temporary files left
    stamp = graph.stat().st_mtime_ns
    with Engine(settings) as engine:
        engine.tag(SAMPLES / "coffee.jpg")
    assert graph.stat().st_mtime_ns == stamp  # reused, not rebuilt
    graph.write_bytes(b"garbage")
    with Engine(settings) as engine:
        again = engine.tag(SAMPLES / "coffee.jpg", top_k=1)[0]
    assert again.label == first.label and graph.stat().st_size > 1_000_000


def test_threads_setting_reaches_onnx_runtime(tmp_path, cache_dir):
    with Engine(Settings(data_dir=tmp_path, cache_dir=cache_dir, threads=1)) as engine:
        runner = engine.runner("efficientnet_lite0")
        assert runner._session.get_session_options().intra_op_num_threads == 1
    assert Settings(threads=0).effective_threads == len(os.sched_getaffinity(0))
