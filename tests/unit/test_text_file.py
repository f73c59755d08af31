"""Text files a user names (calibration tables, CSVs of pairs, identities, labels and catalogs)
are read only when they are regular files of a bounded size (review of issue 17: ``ocula eval
pairs /dev/zero`` filled memory, a FIFO hung the command)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ocula import DatasetError, InputError
from ocula.engine.search import read_catalog
from ocula.eval.identify import read_identities
from ocula.eval.imagenet import read_labels
from ocula.eval.pairs import read_pairs
from ocula.text_file import check_text_file, read_text_file


@pytest.fixture
def odd_files(tmp_path: Path) -> dict[Path, str]:
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    return {Path("/dev/zero"): "character device", fifo: "FIFO", tmp_path: "directory", tmp_path / "no.csv": "no such"}


@pytest.mark.parametrize("reader", [read_pairs, read_identities, read_labels])
def test_eval_csvs_that_are_not_files_are_dataset_errors(odd_files, tmp_path, reader):
    assert odd_files
    for path, message in odd_files.items():
        with pytest.raises(DatasetError, match=message):
            reader(path, tmp_path)


def test_a_catalog_that_is_not_a_file_is_a_dataset_error(odd_files):
    assert odd_files
    for path, message in odd_files.items():
        with pytest.raises(DatasetError, match=message):
            read_catalog(path)


def test_size_limit_and_encoding(tmp_path):
    text = tmp_path / "t.json"
    text.write_text('{"a": "\u00e9"}', encoding="utf-8")
    assert read_text_file(text, max_bytes=100, what="table") == '{"a": "\u00e9"}'
    with pytest.raises(InputError, match="over the limit of 5"):
        read_text_file(text, max_bytes=5, what="table")
    check_text_file(text, max_bytes=100, what="table")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("caf\u00e9".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_text_file(latin, max_bytes=100, what="CSV")
