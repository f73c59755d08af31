"""A collection's stored faces (issue 19): rows round trip, go with their item, one descriptor
per collection; the search by person's similarity matches ocula's face similarity."""

from __future__ import annotations

import numpy as np
import pytest

from ocula import InputError, Settings
from ocula.collections import Collection, ItemFaces, NewItem
from ocula.galleries.person_search import best_similarities
from ocula.pipelines.faces import similarity


def unit(rng, n, d):
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def coll(tmp_path, cache_dir):
    settings = Settings(data_dir=tmp_path / "data", cache_dir=cache_dir, offline=True)
    with Collection.open("photos", settings=settings, embedder="test@1", dim=8, create=True) as c:
        yield c


def item(rng, item_id, n_faces, *, descriptor="sface_face@1", metadata=None):
    faces = ItemFaces(descriptor, rng.uniform(0, 500, size=(n_faces, 4)), unit(rng, n_faces, 128))
    return NewItem(item_id, unit(rng, 1, 8), path=f"/p/{item_id}.jpg", metadata=metadata or {}, faces=faces)


def files_of(coll) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(coll.path.iterdir()) if p.is_file())


def test_faces_round_trip_and_name_the_descriptor(coll):
    rng = np.random.default_rng(0)
    two, none = item(rng, "a", 2), item(rng, "b", 0)
    coll.add([two, none, NewItem("c", unit(rng, 1, 8))])  # c: not searched for faces
    assert coll.faces_descriptor == "sface_face@1"
    stored = coll.faces("a")
    np.testing.assert_array_equal(stored.descriptors, two.faces.descriptors)
    np.testing.assert_allclose(stored.boxes, two.faces.boxes, atol=0.05)  # kept to 0.1 px
    assert len(coll.faces("b").boxes) == 0
    rows = coll.face_rows()
    assert rows.item_ids == ["a", "a"] and rows.descriptors.shape == (2, 128)


def test_faces_go_with_their_item_deleted_replaced_or_erased(coll):
    rng = np.random.default_rng(1)
    erased = item(rng, "c", 3)
    coll.add([item(rng, "a", 2), item(rng, "b", 1), erased])
    assert len(coll.face_rows().item_ids) == 6
    coll.delete(["a"])
    coll.add([NewItem("b", unit(rng, 1, 8))])  # replaced without faces: the old ones go
    assert coll.face_rows().item_ids == ["c", "c", "c"]
    assert erased.faces.descriptors[0].tobytes() in files_of(coll)  # what the check below looks for
    assert not coll.erase(["c"]).pending
    assert coll.face_rows().item_ids == []
    assert coll._db.execute("SELECT COUNT(*) FROM item_faces").fetchone()[0] == 0
    # Erased means gone from the store's files too (secure_delete, the WAL truncated).
    stored = files_of(coll)
    assert all(d.tobytes() not in stored for d in erased.faces.descriptors)


def test_deleting_an_item_with_faces_erases_them_from_the_files(coll):
    rng = np.random.default_rng(5)
    deleted, kept = item(rng, "sub/a.jpg", 2), item(rng, "b", 1)
    coll.add([deleted, kept])
    assert deleted.faces.descriptors[0].tobytes() in files_of(coll)  # what the check below looks for
    assert coll.delete(["sub/a.jpg"]) == 1
    stored = files_of(coll)  # the store stays open: nothing waits for a close to clean the files
    assert all(d.tobytes() not in stored for d in deleted.faces.descriptors)
    assert kept.faces.descriptors[0].tobytes() in stored
    assert coll.unfinished_erasures() == 0


def test_face_rows_follow_a_metadata_filter(coll):
    rng = np.random.default_rng(2)
    coll.add([item(rng, "old", 1, metadata={"year": 2010}), item(rng, "new", 2, metadata={"year": 2021})])
    assert coll.face_rows("year >= 2020").item_ids == ["new", "new"]
    with pytest.raises(InputError):
        coll.face_rows("year >>= 1")


def test_faces_of_another_descriptor_are_refused(coll):
    rng = np.random.default_rng(3)
    coll.add([item(rng, "a", 1)])
    with pytest.raises(InputError, match="described by sface_face@1"):
        coll.add([item(rng, "b", 1, descriptor="dlib_resnet_face@dlib-20")])
    assert coll.get("b") is None  # the whole transaction is refused


def test_best_similarity_is_the_face_similarity_of_the_closest_template():
    rng = np.random.default_rng(4)
    faces, templates = unit(rng, 5, 128) * 1.1, unit(rng, 3, 128)  # not unit length: dlib's are not
    expected = np.array([max(similarity(f, t) for t in templates) for f in faces])
    np.testing.assert_allclose(best_similarities(faces, templates), expected, atol=1e-5)
    assert best_similarities(faces[:0], templates).shape == (0,)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["photo.jpg", "--person", "obama", "-g", "g", "--region", "1,2"], "--region takes x0,y0,x1,y1"),
        (["--text", "dog", "-g", "g"], "--person and --gallery go together"),
        (["--person", "obama"], "--person and --gallery go together"),
        ([], "give a query PHOTO, --text WORDS (or both), or --person NAME --gallery G"),
    ],
)
def test_search_refuses_a_person_search_it_cannot_run(args, message, tmp_path):
    from click.testing import CliRunner

    from ocula.cli import cli_command

    result = CliRunner().invoke(
        cli_command(), ["search", *args, "-c", "c"], prog_name="ocula", env={"OCULA_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 1 and message in result.output, result.output


def test_a_face_closer_to_another_enrolled_person_is_not_found_for_this_one(tmp_path, cache_dir):
    """As ``faces identify`` names a face: the closest person, if they reach the threshold. A
    face of B that also reaches A's threshold is found for B only."""
    from ocula.engine.search import item_faces_stamp
    from ocula.galleries import Gallery, search_person
    from ocula.galleries.enrolment import store_templates

    settings = Settings(data_dir=tmp_path / "data", cache_dir=cache_dir, offline=True)
    rng = np.random.default_rng(5)
    a = unit(rng, 1, 128)[0]
    b = a + 0.9 * unit(rng, 1, 128)[0]  # similarity to a of about 0.6: above SFace's threshold (~0.4)
    b /= np.linalg.norm(b)
    with Gallery.open("g", settings=settings, create=True, descriptor="sface") as g:  # 128-D SFace-like vectors
        store_templates(g._coll, "alice", a[None], [{}])
        store_templates(g._coll, "bob", b[None], [{}])
        assert similarity(a, b) > g.threshold().threshold
        with Collection.open("photos", settings=settings, embedder="test@1", dim=8, create=True) as c:
            boxes = np.zeros((1, 4))
            c.add(
                NewItem(name, unit(rng, 1, 8), faces=ItemFaces(item_faces_stamp(g.descriptor), boxes, face[None]))
                for name, face in (("of-alice", a), ("of-bob", b))
            )
            assert [m.id for m in search_person(g, c, "alice").matches] == ["of-alice"]
            assert [m.id for m in search_person(g, c, "bob").matches] == ["of-bob"]
