"""Reading pairs and identities CSVs for ``ocula eval pairs``."""

from __future__ import annotations

import numpy as np
import pytest

from ocula import DatasetError
from ocula.eval.pairs import PairSet, pair_scores, read_pairs


@pytest.fixture
def root(tmp_path):
    for name in ("a1.jpg", "a2.jpg", "b1.jpg", "c1.jpg"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def write(root, text):
    path = root / "list.csv"
    path.write_text(text)
    return path


def test_pairs_with_folds(root):
    p = read_pairs(
        write(root, "fold,image_a,image_b,same\n1,a1.jpg,a2.jpg,1\n1,a1.jpg,b1.jpg,0\n2,b1.jpg,c1.jpg,0\n"), root
    )
    assert p.kind == "pairs" and [i.name for i in p.images] == ["a1.jpg", "a2.jpg", "b1.jpg", "c1.jpg"]
    assert p.index_a.tolist() == [0, 0, 2] and p.index_b.tolist() == [1, 2, 3]
    assert p.same.tolist() == [True, False, False] and p.folds.tolist() == [1, 1, 2]


def test_identities_make_every_pair(root):
    p = read_pairs(write(root, "image_path,identity\na1.jpg,A\na2.jpg,A\nb1.jpg,B\nc1.jpg,C\n"), root)
    assert p.kind == "identities" and len(p) == 6 and p.same.sum() == 1 and p.folds is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("x,y\n1,2\n", "expected columns"),
        ("image_a,image_b,same\na1.jpg,a2.jpg,yes\n", "same must be 1 or 0"),
        ("image_a,image_b,same\na1.jpg,a2.jpg,1\n", "both same-person and different-person"),
        ("image_a,image_b,same\na1.jpg,zz.jpg,1\na1.jpg,b1.jpg,0\n", "missing"),
        ("fold,image_a,image_b,same\nx,a1.jpg,a2.jpg,1\n", "fold must be an integer"),
        ("image_path,identity\na1.jpg,A\na1.jpg,A\n", "listed twice"),
        ("image_a,image_b,same\n", "no rows"),
    ],
)
def test_malformed_files(root, text, message):
    with pytest.raises(DatasetError, match=message):
        read_pairs(write(root, text), root)


def test_missing_csv_is_a_dataset_error(root):
    with pytest.raises(DatasetError, match="no such file"):
        read_pairs(root / "nope.csv", root)


def test_scores_mark_failures_to_enrol():
    pairs = PairSet([], np.array([0, 0]), np.array([1, 2]), np.array([True, False]), None, "pairs")
    emb = np.zeros((3, 128), np.float32)
    emb[0, 0], emb[1, 0] = 1.0, 1.0
    emb[2] = np.nan
    scores = pair_scores(pairs, emb)
    assert scores[0] == 1.0 and scores[1] == -np.inf


def test_spaces_and_a_byte_order_mark_in_the_header(root):
    text = "\ufefffold, image_a, image_b, same\n1, a1.jpg, a2.jpg, 1\n2, a1.jpg, b1.jpg, 0\n\n"
    p = read_pairs(write(root, text), root)
    assert p.folds.tolist() == [1, 2] and p.same.tolist() == [True, False]


@pytest.mark.parametrize(
    "text, message",
    [
        ("image_path,identity\na1.jpg,A\na2.jpg,\n", "empty identity"),
        ("fold,image_a,image_b,same\n1,a1.jpg,a2.jpg,1\n1,a1.jpg,b1.jpg,0\n", "at least two folds"),
        ("image_a,image_b,same\na1.jpg\n", "empty image path"),
    ],
)
def test_more_malformed_files(root, text, message):
    with pytest.raises(DatasetError, match=message):
        read_pairs(write(root, text), root)
