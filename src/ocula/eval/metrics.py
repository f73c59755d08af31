"""Metrics, as plain functions of arrays."""

from __future__ import annotations

import numpy as np

__all__ = ["topk_correct"]


def topk_correct(probs: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(N,) bool: whether each row's true label is among its ``k`` highest scores.

    Ties at the k-th score count against the row (a conservative top-k).
    """
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if probs.ndim != 2 or labels.shape != (probs.shape[0],):
        raise ValueError("probs must be (N, C) and labels (N,)")
    true_score = probs[np.arange(len(labels)), labels]
    higher_or_equal = (probs >= true_score[:, None]).sum(axis=1) - 1  # others scoring >= the truth
    return higher_or_equal < k
