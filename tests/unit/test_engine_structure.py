"""The Engine's structure (issue 18): typed parameters, named options and results, one helper
for each shared job (decoding ahead, hashing, choosing a face, EER, swapping a rebuilt store)."""

from __future__ import annotations

import dataclasses
import inspect
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from ocula import Engine, Settings
from ocula.collections import Collection, NewItem, collection_path, swap_collection
from ocula.engine.decode import decode_ahead
from ocula.engine.results import Dedupe, Duplicate, Embedded, Unreadable
from ocula.errors import ImageDecodeError, ImageError, ImageTooLarge, InputError, NoFaceFound
from ocula.eval.report import pairs_by_group
from ocula.eval.verification import roc
from ocula.hashing import file_sha256
from ocula.models.registry import get_model
from ocula.pipelines.faces import FaceOptions, face_at
from ocula.pipelines.search_embed import SEARCH_MODEL, ImageEmbedder

from ..conftest import shared

SRC = Path(__file__).resolve().parents[2] / "src" / "ocula"


def test_no_parameter_is_typed_any_to_dodge_an_import_cycle():
    pattern = re.compile(r"\b(engine|gallery|settings|_lock): Any\b")
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 100
    found = [f"{p.relative_to(SRC)}:{i}" for p in files for i, line in enumerate(p.read_text().splitlines(), 1)
             if pattern.search(line)]  # fmt: skip
    assert found == []


@pytest.mark.parametrize("verb", [Engine.faces, Engine.faces_many])
def test_faces_takes_every_face_option_by_name(verb):
    params = inspect.signature(verb).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = {n: p.default for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
    fields = {f.name: f.default for f in dataclasses.fields(FaceOptions)}
    assert named == fields


def test_the_search_recipe_is_the_registry_entrys():
    spec = get_model(SEARCH_MODEL)
    assert spec.search is not None
    assert (spec.search.input_size, spec.search.gem_p, spec.search.dim) == (288, 3.0, 1280)
    embedder = ImageEmbedder(spec, runner=None)  # type: ignore[arg-type]  # builds nothing
    # The stamp every existing collection carries: unchanged, so none needs a reindex.
    assert (embedder.dim, embedder.stamp) == (1280, "efficientnet_lite0@57934424/gem3-288-l2-v2")
    assert embedder.prepare(np.zeros((400, 600, 3), np.uint8)).shape == (288, 288, 3)


def test_decode_ahead_keeps_order_types_errors_and_stays_a_bounded_distance_ahead():
    pulled = []

    def sources():
        for s in ["a", "bad", "b", "huge", "c", "d", "e", "f"]:
            pulled.append(s)
            yield s

    def decode(source: str) -> str:
        if source == "bad":
            raise ImageDecodeError(f"{source}: not an image")
        if source == "huge":
            raise MemoryError
        return source.upper()

    before = set(threading.enumerate())  # other tests' threads (a decode-ahead daemon) are not ours
    stream = decode_ahead(sources(), decode, ahead=2)
    first = next(stream)
    assert (first.name, first.value, first.error) == ("a", "A", None)
    assert len(pulled) <= 3  # two ahead of the one handed out, never the whole stream
    rest = list(stream)
    assert [d.name for d in rest] == ["bad", "b", "huge", "c", "d", "e", "f"]
    assert [d.value for d in rest] == [None, "B", None, "C", "D", "E", "F"]
    assert isinstance(rest[0].error, ImageDecodeError)
    assert isinstance(rest[2].error, ImageError) and "out of memory" in str(rest[2].error)
    assert not [t for t in set(threading.enumerate()) - before if t.name.startswith("ocula-decode_")]


def test_file_sha256_of_a_path_an_open_file_and_past_a_limit(tmp_path):
    import hashlib

    data = b"x" * (3 << 20) + b"tail"
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert file_sha256(path) == expected
    with path.open("rb") as fh:
        assert file_sha256(fh, max_bytes=len(data)) == expected
    with path.open("rb") as fh:
        assert file_sha256(fh, max_bytes=len(data) - 1) is None


def test_face_at_picks_a_face_or_says_why_not():
    with pytest.raises(NoFaceFound):
        face_at([], None, "p.jpg")  # type: ignore[arg-type]  # only its length is read
    two = [object(), object()]
    assert [face_at(two, i, "p.jpg") for i in (None, 0, 1, -1, -2)] == [0, 0, 1, 1, 0]  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^p\.jpg: face 2 asked for, but 2 found$"):
        face_at(two, 2, "p.jpg")  # type: ignore[arg-type]


def test_the_per_group_eer_is_the_sections_eer():
    """One EER: a group of every pair shows the EER of the section's own table (``Roc.eer``,
    interpolated), which the nearest-point EER the group table used (22.50% here) was not."""
    scores = np.array([0.9, 0.8, 0.45, 0.4, 0.5, 0.3, 0.2, 0.1, 0.42])
    same = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0], bool)
    (row,), _ = pairs_by_group(scores, same, np.array(["all"] * len(scores)))
    assert roc(scores, same).eer == 0.25 and row[3] == "25.00%"


def test_swap_collection_puts_the_rebuilt_one_in_place(tmp_path):
    settings = Settings(data_dir=tmp_path)
    for name, ids in (("shop", ["old"]), ("shop.rebuilt", ["new1", "new2"])):
        with Collection.open(name, settings=settings, embedder="e", dim=2, create=True) as coll:
            coll.add([NewItem(i, np.ones((1, 2), np.float32)) for i in ids])
    swap_collection("shop", "shop.rebuilt", settings)
    with Collection.open("shop", settings=settings) as coll:
        assert sorted(item.id for item in coll.items()) == ["new1", "new2"]
    assert not collection_path("shop.rebuilt", settings).exists()
    assert not collection_path("shop.retired", settings).exists()
    with pytest.raises(OSError):  # nothing to swap in: the old one is put back
        swap_collection("shop", "shop.rebuilt", settings)
    with Collection.open("shop", settings=settings) as coll:
        assert len(list(coll.items())) == 2


def test_a_swap_exchanges_the_two_stores_in_one_step_on_linux(tmp_path, monkeypatch):
    """Review of issue 17: a process killed between the swap's two renames left no store under
    the collection's name. On Linux the two folders are exchanged in one atomic step instead
    (renameat2 RENAME_EXCHANGE): no rename aside happens at all. Elsewhere, the two renames."""
    from ocula.collections import swap

    settings = Settings(data_dir=tmp_path)
    for name, ids in (("shop", ["old"]), ("shop.rebuilt", ["new"])):
        with Collection.open(name, settings=settings, embedder="e", dim=2, create=True) as coll:
            coll.add([NewItem(i, np.ones((1, 2), np.float32)) for i in ids])
    renamed: list[str] = []
    rename = Path.rename
    monkeypatch.setattr(Path, "rename", lambda self, to: (renamed.append(self.name), rename(self, to))[1])
    swap_collection("shop", "shop.rebuilt", settings)
    with Collection.open("shop", settings=settings) as coll:
        assert [item.id for item in coll.items()] == ["new"]
    assert not collection_path("shop.rebuilt", settings).exists()
    probe_a, probe_b = tmp_path / "probe-a", tmp_path / "probe-b"
    probe_a.mkdir(), probe_b.mkdir()
    if swap._exchange(probe_a, probe_b):  # Linux on a filesystem that can: exchanged, never renamed aside
        assert renamed == []
    else:
        assert renamed == ["shop", "shop.rebuilt"]
        renamed.clear()
    probe_a.rmdir(), probe_b.rmdir()
    # Where the system cannot exchange: the two renames, with the same result.
    monkeypatch.setattr(swap, "_exchange", lambda a, b: False)
    with Collection.open("shop.rebuilt", settings=settings, embedder="e", dim=2, create=True) as coll:
        coll.add([NewItem("newer", np.ones((1, 2), np.float32))])
    swap_collection("shop", "shop.rebuilt", settings)
    assert renamed == ["shop", "shop.rebuilt"]
    with Collection.open("shop", settings=settings) as coll:
        assert [item.id for item in coll.items()] == ["newer"]
    assert sorted(p.name for p in (tmp_path / "collections").iterdir()) == ["shop"]


def test_embed_images_and_dedupe_answer_with_named_fields(engine, tmp_path):
    base = shared("search/near-duplicates/base_images")
    photo, other = base / "ukbench00120.jpg", base / "ukbench01380.jpg"
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(photo.read_bytes())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    embedded = list(engine.embed_images([photo, broken]))
    assert [type(e) for e in embedded] == [Embedded, Embedded]
    assert embedded[0].name == str(photo) and embedded[0].vector.shape == (1280,) and embedded[0].error is None
    assert embedded[1].vector is None and isinstance(embedded[1].error, ImageError)
    found = engine.dedupe([photo, other, copy, broken])
    assert isinstance(found, Dedupe)
    assert found.groups == [[Duplicate(str(photo), pytest.approx(1.0)), Duplicate(str(copy), pytest.approx(1.0))]]
    assert found.failed == [Unreadable(str(broken), found.failed[0].error)]
    assert isinstance(found.failed[0].error, ImageError) and not isinstance(found.failed[0].error, ImageTooLarge)
