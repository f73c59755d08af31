from __future__ import annotations

import numpy as np
import pytest

from ocula.eval.metrics import topk_correct


def test_topk_correct():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.4, 0.4, 0.2]])
    labels = np.array([1, 2, 1])
    assert list(topk_correct(probs, labels, 1)) == [True, False, False]  # a tie at the top counts as a miss
    assert list(topk_correct(probs, labels, 2)) == [True, False, True]
    assert list(topk_correct(probs, labels, 3)) == [True, True, True]


def test_topk_shapes_checked():
    with pytest.raises(ValueError):
        topk_correct(np.zeros((2, 3)), np.zeros(3, int), 1)
