"""``ocula search --person`` (issue 19): a collection's stored faces searched with a gallery's
templates, resolved at query time, so a forgotten person is found nowhere at once."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ocula.collections import Collection
from ocula.errors import InputError, UnknownName
from ocula.galleries import Gallery, search_person

from ..conftest import run_cli, shared

EXAMPLES = "faces/face-recognition-examples/examples/knn_examples"
#: Indexed photos, none of them enrolled: two show Obama (one beside Biden), three do not.
INDEXED = {
    "obama1.jpg": "test/obama1.jpg",
    "obama_and_biden.jpg": "test/obama_and_biden.jpg",
    "biden.jpg": "train/biden/biden2.jpg",
    "alex.jpg": "test/alex_lacamoire1.jpg",
    "kit_with_rose.jpg": "test/kit_with_rose.jpg",
}


@pytest.fixture
def indexed(engine, tmp_path):
    """A collection of the photos of INDEXED and a gallery where Obama is enrolled (2 photos)."""
    examples = shared(EXAMPLES)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, relative in INDEXED.items():
        (folder / name).symlink_to(examples / relative)
    collection, gallery = f"people-{tmp_path.name}", f"g-{tmp_path.name}"
    report = engine.index_folder(folder, collection)
    assert report.added == len(INDEXED) and not report.failed
    with Gallery.open(gallery, engine=engine, create=True) as g:
        g.enroll("obama", [examples / "train/obama/obama.jpg", examples / "train/obama/obama2.jpg"])
    return collection, gallery


def test_a_person_is_found_in_their_photos_only_then_nowhere_once_forgotten(engine, indexed):
    collection, gallery = indexed
    with Gallery.open(gallery, engine=engine) as g, Collection.open(collection, settings=engine.settings) as c:
        found = search_person(g, c, "obama")
        assert found.matches, "Obama is in two of the indexed photos"
        assert {m.id for m in found.matches} == {"obama1.jpg", "obama_and_biden.jpg"}
        for m in found.matches:
            assert m.similarity >= found.threshold and len(m.box) == 4
        beside_biden = next(m for m in found.matches if m.id == "obama_and_biden.jpg")
        faces = c.faces("obama_and_biden.jpg")
        assert len(faces.boxes) >= 2  # the box names which of the photo's faces is Obama
        assert [round(v, 1) for v in beside_biden.box] in [[round(float(v), 1) for v in b] for b in faces.boxes]
    env = {"OCULA_DATA_DIR": str(engine.settings.data_dir), "OCULA_CACHE_DIR": str(engine.settings.cache_dir)}
    forgot = run_cli("faces", "forget", "obama", "-g", gallery, env_extra=env)
    assert forgot.returncode == 0, forgot.stderr
    after = run_cli("search", "--person", "obama", "--gallery", gallery, "-c", collection, "--json", env_extra=env)
    assert after.returncode != 0 and "unknown person 'obama'" in json.loads(after.stdout)["error"], after.stdout
    with Gallery.open(gallery, engine=engine) as g, Collection.open(collection, settings=engine.settings) as c:
        with pytest.raises(UnknownName):
            search_person(g, c, "obama")


def test_reindex_stores_the_faces_of_a_collection_indexed_without_them(engine, tmp_path):
    examples = shared(EXAMPLES)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("obama1.jpg", "alex.jpg"):
        (folder / name).symlink_to(examples / INDEXED[name])
    collection, gallery = f"nofaces-{tmp_path.name}", f"g2-{tmp_path.name}"
    assert engine.index_folder(folder, collection, faces=False).added == 2
    with Gallery.open(gallery, engine=engine, create=True) as g:
        g.enroll("obama", [examples / "train/obama/obama2.jpg"])
        with Collection.open(collection, settings=engine.settings) as c, pytest.raises(InputError, match="reindex"):
            search_person(g, c, "obama")
        assert engine.reindex(collection).added == 2
        with Collection.open(collection, settings=engine.settings) as c:
            assert [m.id for m in search_person(g, c, "obama").matches] == ["obama1.jpg"]


def test_person_words_and_where_combine_ranked_by_face_similarity_times_word_score(engine, indexed):
    collection, gallery = indexed
    with Gallery.open(gallery, engine=engine) as g, Collection.open(collection, settings=engine.settings) as c:
        c.set_metadata({"obama1.jpg": {"year": 2021}, "obama_and_biden.jpg": {"year": 2012}})
        alone = {m.id: m.similarity for m in search_person(g, c, "obama").matches}
        assert set(alone) == {"obama1.jpg", "obama_and_biden.jpg"}
        words = {m.id: m.score for m in engine.search_words("necktie", c, k=len(INDEXED))}
        both = search_person(g, c, "obama", text="necktie")
        assert both.matches, "Obama wears a necktie in at least one photo"
        assert {m.id for m in both.matches} == set(alone) & set(words)  # the person AND the words
        for m in both.matches:
            assert m.rank_score == pytest.approx(alone[m.id] * words[m.id], rel=1e-4) and m.concepts
        assert [m.rank_score for m in both.matches] == sorted((m.rank_score for m in both.matches), reverse=True)
        recent = search_person(g, c, "obama", text="necktie", where="year >= 2020")
        assert [m.id for m in recent.matches] == ["obama1.jpg"]


def test_person_and_photo_rank_the_persons_items_by_similarity_to_the_photo(engine, indexed):
    collection, gallery = indexed
    photo = shared(EXAMPLES) / INDEXED["obama_and_biden.jpg"]
    with Gallery.open(gallery, engine=engine) as g, Collection.open(collection, settings=engine.settings) as c:
        alone = {m.id: m.similarity for m in search_person(g, c, "obama").matches}
        similar = {m.id: m.score for m in engine.search(photo, c, k=len(INDEXED), windows=False)}
        found = search_person(g, c, "obama", photo=photo, windows=False)
        assert [m.id for m in found.matches] == ["obama_and_biden.jpg", "obama1.jpg"]  # the photo itself first
        for m in found.matches:
            assert m.rank_score == pytest.approx(alone[m.id] * similar[m.id], rel=1e-4)


def test_cli_person_with_words(engine, indexed):
    collection, gallery = indexed
    env = {"OCULA_DATA_DIR": str(engine.settings.data_dir), "OCULA_CACHE_DIR": str(engine.settings.cache_dir)}
    args = ("search", "--person", "obama", "-g", gallery, "--text", "necktie", "-c", collection)
    proc = run_cli(*args, "--json", env_extra=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["text"] == "necktie" and out["person"] == "obama" and out["matches"]
    for m in out["matches"]:
        assert m["id"] in {"obama1.jpg", "obama_and_biden.jpg"} and m["concepts"] and m["score"] <= m["similarity"]
    table = run_cli(*args, env_extra=env)
    assert table.returncode == 0 and "obama1.jpg" in table.stdout, table.stdout + table.stderr


def test_photos_added_to_a_collection_of_sface_faces_are_described_by_sface(engine, tmp_path):
    """A collection indexed while SFace was the default keeps SFace for the photos added later
    (its faces stay comparable with each other and with an SFace gallery) instead of failing
    every new photo until it is reindexed."""
    from ocula.collections import ItemFaces, NewItem
    from ocula.engine.search import item_faces_stamp
    from ocula.pipelines.faces import Descriptor

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "obama1.jpg").symlink_to(shared(EXAMPLES) / INDEXED["obama1.jpg"])
    name = f"v2-{tmp_path.name}"
    old_faces = ItemFaces(item_faces_stamp(Descriptor.SFACE), np.zeros((0, 4)), np.zeros((0, 128), np.float32))
    with engine.open_collection(name, create=True) as c:  # as an index run with SFace stored it
        c.add([NewItem("before.jpg", np.eye(1, c.dim, dtype=np.float32), faces=old_faces)])
    report = engine.index_folder(folder, name)
    assert report.added == 1 and not report.failed, report.failed
    with Collection.open(name, settings=engine.settings) as c:
        faces = c.faces("obama1.jpg")
        assert c.faces_descriptor == faces.descriptor == item_faces_stamp(Descriptor.SFACE)
        assert faces.descriptors.shape == (1, 128)
