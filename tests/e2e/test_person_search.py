"""``ocula search --person`` (issue 19): a collection's stored faces searched with a gallery's
templates, resolved at query time, so a forgotten person is found nowhere at once."""

from __future__ import annotations

import json

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
