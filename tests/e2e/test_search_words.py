"""Search a collection by words, end to end, on a small folder of sample-334: "dogs" finds the
dogs, an unknown word is a one-line did-you-mean, a photo with words ranks by the stated rule,
a deleted item is never returned (deleted by another process while a collection stays open),
and a collection made before concept scores were stored asks for, then answers after, a reindex."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ocula.collections import Collection, NewItem
from ocula.errors import NoConceptScores, UnknownName
from ocula.io import load_image

from ..conftest import run_cli, shared

SAMPLE = "imagenet/sample-334/images"
DOGS = ["n02085936_Maltese_dog", "n02099601_golden_retriever", "n02093859_Kerry_blue_terrier", "n02113186_Cardigan"]
VEHICLES = ["n03769881_minibus", "n04461696_tow_truck", "n03895866_passenger_car"]
OTHERS = ["n02963159_cardigan", "n01440764_tench", "n01491361_tiger_shark", "n03840681_ocarina"]


def small_folder(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in names:
        os.symlink(shared(f"{SAMPLE}/{name}.JPEG"), folder / f"{name}.JPEG")
    return folder


@pytest.fixture
def words_collection(engine, tmp_path) -> str:
    name = f"words-{tmp_path.name}"[:60]
    engine.index_folder(small_folder(tmp_path, DOGS + VEHICLES + OTHERS), name)
    return name


def cli_env(engine) -> dict[str, str]:
    s = engine.settings
    return {"OCULA_DATA_DIR": str(s.data_dir), "OCULA_CACHE_DIR": str(s.cache_dir)}


def test_dogs_finds_the_dogs_and_each_match_says_what_it_shows(engine, words_collection):
    matches = engine.search_words("dogs", words_collection, k=len(DOGS))
    assert len(matches) == len(DOGS)
    assert {m.id.removesuffix(".JPEG") for m in matches} == set(DOGS)  # not the cardigan (a sweater)
    for m in matches:
        assert m.path and Path(m.path).name == m.id and m.concepts
        assert m.concepts[0]["concept"] == "dog" and m.score == pytest.approx(m.concepts[0]["score"], abs=1e-3)
    sweater = engine.search_words("cardigan", words_collection, k=1)
    assert [m.id for m in sweater] == ["n02963159_cardigan.JPEG"]
    with pytest.raises(UnknownName, match="did you mean"):
        engine.search_words("dgo", words_collection)


def test_photo_and_words_rank_by_similarity_times_word_score(engine, words_collection):
    query = shared(f"{SAMPLE}/{VEHICLES[0]}.JPEG")
    both = engine.search(query, words_collection, text="vehicle", k=3, windows=False)
    assert {m.id.removesuffix(".JPEG") for m in both} == set(VEHICLES)
    alone = {m.id: m.score for m in engine.search(query, words_collection, k=20, windows=False)}
    word = {m.id: m.score for m in engine.search_words("vehicle", words_collection, k=20)}
    for m in both:
        assert m.score == pytest.approx(alone[m.id] * word[m.id], rel=1e-3)
    assert [m.score for m in both] == sorted((m.score for m in both), reverse=True)


def test_photo_and_words_read_the_concepts_of_the_returned_items_only(engine, words_collection, monkeypatch):
    from ocula.engine import search

    described: list[object] = []
    real = search.top_concepts
    monkeypatch.setattr(search, "top_concepts", lambda scores: described.append(scores) or real(scores))
    query = shared(f"{SAMPLE}/{VEHICLES[0]}.JPEG")
    found = engine.search(query, words_collection, text="entity", k=1, windows=False)  # every item matches
    assert len(found) == 1 and found[0].concepts and len(described) == 1


def test_cli_words_json_and_unknown_word(engine, words_collection):
    env = cli_env(engine)
    proc = run_cli("search", "--text", "dog", "-c", words_collection, "-k", "2", "--json", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["text"] == "dog" and out["query"] is None and len(out["matches"]) == 2
    assert all(m["id"].removesuffix(".JPEG") in DOGS and m["concepts"] for m in out["matches"])
    proc = run_cli("search", "--text", "dgo", "-c", words_collection, env_extra=env)
    assert proc.returncode != 0 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "did you mean" in proc.stderr and "dingo" in proc.stderr


def test_an_item_deleted_by_another_process_is_never_returned(engine, words_collection):
    with Collection.open(words_collection, settings=engine.settings) as coll:  # kept open, as a server does
        first = engine.search_words("dog", coll, k=10)
        assert first and first[0].id.removesuffix(".JPEG") in DOGS
        proc = run_cli("items", "delete", first[0].id, "-c", words_collection, env_extra=cli_env(engine))
        assert proc.returncode == 0, proc.stderr
        after = engine.search_words("dog", coll, k=10)
        assert after and first[0].id not in {m.id for m in after}
        query = shared(f"{SAMPLE}/{first[0].id}")
        assert first[0].id not in {m.id for m in engine.search(query, coll, text="dog", k=10, windows=False)}


def test_a_collection_from_before_concept_scores_asks_for_a_reindex(engine, tmp_path):
    name = f"old-{tmp_path.name}"[:60]
    folder = small_folder(tmp_path, DOGS[:1] + VEHICLES[:1])
    embedder = engine.search_service.image_embedder()
    paths = sorted(folder.iterdir())
    _, vectors, _ = engine.search_service.embed_all(paths)
    # Made as ocula made collections before: no concepts stamp, no concept scores.
    with Collection.open(name, settings=engine.settings, embedder=embedder.stamp, dim=embedder.dim, create=True) as c:
        c.add([NewItem(p.name, v[None].astype(np.float32), path=str(p)) for p, v in zip(paths, vectors, strict=True)])
    with pytest.raises(NoConceptScores, match=f"ocula reindex --collection {name}"):
        engine.search_words("dog", name)
    proc = run_cli("search", "--text", "dog", "-c", name, env_extra=cli_env(engine))
    assert proc.returncode != 0 and "ocula reindex" in proc.stderr
    engine.reindex(name)
    assert [m.id for m in engine.search_words("dog", name, k=1)] == [f"{DOGS[0]}.JPEG"]
    shutil.rmtree(folder)


def test_one_forward_pass_gives_the_same_vector_and_the_class_probabilities(engine):
    embedder = engine.search_service.image_embedder()
    prepared = [embedder.prepare(load_image(shared(f"{SAMPLE}/{name}.JPEG"))) for name in DOGS[:2] + VEHICLES[:1]]
    vectors, probabilities = embedder.embed_and_classify(prepared)
    np.testing.assert_allclose(vectors, embedder.embed(prepared), atol=1e-5)  # the stamp's vectors, unchanged
    assert probabilities.shape == (3, 1000)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    labels = engine.tagger("fast").taxonomy.classes
    assert [labels[i] for i in probabilities.argmax(axis=1)] == ["n02085936", "n02099601", "n03769881"]



def test_the_network_runs_a_few_images_at_a_time_with_the_same_numbers(engine):
    """A query's 10 parts (or an indexing batch) go through EfficientNet CHUNK images a call
    (faster: the activations stay in the caches, benchmarks/network_chunks.py), and the network's
    outputs are the same bits as one call on the whole batch gives."""
    from ocula.models.backends.base import CHUNK, run_in_chunks
    from ocula.pipelines.preprocess import to_tensor
    from ocula.pipelines.search_embed import LOGITS

    embedder = engine.search_service.image_embedder()
    image = load_image(shared(f"{SAMPLE}/{DOGS[0]}.JPEG"))
    prepared = [embedder.prepare(image[: 200 + 20 * i]) for i in range(5)]
    real, sizes = embedder.runner, []

    class Counting:  # the real network, its calls' batch sizes noted
        def run(self, inputs, outputs=None):
            sizes.append(len(inputs["input"]))
            return real.run(inputs, outputs)

    embedder.runner = Counting()
    try:
        embedder.embed_and_classify(prepared)
    finally:
        embedder.runner = real
    assert 1 < CHUNK < 5 and sizes == [CHUNK] * (5 // CHUNK) + [5 % CHUNK]
    x = to_tensor(np.stack(prepared), embedder.spec.preprocess)
    names = (embedder.recipe.output, LOGITS)
    chunked, whole = run_in_chunks(real, "input", x, names), real.run({"input": x}, names)
    for name in names:
        np.testing.assert_array_equal(chunked[name], whole[name])
