"""One result shape (issue 18, item 4): Tags and Faces index alike (an int gives one record, a
slice or mask the same class), convert alike (``to_dicts``), and their per-input results share
one base whose ``error`` is an OculaError; a collection lists its items as ``Item`` records."""

from __future__ import annotations

import typing

import numpy as np

from ocula import Face, FaceResult, Faces, Settings, Tag, TagResult, Tags
from ocula.collections import Collection, Item, NewItem
from ocula.errors import OculaError
from ocula.types import InputResult


def _tags() -> Tags:
    return Tags.from_records([Tag("tabby", "n02123045", 281, 0.6, ("cat",)), Tag("dog", "n02084071", None, 0.3, ())])


def _faces() -> Faces:
    z = np.zeros(2, np.float32)
    boxes = np.array([[0, 0, 40, 40], [50, 0, 70, 20]], np.float32)
    return Faces(boxes, z + 0.9, np.zeros((2, 5, 2), np.float32), z + 30, z + 0.01, z + 0.9)


def test_tags_and_faces_follow_one_indexing_rule():
    for many, record in ((_tags(), Tag), (_faces(), Face)):
        assert isinstance(many[0], record) and isinstance(many[-1], record)
        assert [type(x) for x in many] == [record, record]
        assert type(many[:1]) is type(many) and len(many[:1]) == 1
        assert type(many[np.array([True, False])]) is type(many)
        assert many.to_dicts()[0] == many[0].to_dict()  # one converter name, records alike
        assert not hasattr(many, "to_list")


def test_tag_and_face_results_share_one_base_with_an_ocula_error():
    for result in (TagResult, FaceResult):
        assert issubclass(result, InputResult)
        assert typing.get_type_hints(result)["error"] == OculaError | None
    failed = FaceResult("a.jpg", error=OculaError("a.jpg: unreadable"))
    assert not failed.ok and TagResult("b.jpg", tags=_tags()).ok


def test_collection_items_are_item_records(tmp_path, cache_dir):
    settings = Settings(data_dir=tmp_path / "data", cache_dir=cache_dir, offline=True)
    vectors = np.eye(2, 8, dtype=np.float32)
    with Collection.open("c", settings=settings, embedder="test@1", dim=8, create=True) as c:
        c.add([NewItem("a", vectors, path="/p/a.jpg", metadata={"k": 1}, source="/p"), NewItem("b", vectors[:1])])
        items = list(c.items())
    assert items and all(isinstance(i, Item) for i in items)
    assert items[0] == Item("a", "/p/a.jpg", None, {"k": 1}, 2, "/p")
    assert (items[1].id, items[1].n_vectors, items[1].source) == ("b", 1, None)
