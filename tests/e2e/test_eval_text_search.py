"""``ocula eval text-search`` on a few sample-334 photos: the JSON the issue asks for, and word
search beating label-only search there (0.99 against 0.97 on these 20 photos; the whole sample's
figures are in the README)."""

from __future__ import annotations

import json

import pytest

from ..conftest import invoke_cli, run_cli, shared

pytestmark = pytest.mark.e2e

PHOTOS = 20


def test_eval_text_search_json(tmp_path, cache_dir):
    root = shared("imagenet/sample-334")
    env = {"OCULA_DATA_DIR": str(tmp_path / "data"), "OCULA_CACHE_DIR": str(cache_dir)}
    proc = run_cli("eval", "text-search", str(root), "--labels", str(root / "labels.csv"), "--limit", str(PHOTOS),
                   "--json", env_extra=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (result,) = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert {"n_items", "n_queries", "map", "precision_at_10", "by_depth", "baseline_map"} <= set(result)
    assert result["n_items"] == PHOTOS and result["failures"] == 0 and result["n_queries"] > 0
    assert sum(d["n_queries"] for d in result["by_depth"].values()) == result["n_queries"]
    assert 0 <= result["baseline_map"] < result["map"] <= 1 and 0 < result["precision_at_10"] <= 1
    assert 0 < result["bytes_per_item"] < 4 * 1860 and "per_query" not in result


def test_eval_text_search_bad_labels_exit_1(tmp_path):
    (tmp_path / "labels.csv").write_text("filename,wnid\nx.jpg,n02084071\n")
    proc = invoke_cli("eval", "text-search", str(tmp_path), "--labels", str(tmp_path / "labels.csv"))
    assert proc.returncode == 1 and "missing column" in proc.stderr and "Traceback" not in proc.stderr
