"""The tagging pipeline and Engine batching, on fake runners (the real models are tested e2e)."""

from __future__ import annotations

import numpy as np
import pytest

from ocula import Engine, ImageDecodeError, ImageNotFound, Settings, UnknownName
from ocula.models.backends.fake import FakeRunner
from ocula.pipelines.tag import PRESETS, softmax

GOLDEN_RETRIEVER, TABBY, LABRADOR = 207, 281, 208


def logits_for(batch: np.ndarray) -> np.ndarray:
    """Fake classifier: bright images are golden retrievers, dark ones tabbies, and an image
    brighter on its left than its right is a Labrador (so mirroring matters)."""
    out = np.zeros((len(batch), 1000), np.float32)
    mean = batch.mean(axis=(1, 2, 3))
    left_brighter = (
        batch[:, :, :, : batch.shape[3] // 2].mean(axis=(1, 2, 3))
        > batch[:, :, :, batch.shape[3] // 2 :].mean(axis=(1, 2, 3)) + 0.5
    )
    out[np.arange(len(batch)), np.where(left_brighter, LABRADOR, np.where(mean > 0, GOLDEN_RETRIEVER, TABBY))] = 12.0
    return out


@pytest.fixture
def fake_engine(tmp_path):
    runners = {}

    def factory(spec, settings):
        runners[spec.name] = FakeRunner(lambda inputs: {"logits": logits_for(inputs["input"])}, name=spec.name)
        return runners[spec.name]

    engine = Engine(Settings(data_dir=tmp_path, cache_dir=tmp_path, batch_size=4), runner_factory=factory)
    engine.fake_runners = runners
    yield engine
    engine.close()
    assert all(r.closed for r in runners.values())


def bright(n=1):
    return [np.full((50, 80, 3), 230, np.uint8) for _ in range(n)]


def dark(n=1):
    return [np.full((50, 80, 3), 20, np.uint8) for _ in range(n)]


def test_fast_tags_with_ancestors(fake_engine):
    tags = fake_engine.tag(bright()[0], top_k=3)
    assert tags[0].label == "golden retriever" and "dog" in tags[0].ancestors
    assert len(tags) == 3 and tags.score[0] > 0.99
    assert fake_engine.fake_runners["efficientnet_lite0"].calls == [{"input": (1, 3, 224, 224)}]


def test_batches_keep_order(fake_engine):
    from ocula.models.backends.base import CHUNK

    images = bright(3) + dark(4)
    tags = fake_engine.tag(images, top_k=1)
    assert [t[0].label for t in tags] == ["golden retriever"] * 3 + ["tabby"] * 4
    shapes = [c["input"][0] for c in fake_engine.fake_runners["efficientnet_lite0"].calls]
    assert CHUNK == 2 and shapes == [2, 2, 2, 1]  # batch_size 4: batches of 4 and 3, CHUNK images a call


def test_levels_sum_probabilities_under_a_concept(fake_engine):
    tags = fake_engine.tag(bright()[0], levels=["cat", "dog", "animal"])
    assert list(tags.label) == ["animal", "dog", "cat"]  # sorted by score; "animal" holds every dog
    scores = dict(zip(tags.label, tags.score, strict=True))
    assert scores["dog"] > 0.99 and scores["animal"] > scores["dog"] and scores["cat"] < 0.01
    assert all(t.class_index is None for t in tags)


def test_level_that_is_a_class_keeps_its_index(fake_engine):
    (t,) = fake_engine.tag(bright()[0], levels=["golden retriever"])
    assert t.class_index == GOLDEN_RETRIEVER


def test_levels_accept_one_string_and_count_synonyms_once(fake_engine):
    (t,) = fake_engine.tag(bright()[0], levels="dog")
    assert t.label == "dog"
    assert list(fake_engine.tag(bright()[0], levels=["dog", "domestic dog", "n02084071", "cat"]).label) == [
        "dog",
        "cat",
    ]


def test_levels_and_within_do_not_combine(fake_engine):
    from ocula import InputError

    with pytest.raises(InputError, match="do not combine"):
        fake_engine.tag(bright()[0], levels=["dog"], within="dog")


def test_within_and_min_score(fake_engine):
    tags = fake_engine.tag(dark()[0], within="dog", top_k=3)
    assert len(tags) == 3 and all("dog" in t.ancestors for t in tags)
    assert len(fake_engine.tag(dark()[0], min_score=0.5)) == 1


def test_unknown_names_fail_before_any_work(fake_engine):
    with pytest.raises(UnknownName, match="preset"):
        fake_engine.tag(bright()[0], preset="slow")
    with pytest.raises(UnknownName, match="concept"):
        fake_engine.tag_many(bright(), levels=["dgo"])
    assert fake_engine.fake_runners["efficientnet_lite0"].calls == []


def test_bad_inputs_do_not_stop_the_stream(fake_engine, tmp_path):
    (tmp_path / "text.jpg").write_text("not an image")
    sources = [bright()[0], tmp_path / "text.jpg", dark()[0], tmp_path / "missing.png", bright()[0]]
    results = list(fake_engine.tag_many(sources, top_k=1))
    assert [r.ok for r in results] == [True, False, True, False, True]
    assert isinstance(results[1].error, ImageDecodeError) and isinstance(results[3].error, ImageNotFound)
    assert results[1].source.endswith("text.jpg") and results[0].source == "<ndarray>"
    assert [r.tags[0].label for r in results if r.ok] == ["golden retriever", "tabby", "golden retriever"]
    with pytest.raises(ImageDecodeError):
        fake_engine.tag(sources[:2])


def test_accurate_averages_every_model_and_view(fake_engine):
    image = np.full((60, 90, 3), 20, np.uint8)
    image[:, :45] = 255  # bright left half: Labrador as is; mirrored, just bright: golden retriever
    tags = fake_engine.tag(image, preset="accurate", top_k=2)
    assert {tags[0].label, tags[1].label} == {"Labrador retriever", "golden retriever"}
    np.testing.assert_allclose(tags.score, [0.497, 0.497], atol=1e-3)  # e^12 / (e^12 + 999) / 2
    preset = PRESETS["accurate"]
    for member in preset.members:
        calls = fake_engine.fake_runners[member.model].calls
        assert len(calls) == len(member.views)
    sizes = sorted({c["input"][2] for r in fake_engine.fake_runners.values() for c in r.calls})
    assert sizes == [224, 240, 256, 260, 272, 296]


def test_softmax_is_stable():
    p = softmax(np.array([[1000.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(p, [[1.0, 0.0], [0.5, 0.5]])


def test_below_the_floor_nothing_is_recognised_but_the_guesses_stay(fake_engine):
    tagger = fake_engine.tagger("fast")
    flat = np.full(1000, 1 / 1000, np.float32)
    flat[GOLDEN_RETRIEVER] += 0.02  # the best guess, far below any floor
    guesses = tagger.to_tags(flat / flat.sum(), top_k=3)
    assert not guesses.recognised and len(guesses) == 3 and guesses[0].label == "golden retriever"
    assert guesses.to_dict()["recognised"] is False and "nothing recognised" in repr(guesses)
    assert not guesses[:1].recognised  # slicing keeps what the image was judged
    sure = tagger.to_tags(softmax(logits_for(np.ones((1, 3, 8, 8), np.float32)).astype(np.float64))[0])
    assert sure.recognised and sure.to_dict()["recognised"] is True
    # The floor is the preset's unless given; levels are judged by the best concept.
    assert tagger.to_tags(flat / flat.sum(), recognised_at=0.01).recognised
    assert not tagger.to_tags(flat / flat.sum(), levels=["cat"]).recognised
    assert 0 < PRESETS["fast"].recognised_at < 1 and 0 < PRESETS["accurate"].recognised_at < 1


def test_within_a_concept_scores_are_conditional_and_the_concept_keeps_its_own(fake_engine):
    tagger = fake_engine.tagger("fast")
    probs = np.full(1000, 0.9 / 882, np.float64)  # the 882 classes that are not dogs share 0.9
    probs[151:269] = 0.0  # ImageNet's 118 dog breeds share the other 0.1, the golden most
    probs[GOLDEN_RETRIEVER], probs[LABRADOR] = 0.06, 0.04
    tags = tagger.to_tags(probs, top_k=118, within="dog")
    assert tags.within is not None and tags.within.concept == "dog" and abs(tags.within.score - 0.1) < 1e-6
    assert [t.label for t in tags[:2]] == ["golden retriever", "Labrador retriever"]
    assert abs(tags.score[0] - 0.6) < 1e-5 and abs(tags.score[1] - 0.4) < 1e-5
    assert abs(tags.score.sum() - 1) < 1e-5  # p(breed | dog) over every breed
    doc = tags[:1].to_dict()
    assert doc["within"] == {"concept": "dog", "wnid": "n02084071", "score": 0.1}
    assert doc["tags"][0]["score"] == 0.6 and doc["tags"][0]["probability"] == 0.06
    assert not tags.recognised  # the photo is 0.1 dog: below the floor, the breeds are guesses
    assert tagger.to_tags(probs, within="dog", recognised_at=0.05).recognised


def test_a_bad_floor_is_an_input_error(fake_engine):
    from ocula import InputError

    with pytest.raises(InputError, match="recognised_at"):
        fake_engine.tag(bright()[0], recognised_at=1.5)


def test_the_cli_headline_says_what_the_scores_mean(fake_engine):
    from ocula.cli.tag import _headline

    tagger = fake_engine.tagger("fast")
    assert (
        _headline(tagger.to_tags(softmax(logits_for(np.ones((1, 3, 8, 8), np.float32)).astype(np.float64))[0])) is None
    )
    flat = np.full(1000, 1 / 1000)
    flat[GOLDEN_RETRIEVER] = 0.038
    assert _headline(tagger.to_tags(flat / flat.sum())) == "nothing recognised (best guess: golden retriever 0.037)"
