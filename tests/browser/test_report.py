"""``ocula eval report`` on ../shared/data: every evaluation runs, the numbers are the ones the
README states, and the HTML renders in headless Chromium with every plot loaded."""

from __future__ import annotations

import csv
import json

import numpy as np

from ..conftest import shared
from .conftest import needs_chromium


def test_report_holds_every_evaluation(eval_report):
    report = eval_report
    doc = json.loads((report / "report.json").read_text())
    titles = [s["title"] for s in doc["sections"]]
    assert len(titles) == 7 and titles[0].startswith("ImageNet") and titles[-1] == "Speed per stage"
    by = {s["title"].split(":")[0]: s for s in doc["sections"]}
    identify = by["Face identification (1"]["numbers"]  # celeba-80, the README's table
    assert identify["gallery_people"] == 40
    assert identify["mated_probes"] + identify["nonmated_probes"] + 40 * 3 == 1057  # 3 photos enrolled each
    assert identify["rank1"] >= 0.95 and identify["fnir_at_fpir"]["0.01"] <= 0.10
    assert identify["calibrated"]["0.01"]["fpir"] <= 0.02  # ocula's own threshold keeps its promise here
    assert all(a <= b for a, b in zip(identify["cmc"], identify["cmc"][1:], strict=False))
    pairs = by["Face verification"]["numbers"]  # LFW crops, folds 1-2
    assert pairs["n_pairs"] == 1115 and pairs["folds"] == 2 and pairs["failures_to_enrol"] == 0
    assert pairs["accuracy"] >= 0.97  # the bar for LFW crops (measured 0.9839)
    # As `ocula eval pairs --cropped` runs them (tests/e2e/test_cli_faces.py checks the command
    # agrees with evaluate_pairs, which this section runs, on a few of these pairs).
    assert pairs["detector"] == "given (cropped)" and pairs["descriptor"] == "sface+dlib"  # the default
    assert pairs["n_genuine"] >= 500 and pairs["n_impostor"] >= 500 and pairs["auc"] >= 0.98
    assert set(pairs["tar_at_far"]) == {"0.0001", "0.001", "0.01"} and pairs["tar_at_far"]["0.001"] is None
    assert all(len(s["data_sha256"]) == 64 and s["command"].startswith("ocula ") for s in doc["sections"])
    assert doc["meta"]["command"].startswith("ocula eval report --data") and doc["models"]
    md = (report / "report.md").read_text()
    assert "By WordNet branch" in md and "Most confident mistakes" in md and "recall@k by kind of query" in md
    (search,) = [s["numbers"] for s in doc["sections"] if s["title"].startswith("Visual search: sample-334")]
    assert search["n_catalog"] == 334 and search["failed"] == 0
    by_kind = search["recall_at_1_by_transform"]
    edits = {"crop", "scale", "rotate", "flip", "colour", "jpeg", "text"}
    assert set(by_kind) == edits | {"scene-photo", "scene-blurred", "scene-mosaic"}
    assert all(by_kind[t] >= 0.95 for t in edits)  # the bar (measured: 1.0 each)
    # Pasted small into a scene, found by the windows (measured: 0.76; blurred background 1.0).
    assert search["recall_at_k_scenes"]["1"] >= 0.65 and by_kind["scene-blurred"] >= 0.9
    assert search["recall_at_k_scenes"]["5"] >= 0.95 and search["recall_at_k"]["20"] >= 0.99
    assert set(search["recall_at_k"]) == {"1", "2", "5", "10", "20"}
    assert len(search["first_rank"]) == len(search["query_kind"]) == search["n_queries"] == 800
    stages = by["Speed per stage"]["numbers"]["stages"]
    assert [t["pipeline"] for t in stages] == ["tagging (fast)"] * 4 + ["faces"] * 5 + ["search"] * 4
    assert all(t["ms"] > 0 and t["units"] >= 30 for t in stages), stages
    plots = ("imagenet_groups.png", "roc_lfw-folds-1-2.png", "cmc_celeba-80.png", "recall_sample-334.png",
             "recall_near-duplicates.png", "speed_stages.png")  # fmt: skip
    for name in plots:
        assert (report / name).stat().st_size > 10_000, name


def test_fast_top1_in_published_range(eval_report):
    """The fast preset on all of imagenet/sample-334, as the report's ImageNet section measured it
    (the same computation as ``ocula eval imagenet``; tests/e2e/test_eval_imagenet.py checks that
    function on the sample's first photos)."""
    doc = json.loads((eval_report / "report.json").read_text())
    (fast,) = [s["numbers"] for s in doc["sections"] if s["title"].startswith("ImageNet tagging (fast preset)")]
    assert fast["n"] == 334 and fast["failures"] == 0
    assert 1 - fast["top1_error"] >= 0.70  # the bar; EfficientNet-Lite0: 75.1% on ImageNet val
    # This fixed sample (likely training-split photos) measures 89.5%; a resize, crop or
    # normalisation slip would cost more than two points.
    assert 1 - fast["top1_error"] >= 0.87
    assert fast["models"] == ["efficientnet_lite0"]


@needs_chromium
def test_report_renders_in_chromium(eval_report, browser, tmp_path):
    report = eval_report
    browser.get((report / "index.html").as_uri())
    assert browser.title == "ocula evaluation report"
    widths = browser.execute_script("return [...document.images].map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) == 6 and all(w > 400 for w in widths), widths
    assert len(browser.execute_script("return document.querySelectorAll('section')")) == 9
    shot = tmp_path / "report.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_per_group_accuracy_and_gap(eval_report):
    """Per-group TAR at FAR 1e-2 and the gap between groups on all of LFW folds 1-2, grouped by
    fold (a stand-in for a demographic label), from the scores the session's report kept for
    every pair (the faces are embedded once, by the report)."""
    from ocula.eval.report import pairs_by_group

    doc = json.loads((eval_report / "report.json").read_text())
    (pairs,) = [s["numbers"] for s in doc["sections"] if s["title"] == "Face verification: lfw-folds-1-2"]
    with (shared("faces/lfw-folds-1-2") / "pairs.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(pairs["scores"]) == len(pairs["same"]) == 1115
    assert pairs["same"] == [row["same"] == "1" for row in rows]  # the scores are in the CSV's order
    folds = np.array([f"fold-{row['fold']}" for row in rows])
    table, gap = pairs_by_group(np.array(pairs["scores"]), np.array(pairs["same"]), folds)
    assert [r[0] for r in table] == ["fold-1", "fold-2"] and [r[1] for r in table] == ["553", "562"]
    assert 0 <= gap < 0.1
