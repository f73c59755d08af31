"""The retrieval report's recall@k from kept ranks, the scene queries and the two new plots."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ocula.eval.plots import plot_recall_at_k, plot_stage_times
from ocula.eval.retrieval import SCENES, RetrievalReport, paste_into_scene
from ocula.eval.stages import StageTime


def _report() -> RetrievalReport:
    return RetrievalReport(
        n_catalog=50,
        first_rank=np.array([1, 1, 3, 12, 1, 2]),
        transform_of=np.array(["crop", "crop", "crop", "scene", "scene", "scene"]),
        map=0.5,
        queries_per_second=10.0,
        failed=[],
    )


def test_recall_at_k_counts_first_right_answers():
    r = _report()
    assert r.n_queries == 6
    assert r.recall_at(1) == pytest.approx(3 / 6)
    assert r.recall_at(2) == pytest.approx(4 / 6)
    assert r.recall_at(10) == pytest.approx(5 / 6) == r.recall_at_10
    assert r.recall_at(20) == 1.0
    assert r.recall_at(1, "crop") == pytest.approx(2 / 3) and r.recall_at(1, "scene") == pytest.approx(1 / 3)
    assert np.isnan(r.recall_at(1, "flip"))  # no such queries: not a made-up zero
    assert r.per_transform == pytest.approx({"crop": 2 / 3, "scene": 1 / 3})
    d = r.to_dict()
    assert d["recall_at_k"] == {"1": 0.5, "2": 0.6667, "5": 0.8333, "10": 0.8333, "20": 1.0}
    assert d["n_queries"] == 6 and set(d["recall_at_1_by_transform"]) == {"crop", "scene"}


def test_scene_query_is_deterministic_and_holds_the_photo():
    rng_image = np.random.default_rng(0)
    photo = rng_image.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    others = [np.full((90, 120, 3), 20 * k, np.uint8) for k in range(12)]
    for background in SCENES:
        a, box = paste_into_scene(photo, others, background, np.random.default_rng([1, 2]))
        b, box_b = paste_into_scene(photo, others, background, np.random.default_rng([1, 2]))
        assert a.shape == (480, 640, 3) and np.array_equal(a, b) and box == box_b
        x0, y0, x1, y1 = box
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        assert 0.29 <= x1 - x0 <= 0.56  # 30-55% of the width
        assert (x0 + x1) / 2 < 0.45 or (x0 + x1) / 2 > 0.55  # off-centre
        pasted = a[round(y0 * 480) + 4 : round(y1 * 480) - 4, round(x0 * 640) + 4 : round(x1 * 640) - 4]
        assert pasted.std() > 40  # the noise photo, not a flat background
    with pytest.raises(ValueError, match="unknown background"):
        paste_into_scene(photo, others, "beach", np.random.default_rng(0))


def test_plots_are_written(tmp_path):
    path = plot_recall_at_k({"all": np.array([1, 2, 30]), "crop": np.array([1, 1]), "none": np.array([], int)},
                            tmp_path / "r.png", title="t")  # fmt: skip
    assert Image.open(path).size[0] > 400
    stages = [StageTime("faces", "detect", "photo", 70.0, 32), StageTime("faces", "descriptor", "face", 3.3, 31),
              StageTime("search", "rank", "query", 0.4, 32)]  # fmt: skip
    path = plot_stage_times(stages, tmp_path / "s.png", title="ms")
    assert Image.open(path).size[0] > 400
