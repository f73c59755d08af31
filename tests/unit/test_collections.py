"""Collections: SQLite truth + a FAISS cache or Milvus (Lite, for real); add/replace, delete,
filters, stamps, snapshots. Backend-neutral tests run on both stores."""

from __future__ import annotations

import numpy as np
import pytest

from ocula import ConfigError, InputError, Settings, UnknownName
from ocula.collections import Collection, NewItem, collection_names, drop_collection, parse_filter
from ocula.errors import StoreError

STORES = ["faiss", "milvus-lite"]


def unit(rng, n, d=8):
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def faiss_settings(tmp_path, cache_dir) -> Settings:
    return Settings(data_dir=tmp_path / "data", cache_dir=cache_dir, offline=True)


@pytest.fixture(params=STORES)
def settings(request, tmp_path, cache_dir) -> Settings:
    """The same collection tests on the embedded store and on Milvus Lite (a real Milvus)."""
    store = "faiss" if request.param == "faiss" else f"milvus-lite:{tmp_path / 'milvus' / 'vectors.db'}"
    if store != "faiss":
        pytest.importorskip("pymilvus", reason="the milvus extra is not installed")
    return Settings(data_dir=tmp_path / "data", cache_dir=cache_dir, offline=True, vectors=store)


def make(settings, rng, n=20, name="shop"):
    c = Collection.open(name, settings=settings, embedder="test@1", dim=8, create=True)
    vecs = unit(rng, n)
    c.add(
        NewItem(
            f"id{i}",
            vecs[i : i + 1],
            path=f"/p/{i}.jpg",
            metadata={"category": "shoes" if i % 2 else "hats", "price": i},
        )
        for i in range(n)
    )
    return c, vecs


def test_add_search_get_and_reopen(settings, rng):
    c, vecs = make(settings, rng)
    (matches,) = c.search(vecs[3], k=3)
    assert matches[0].id == "id3" and matches[0].score == pytest.approx(1.0, abs=1e-5)
    assert len(matches) == 3 and matches[0].score >= matches[1].score >= matches[2].score
    assert c.get("id3").metadata == {"category": "shoes", "price": 3} and c.get("nope") is None
    c.close()
    assert collection_names(settings) == ["shop"]
    with Collection.open("shop", settings=settings) as again:  # from the snapshot
        assert len(again) == 20 and again.search(vecs[5], k=1)[0][0].id == "id5"


def test_filters_are_applied_before_ranking(settings, rng):
    c, vecs = make(settings, rng)
    (matches,) = c.search(vecs[4], k=5, where="category = 'shoes'")
    assert len(matches) == 5 and all(m.metadata["category"] == "shoes" for m in matches)
    (matches,) = c.search(vecs[4], k=50, where="category = 'shoes' and price < 7")
    assert sorted(m.id for m in matches) == ["id1", "id3", "id5"]
    assert c.search(vecs[4], k=3, where="price in (2, 4)")[0][0].id == "id4"
    assert c.search(vecs[4], k=3, where="category = 'boats'") == [[]]


def test_delete_is_real_and_replace_keeps_one_copy(settings, rng):
    c, vecs = make(settings, rng)
    assert c.delete(["id3", "missing"]) == 1
    assert all(m.id != "id3" for m in c.search(vecs[3], k=20)[0])
    c.add([NewItem("id4", vecs[3:4], metadata={"category": "new"})])  # replace id4's vector
    (matches,) = c.search(vecs[3], k=20)
    assert matches[0].id == "id4" and [m.id for m in matches].count("id4") == 1 and len(c) == 19
    c.close()
    with Collection.open("shop", settings=settings) as again:
        assert again.get("id3") is None and again.search(vecs[3], k=1)[0][0].id == "id4"


def test_several_vectors_per_item_return_the_item_once(settings, rng):
    c = Collection.open("people", settings=settings, embedder="test@1", dim=8, create=True)
    vecs = unit(rng, 6)
    c.add([NewItem("ann", vecs[:3], regions=[[0, 0, 1, 1], None, [1, 1, 2, 2]]), NewItem("bob", vecs[3:])])
    (matches,) = c.search(vecs[2], k=2)
    assert [m.id for m in matches] == ["ann", "bob"] and matches[0].region == [1, 1, 2, 2]
    assert c.get("ann").n_vectors == 3


def test_stale_or_missing_snapshot_is_rebuilt(faiss_settings, rng):
    settings = faiss_settings
    c, vecs = make(settings, rng)
    c.close()
    path = settings.data_dir / "collections" / "shop"
    (path / "vectors.faiss").write_bytes(b"garbage")
    with Collection.open("shop", settings=settings) as again:
        assert again.search(vecs[7], k=1)[0][0].id == "id7"
    (path / "vectors.faiss").unlink()
    (path / "vectors.json").unlink()
    with Collection.open("shop", settings=settings) as again:
        assert again.search(vecs[8], k=1)[0][0].id == "id8"


def test_another_process_writing_is_seen(settings, rng):
    reader, _vecs = make(settings, rng)
    writer = Collection.open("shop", settings=settings)
    new = unit(rng, 1)
    writer.add([NewItem("late", new)])
    assert reader.search(new, k=1)[0][0].id == "late"
    # The reader writes next without having searched: it must not lose the writer's item.
    other = unit(rng, 1)
    writer.add([NewItem("later", other)])
    reader.add([NewItem("mine", unit(rng, 1))])
    assert reader.search(other, k=1)[0][0].id == "later"
    writer.close()
    reader.close()
    with Collection.open("shop", settings=settings) as again:  # the snapshot the reader saved
        assert again.search(other, k=1)[0][0].id == "later" and len(again) == 23


def test_embedder_stamp_and_names_are_checked(settings, rng):
    make(settings, rng)[0].close()
    with pytest.raises(InputError, match=r"was built with test@1.*reindex"):
        Collection.open("shop", settings=settings, embedder="other@2", dim=8)
    with pytest.raises(UnknownName):
        Collection.open("nothere", settings=settings)
    with pytest.raises(InputError, match="invalid collection name"):
        Collection.open("../etc", settings=settings, embedder="x", dim=8, create=True)
    with Collection.open("shop", settings=settings) as c:
        with pytest.raises(InputError, match="dimensions"):
            c.search(np.zeros((1, 5), np.float32))
        with pytest.raises(InputError, match="shape"):
            c.add([NewItem("bad", np.zeros((1, 5), np.float32))])
    drop_collection("shop", settings)
    assert collection_names(settings) == []
    with pytest.raises(UnknownName):
        drop_collection("shop", settings)


@pytest.mark.parametrize(
    "text",
    ["category", "category = ", "price < 'a' or x = 1", "a = 1; drop table items", "x in 1", "1 = 1", "a = b"],
)
def test_bad_filters_are_input_errors(text):
    with pytest.raises(InputError):
        parse_filter(text)


def test_filter_values_are_parameters():
    f = parse_filter("name = 'O''Brien' and size in (1, 2.5)")
    assert f.params == ("O'Brien", 1, 2.5) and "?" in f.sql and "Brien" not in f.sql


def test_duplicate_groups_link_transitively():
    from ocula.pipelines.dedupe import duplicate_groups

    def at(degrees):  # unit vectors in one plane: similarity = cos(angle between them)
        v = np.zeros(8, np.float32)
        v[0], v[1] = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
        return v

    a, b, c = at(0), at(20), at(40)
    far = np.eye(8, dtype=np.float32)[5]
    v = np.stack([a, b, c, far])
    assert float(a @ c) < 0.9 <= min(float(a @ b), float(b @ c))
    (group,) = duplicate_groups(v, threshold=0.9)  # a~b and b~c: one group, far alone
    assert group.members == (0, 1, 2) and group.scores[0] == pytest.approx(1.0)
    assert duplicate_groups(v, threshold=0.999) == [] and duplicate_groups(v[:1]) == []


def test_ivf_index_deletes_filters_and_recall(tmp_path):
    from ocula.collections.vectors import FaissVectors

    rng = np.random.default_rng(1)
    centres = unit(rng, 50, d=32)
    v = centres[rng.integers(0, 50, 20_000)] + 0.05 * rng.normal(size=(20_000, 32)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ids = np.arange(100, 20_100, dtype=np.int64)
    index = FaissVectors.build(ids, v, 32, ivf_min=10_000)
    assert index.kind.startswith("faiss ivf") and len(index) == 20_000
    queries = v[:200]
    exact = np.argsort(-(queries @ v.T), axis=1)[:, :10] + 100
    _, found = index.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found, strict=False)])
    assert recall >= 0.95
    index.remove(ids[:1])
    assert 100 not in index.search(queries[:1], 10)[1][0]
    allowed = ids[1000:1100]
    _, hits = index.search(queries[:5], 5, allowed)
    assert set(hits.ravel()) <= set(allowed.tolist())
    index.save(tmp_path / "v.faiss", generation=7)
    again = FaissVectors.load(tmp_path / "v.faiss", 32, 7)
    assert again is not None and again.kind == index.kind and len(again) == 19_999
    assert FaissVectors.load(tmp_path / "v.faiss", 32, 8) is None  # stale
    assert FaissVectors.build(ids[:50], v[:50], 32).kind == "faiss flat (exact)"


def test_a_collection_that_grows_is_rebuilt_as_ivf(faiss_settings, monkeypatch):
    settings = faiss_settings
    from ocula.collections import vectors

    monkeypatch.setattr(vectors, "IVF_MIN_VECTORS", 3000)
    rng = np.random.default_rng(2)
    c = Collection.open("grow", settings=settings, embedder="test@1", dim=8, create=True)
    first = unit(rng, 100)
    c.add(NewItem(f"a{i}", v[None]) for i, v in enumerate(first))
    c.close()  # snapshot: exact, 100 vectors
    with Collection.open("grow", settings=settings) as c:
        assert c.info()["index"] == "faiss flat (exact)"
        c.add(NewItem(f"b{i}", v[None]) for i, v in enumerate(unit(rng, 3000)))
    with Collection.open("grow", settings=settings) as c:  # the exact snapshot has outgrown itself
        assert c.info()["index"].startswith("faiss ivf") and len(c) == 3100
        (best,) = c.search(first[7], k=1)[0]
        assert best.id == "a7" and best.score > 0.99


# -- Milvus store ---------------------------------------------------------------------------
@pytest.fixture
def milvus_settings(tmp_path, cache_dir) -> Settings:
    pytest.importorskip("pymilvus", reason="the milvus extra is not installed")
    lite = f"milvus-lite:{tmp_path / 'milvus' / 'vectors.db'}"
    return Settings(data_dir=tmp_path / "data", cache_dir=cache_dir, offline=True, vectors=lite)


def test_milvus_changes_a_killed_process_did_not_push_are_replayed(milvus_settings, rng, monkeypatch):
    from ocula.collections.milvus import MilvusVectors

    c, vecs = make(milvus_settings, rng)
    new = unit(rng, 1)

    def killed(*args, **kwargs):  # the process dies after SQLite committed, before Milvus heard
        raise SystemExit("killed")

    monkeypatch.setattr(MilvusVectors, "add", killed)
    monkeypatch.setattr(MilvusVectors, "remove", killed)
    with pytest.raises(SystemExit):
        c.add([NewItem("late", new)])
    with pytest.raises(SystemExit):
        c.delete(["id3"])
    c._vectors.close()
    monkeypatch.undo()
    with Collection.open("shop", settings=milvus_settings) as again:
        assert again._db.execute("SELECT COUNT(*) FROM vector_sync").fetchone()[0] == 0
        assert again.search(new, k=1)[0][0].id == "late"
        assert all(m.id != "id3" for m in again.search(vecs[3], k=21)[0])
        assert len(again._vectors) == 20  # 20 - id3 + late, nothing twice


def test_milvus_store_is_remembered_checked_and_dropped(milvus_settings, rng):
    c, vecs = make(milvus_settings, rng)
    info = c.info()
    assert info["vectors_store"].startswith("milvus-lite:") and info["index"].startswith("milvus")
    name = c._vectors.collection
    c.close()
    # A collection keeps its store whatever the default is now; asking for another is refused.
    faiss_default = milvus_settings.replace(vectors="faiss")
    with Collection.open("shop", settings=faiss_default) as again:
        assert again.vectors_uri == info["vectors_store"] and again.search(vecs[2], k=1)[0][0].id == "id2"
    with pytest.raises(InputError, match="keeps its vectors in milvus-lite"):
        Collection.open("shop", settings=milvus_settings, vectors="faiss")
    with Collection.open("shop", settings=milvus_settings) as again:
        client = again._vectors._client
        assert client.has_collection(name)
    drop_collection("shop", milvus_settings)
    with Collection.open("other", settings=milvus_settings, embedder="test@1", dim=8, create=True) as other:
        assert not other._vectors._client.has_collection(name)


def test_milvus_large_filters_are_applied_after_ranking_with_correct_k(milvus_settings, rng, monkeypatch):
    from ocula.collections import milvus

    c, vecs = make(milvus_settings, rng, n=200)
    monkeypatch.setattr(milvus, "IN_FILTER_MAX", 10)  # 100 shoes > 10: the post-filter path
    (matches,) = c.search(vecs[4], k=30, where="category = 'shoes'")
    assert len(matches) == 30 and all(m.metadata["category"] == "shoes" for m in matches)
    scores = [m.score for m in matches]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("uri", ["milvus:/bad", "http://x:1", "postgres://x", "milvus://"])
def test_unknown_vector_stores_are_input_errors(uri):
    from ocula.collections.milvus import canonical_vectors_uri

    with pytest.raises(InputError, match="unknown vector store"):
        canonical_vectors_uri(uri)


def test_an_unreachable_milvus_server_is_a_config_error(tmp_path, cache_dir):
    pytest.importorskip("pymilvus", reason="the milvus extra is not installed")
    settings = Settings(data_dir=tmp_path, cache_dir=cache_dir, vectors="milvus://127.0.0.1:9")
    with pytest.raises(ConfigError, match="Milvus"):
        Collection.open("far", settings=settings, embedder="test@1", dim=8, create=True)


def test_l2_metric_scores_are_one_minus_half_the_squared_distance(settings, rng):
    """Face galleries rank by Euclidean distance of unnormalised descriptors; the score is the
    face similarity 1 - |a - b|^2 / 2, on both stores, for whole and filtered searches."""
    x = (0.3 * rng.normal(size=(30, 8))).astype(np.float32)
    c = Collection.open("faces", settings=settings, embedder="test@1", dim=8, create=True, metric="l2")
    c.add(NewItem(f"p{i}", x[i : i + 1], metadata={"even": i % 2 == 0}) for i in range(30))
    q = x[4] + 0.01
    expected = 1 - 0.5 * ((x - q) ** 2).sum(axis=1)
    (matches,) = c.search(q, k=5)
    assert [m.id for m in matches] == [f"p{i}" for i in np.argsort(-expected)[:5]]
    np.testing.assert_allclose([m.score for m in matches], np.sort(expected)[::-1][:5], atol=1e-4)
    (odd,) = c.search(q, k=3, where="even = 0")
    assert all(int(m.id[1:]) % 2 for m in odd) and len(odd) == 3
    assert c.info()["metric"] == "l2"
    c.close()
    with Collection.open("faces", settings=settings) as again:
        assert again.search(q, k=1)[0][0].id == "p4"
    with pytest.raises(InputError, match="metric"):
        Collection.open("x", settings=settings, embedder="t", dim=8, create=True, metric="cosine")


def test_update_reads_and_writes_one_item_in_one_transaction(settings, rng):
    c, vecs = make(settings, rng, n=3)

    def append(item, vectors, regions):
        return NewItem("id1", np.vstack([vectors, vecs[2:3]]), metadata=item.metadata | {"n": len(vectors) + 1},
                       regions=[*regions, [0, 0, 1, 1]])  # fmt: skip

    assert c.update("id1", append).metadata["n"] == 2
    assert c.update("id1", append).metadata["n"] == 3 and len(c.vectors("id1")) == 3
    assert c.search(vecs[2], k=1)[0][0].id in ("id1", "id2")
    assert c.update("nobody", lambda item, v, r: None) is None and c.get("nobody") is None


def folder_bytes(folder) -> bytes:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    assert files
    return b"".join(p.read_bytes() for p in files)


def test_a_handle_left_open_never_writes_erased_vectors_back(faiss_settings, rng):
    """Handle A holds an index with unsaved changes that include id3; handle B erases id3.
    Closing A must not write its older index (id3 included) over B's snapshot."""
    a, vecs = make(faiss_settings, rng)
    with Collection.open("shop", settings=faiss_settings) as b:
        assert b.erase(["id3"]).items == 1
    a.close()
    folder = faiss_settings.data_dir / "collections" / "shop"
    raw = folder_bytes(folder)
    assert vecs[3].tobytes() not in raw and vecs[4].tobytes() in raw
    with Collection.open("shop", settings=faiss_settings) as again:
        assert not again.snapshot_stale and again.index_count == 19  # B's snapshot is current
        assert again.index_differences() is None


def test_a_stale_snapshot_is_removed_on_open_even_when_the_store_is_empty(faiss_settings, rng):
    c, vecs = make(faiss_settings, rng, n=2)
    c.close()  # a snapshot holding both vectors
    folder = faiss_settings.data_dir / "collections" / "shop"
    c = Collection.open("shop", settings=faiss_settings)
    c.delete(["id0", "id1"])
    c._db.close()  # gone without flushing, as a killed process would be
    assert vecs[0].tobytes() in (folder / "vectors.faiss").read_bytes()
    with Collection.open("shop", settings=faiss_settings) as again:
        snapshot = folder / "vectors.faiss"
        assert not snapshot.exists() or vecs[0].tobytes() not in snapshot.read_bytes()
        assert len(again) == 0 and any("stale vector snapshot" in r for r in again.repairs)


@pytest.mark.parametrize("name", ["c1\n", "shop\n"])
def test_names_ending_in_a_newline_are_refused(faiss_settings, rng, name):
    make(faiss_settings, rng)[0].close()
    with pytest.raises(InputError, match="invalid collection name"):
        Collection.open(name, settings=faiss_settings, embedder="test@1", dim=8, create=True)
    with pytest.raises(InputError, match="invalid collection name"):
        drop_collection(name, faiss_settings)
    assert collection_names(faiss_settings) == ["shop"]


def test_store_folders_and_files_are_the_owners_alone(faiss_settings, rng):
    c, _ = make(faiss_settings, rng)
    folder = c.path
    c.close()
    assert folder.stat().st_mode & 0o777 == 0o700
    files = [p for p in folder.iterdir() if p.is_file()]
    assert files and all(p.stat().st_mode & 0o077 == 0 for p in files), {p.name: oct(p.stat().st_mode) for p in files}
    # A store made by an earlier version (755/644) is tightened when opened.
    folder.chmod(0o755)
    (folder / "items.sqlite").chmod(0o644)
    with Collection.open("shop", settings=faiss_settings) as again:
        again.add([NewItem("more", unit(rng, 1))])
    assert folder.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o077 == 0 for p in folder.iterdir() if p.is_file())


def test_a_half_created_store_is_refused_with_how_to_remove_it(faiss_settings):
    """A 0-byte items.sqlite (a first write that failed, before creation was atomic)."""
    folder = faiss_settings.data_dir / "collections" / "half"
    folder.mkdir(parents=True)
    (folder / "items.sqlite").write_bytes(b"")
    for create in (False, True):
        with pytest.raises(StoreError, match="collections drop half"):
            Collection.open("half", settings=faiss_settings, embedder="test@1", dim=8, create=create)
    assert (folder / "items.sqlite").stat().st_size == 0  # left as found, not half repaired
    drop_collection("half", faiss_settings)
    with Collection.open("half", settings=faiss_settings, embedder="test@1", dim=8, create=True) as c:
        assert len(c) == 0


def test_a_creation_that_cannot_finish_leaves_nothing(faiss_settings):
    """Creating into a folder that is in the way (not empty, no store) fails as a whole."""
    folder = faiss_settings.data_dir / "collections" / "blocked"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="cannot create collection blocked"):
        Collection.open("blocked", settings=faiss_settings, embedder="test@1", dim=8, create=True)
    assert collection_names(faiss_settings) == []
    assert [p.name for p in folder.parent.iterdir()] == ["blocked"]  # no temporary folder left
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_a_data_folder_that_is_a_file_is_a_store_error(tmp_path, cache_dir):
    """Review of issue 17: OCULA_DATA_DIR naming a file was an internal NotADirectoryError."""
    blocking = tmp_path / "photo.jpg"
    blocking.write_bytes(b"mine")
    settings = Settings(data_dir=blocking, cache_dir=cache_dir, offline=True)
    with pytest.raises(StoreError, match="cannot be made"):
        Collection.open("c", settings=settings, embedder="test@1", dim=8, create=True)
    assert blocking.read_bytes() == b"mine"


@pytest.mark.parametrize("ivf_min", [10**9, 100])
def test_index_ids_and_vectors_read_back_from_flat_and_ivf(ivf_min):
    """What ``ocula doctor`` compares with SQLite: the ids and values the index holds."""
    from ocula.collections.vectors import FaissVectors

    v = np.random.default_rng(0).normal(size=(3000, 8)).astype(np.float32)
    index = FaissVectors.build(np.arange(5, 3005), v, 8, ivf_min=ivf_min)
    index.remove(np.array([7, 8]))
    assert index.is_ivf == (ivf_min == 100)
    assert np.array_equal(np.sort(index.ids()), np.setdiff1d(np.arange(5, 3005), [7, 8]))
    assert np.array_equal(index.vectors_of(np.array([5, 3004])), v[[0, 2999]])


@pytest.mark.slow
def test_an_erasure_a_reader_kept_from_finishing_is_finished_by_the_next_open(faiss_settings, rng, erase_waits_briefly):
    """A connection reading while id3 is erased keeps the database file (which still holds id3;
    the WAL holds its zeroed page) from being rewritten: the erasure stays noted, and the next
    process to open the store finishes it (while another connection stays open, so that no
    last-connection checkpoint does it instead)."""
    import sqlite3

    c, vecs = make(faiss_settings, rng)
    c.close()
    folder = faiss_settings.data_dir / "collections" / "shop"
    idle = sqlite3.connect(folder / "items.sqlite", isolation_level=None)
    idle.execute("SELECT 1 FROM meta").fetchall()
    reader = sqlite3.connect(folder / "items.sqlite", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 20  # holds a read snapshot
    with Collection.open("shop", settings=faiss_settings) as c:
        assert c.erase(["id3"]).items == 1
    reader.execute("COMMIT")
    reader.close()
    assert vecs[3].tobytes() in folder_bytes(folder)  # what the reader kept
    try:
        with Collection.open("shop", settings=faiss_settings) as again:
            assert vecs[3].tobytes() not in folder_bytes(folder)
            assert again.unfinished_erasures() == 0 and len(again) == 19
            assert any("finished an erasure" in r for r in again.repairs)
    finally:
        idle.close()


def test_a_search_after_another_handle_commits_removes_the_stale_snapshot_and_writes_none(faiss_settings, rng):
    """A search that finds the store changed by another process rebuilds its index in memory and
    removes the snapshot on disk (stale: it may hold erased vectors), but writes no new one: a
    read-only search does not rewrite the whole index after every commit of an indexer. Writing
    is left to flush and close."""
    writer, _ = make(faiss_settings, rng)
    writer.flush()
    snapshot = faiss_settings.data_dir / "collections" / "shop" / "vectors.faiss"
    reader = Collection.open("shop", settings=faiss_settings)
    try:
        for n in range(3):
            new = unit(rng, 1)
            writer.add([NewItem(f"late{n}", new)])  # committed, not flushed
            assert reader.search(new, k=1)[0][0].id == f"late{n}"
            assert not snapshot.exists()  # the stale one removed, no new one written by the search
        assert reader.snapshot_stale
        writer.close()  # the writer's index is current: it writes the snapshot
        assert snapshot.exists()
    finally:
        reader.close()
    with Collection.open("shop", settings=faiss_settings) as again:
        assert not again.snapshot_stale and again.index_count == 23 and again.index_differences() is None


@pytest.mark.slow
def test_erase_says_whether_the_files_are_clean(faiss_settings, rng, erase_waits_briefly):
    """erase reports an erasure another connection's read keeps from finishing (pending), and
    a later open or close with no reader finishes it."""
    import sqlite3

    c, vecs = make(faiss_settings, rng)
    folder = faiss_settings.data_dir / "collections" / "shop"
    reader = sqlite3.connect(folder / "items.sqlite", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM items").fetchone()
    try:
        erased = c.erase(["id3"])
        assert erased.items == 1 and erased.pending and c.unfinished_erasures() == 1
    finally:
        reader.execute("COMMIT")
        reader.close()
    erased = c.erase(["id4"])
    assert erased.items == 1 and not erased.pending and c.unfinished_erasures() == 0
    c.close()
    raw = folder_bytes(folder)
    assert vecs[3].tobytes() not in raw and vecs[4].tobytes() not in raw and vecs[5].tobytes() in raw


def test_issued_numbers_are_never_issued_again(settings):
    """Collection.issue: a counter in the store (cluster ids): never the same number twice, across
    handles, and past what a store from before the counter already holds."""
    with Collection.open("c", settings=settings, embedder="e", dim=4, create=True) as a:
        assert list(a.issue("ids", 2)) == [1, 2]
        with Collection.open("c", settings=settings) as b:
            assert list(b.issue("ids", 1, after=1)) == [3]
        assert list(a.issue("ids", 0)) == []
        assert list(a.issue("ids", 1, after=10)) == [11]
        assert list(a.issue("other", 1)) == [1]


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_small_exact_indexes_scanned_with_numpy_answer_as_faiss_does(metric, monkeypatch):
    """Small exact indexes are scanned with numpy (faiss's threads cost more than the scan):
    the same scores and ids as faiss's own search, filters, removals and short lists included."""
    from ocula.collections import vectors as vectors_module
    from ocula.collections.vectors import FaissVectors

    rng = np.random.default_rng(3)
    v = rng.normal(size=(40, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    index = FaissVectors.build(np.arange(100, 140), v, 16, metric=metric)
    index.remove(np.array([105, 106]))
    queries = rng.normal(size=(3, 16)).astype(np.float32)
    cases = [(5, None), (50, None), (4, np.array([101, 105, 120, 139, 999])), (2, np.array([120, 130, 131]))]
    answers = {}
    for scanner, scan_max in (("numpy", vectors_module.NUMPY_SCAN_MAX), ("faiss", 0)):
        monkeypatch.setattr(vectors_module, "NUMPY_SCAN_MAX", scan_max)
        answers[scanner] = [index.search(queries, k, allowed) for k, allowed in cases]
    for (numpy_scores, numpy_ids), (faiss_scores, faiss_ids) in zip(answers["numpy"], answers["faiss"], strict=False):
        assert numpy_ids.shape == faiss_ids.shape and (numpy_ids == faiss_ids).all()
        np.testing.assert_allclose(numpy_scores, faiss_scores, rtol=1e-5, atol=1e-5)
