"""The issue's bar: fast top-1 within the published range, accurate better than fast on top-5."""

from __future__ import annotations

import pytest

from ocula import DatasetError
from ocula.eval.imagenet import evaluate_imagenet

from ..conftest import shared

pytestmark = pytest.mark.e2e


#: The accurate preset (12 passes of three networks) is compared with fast on the sample's first
#: photos: 0.3 s of CPU a photo, and the whole sample's figure (README) is `ocula eval imagenet
#: --preset accurate`. On these 150: top-5 misses 1 (accurate) against 3 (fast).
COMPARED = 150


@pytest.fixture(scope="module")
def results(engine):
    root = shared("imagenet/sample-334")
    labels = root / "labels.csv"
    # The fast preset on the whole sample (the top-1 bar) is the session report's ImageNet
    # section, checked in tests/browser/test_report.py: the 334 photos are tagged once per run.
    return {
        "fast-compared": evaluate_imagenet(root, labels, preset="fast", engine=engine, limit=COMPARED),
        "accurate-compared": evaluate_imagenet(root, labels, preset="accurate", engine=engine, limit=COMPARED),
    }


def test_fast_on_the_first_photos(results):
    """evaluate_imagenet's own answer for the fast preset (the whole sample's top-1, the issue's
    bar, is test_report.py::test_fast_top1_in_published_range, from the session report)."""
    fast = results["fast-compared"]
    assert fast.n == COMPARED and fast.failures == 0 and fast.preset == "fast"
    assert 1 - fast.top1_error >= 0.87  # as on the whole sample (measured there: 89.5%)
    assert fast.top5_error < fast.top1_error and fast.images_per_second > 0
    assert fast.models == ["efficientnet_lite0"]


def test_accurate_beats_fast_on_top5(results):
    accurate, fast = results["accurate-compared"], results["fast-compared"]
    assert accurate.n == fast.n == COMPARED
    assert accurate.top5_error < fast.top5_error
    assert accurate.models == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]


def test_malformed_labels(engine, tmp_path):
    root = shared("imagenet/sample-334")
    bad = tmp_path / "labels.csv"
    bad.write_text("file,label\nx.jpg,1\n")
    with pytest.raises(DatasetError, match="missing column"):
        evaluate_imagenet(root, bad, engine=engine)
    bad.write_text("filename,class_index\nx.jpg,1000\n")
    with pytest.raises(DatasetError, match="outside 0-999"):
        evaluate_imagenet(root, bad, engine=engine)
    with pytest.raises(DatasetError, match="is a directory, not a file"):
        evaluate_imagenet(root, tmp_path, engine=engine)  # a folder given as the labels file
    bad.write_text("filename,class_index\nmissing.jpg,3\n")
    with pytest.raises(DatasetError, match="none of the 1 images"):
        evaluate_imagenet(root, bad, engine=engine)
