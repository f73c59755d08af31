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
    return {
        "fast": evaluate_imagenet(root, labels, preset="fast", engine=engine),
        "fast-compared": evaluate_imagenet(root, labels, preset="fast", engine=engine, limit=COMPARED),
        "accurate-compared": evaluate_imagenet(root, labels, preset="accurate", engine=engine, limit=COMPARED),
    }


def test_fast_top1_in_published_range(results):
    fast = results["fast"]
    assert fast.n == 334 and fast.failures == 0
    assert 1 - fast.top1_error >= 0.70  # the bar; EfficientNet-Lite0: 75.1% on ImageNet val
    # This fixed sample (likely training-split photos) measures 89.5%; a resize, crop or
    # normalisation slip would cost more than two points.
    assert 1 - fast.top1_error >= 0.87
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
    with pytest.raises(DatasetError, match="cannot read"):
        evaluate_imagenet(root, tmp_path, engine=engine)  # a folder given as the labels file
    bad.write_text("filename,class_index\nmissing.jpg,3\n")
    with pytest.raises(DatasetError, match="none of the 1 images"):
        evaluate_imagenet(root, bad, engine=engine)
