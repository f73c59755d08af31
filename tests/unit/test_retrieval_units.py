"""The retrieval report's recall@k from kept ranks, the scene queries and the two new plots."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ocula.eval.plots import plot_recall_at_k, plot_stage_times
from ocula.eval.retrieval import SCENE_SIZE, SCENES, RetrievalReport, paste_into_scene, recall_curve
from ocula.eval.stages import StageTime


def _report() -> RetrievalReport:
    return RetrievalReport(
        n_catalog=50,
        first_rank=np.array([1, 1, 3, 12, 1, 2]),
        transform_of=np.array(["crop", "crop", "crop", "scene-photo", "scene-mosaic", "scene-mosaic"]),
        map=0.5,
        queries_per_second=10.0,
        failed=[],
    )


def test_recall_at_k_counts_first_right_answers():
    r = _report()
    assert r.n_queries == 6 and r.has_scenes
    assert r.recall_at(1) == pytest.approx(3 / 6)
    assert r.recall_at(2) == pytest.approx(4 / 6)
    assert r.recall_at(10) == pytest.approx(5 / 6) == r.recall_at_10
    assert r.recall_at(20) == 1.0
    assert r.recall_at(1, "crop") == pytest.approx(2 / 3) and r.recall_at(1, "scene-mosaic") == 0.5
    assert r.recall_at(1, "scene") == pytest.approx(1 / 3)  # every scene
    assert np.isnan(r.recall_at(1, "flip"))  # no such queries: not a made-up zero
    assert r.per_transform == pytest.approx({"crop": 2 / 3, "scene-photo": 0.0, "scene-mosaic": 0.5})
    d = r.to_dict()
    assert d["recall_at_k"] == {"1": 0.5, "2": 0.6667, "5": 0.8333, "10": 0.8333, "20": 1.0}
    assert d["recall_at_k_scenes"] == {"1": 0.3333, "2": 0.6667, "5": 0.6667, "10": 0.6667, "20": 1.0}
    assert d["n_queries"] == 6 and set(d["recall_at_1_by_transform"]) == {"crop", "scene-photo", "scene-mosaic"}
    groups = RetrievalReport(8, np.array([1, 2]), np.array(["", ""]), 0.75, 5.0, [])
    assert not groups.has_scenes and groups.to_dict()["recall_at_k_scenes"] is None and groups.per_transform == {}


def test_recall_curve():
    assert recall_curve(np.array([1, 2, 2, 7]), 8).tolist() == [0.25, 0.75, 0.75, 0.75, 0.75, 0.75, 1.0, 1.0]
    assert np.isnan(recall_curve(np.array([], int), 3)).all()


def test_scene_query_is_deterministic_and_holds_the_photo():
    yy, xx = np.mgrid[0:120, 0:160]
    photo = np.stack([xx * 1.5, yy * 2.0, 255 - xx], axis=-1).clip(0, 255).astype(np.uint8)  # smooth: survives JPEG
    others = [np.full((90, 120, 3), (20 * k, 255 - 20 * k, 90), np.uint8) for k in range(12)]
    cw, ch = SCENE_SIZE
    assert SCENES == ("photo", "blurred", "mosaic")  # the loop checks each
    for background in SCENES:
        a, box = paste_into_scene(photo, others, background, np.random.default_rng([1, 2]))
        b, box_b = paste_into_scene(photo, others, background, np.random.default_rng([1, 2]))
        assert a.shape == (ch, cw, 3) and np.array_equal(a, b) and box == box_b
        x0, y0, x1, y1 = box
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        assert 0.29 <= x1 - x0 <= 0.56  # 30-55% of the width
        assert (x0 + x1) / 2 < 0.45 or (x0 + x1) / 2 > 0.55  # off-centre
        left, top, right, bottom = round(x0 * cw), round(y0 * ch), round(x1 * cw), round(y1 * ch)
        expected = np.asarray(Image.fromarray(photo).resize((right - left, bottom - top), Image.Resampling.BICUBIC))
        pasted = a[top:bottom, left:right].astype(int)
        assert np.abs(pasted - expected).mean() < 6  # the photo itself (JPEG q75 apart)
    with pytest.raises(ValueError, match="unknown background"):
        paste_into_scene(photo, others, "beach", np.random.default_rng(0))


def test_plots_are_written(tmp_path):
    path = plot_recall_at_k({"all": np.array([1, 2, 30]), "crop": np.array([1, 1]), "none": np.array([], int)},
                            tmp_path / "r.png", title="t")  # fmt: skip
    assert Image.open(path).format == "PNG"
    stages = [StageTime("faces", "detect", "photo", 70.0, 32), StageTime("faces", "descriptor", "face", 3.3, 31),
              StageTime("search", "rank", "query", 0.4, 32)]  # fmt: skip
    path = plot_stage_times(stages, tmp_path / "s.png", title="ms")
    assert Image.open(path).format == "PNG"
