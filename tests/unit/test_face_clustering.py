"""Face clustering: average linkage equals a brute-force reference, cannot-link holds, BCubed."""

from __future__ import annotations

import numpy as np
import pytest

from ocula import InputError
from ocula.galleries.clustering import bcubed, cluster_faces
from ocula.pipelines.faces import similarity


def reference_average_linkage(x, photos, threshold):
    """The textbook algorithm: merge the pair of groups with the highest mean pairwise
    similarity while it reaches the threshold and no two members share a photo."""
    groups = [[i] for i in range(len(x))]
    sim = similarity(x[:, None, :], x[None, :, :])
    while True:
        best, pair = -np.inf, None
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                if {photos[i] for i in groups[a]} & {photos[i] for i in groups[b]}:
                    continue
                s = sim[np.ix_(groups[a], groups[b])].mean()
                if s > best:
                    best, pair = s, (a, b)
        if pair is None or best < threshold:
            break
        a, b = pair
        groups[a] += groups.pop(b)
    return sorted(sorted(g) for g in groups)


def as_groups(labels):
    return sorted(sorted(np.flatnonzero(labels == v).tolist()) for v in np.unique(labels))


@pytest.mark.parametrize("threshold", [0.6, 0.8, 0.9])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_average_linkage_matches_the_reference(seed, threshold):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=0.25, size=(5, 16))
    x = (centres[rng.integers(0, 5, 40)] + rng.normal(scale=0.08, size=(40, 16))).astype(np.float32)
    photos = rng.integers(0, 25, 40)  # some photos hold several faces
    got = as_groups(cluster_faces(x, photos, threshold=threshold))
    assert sorted(i for group in got for i in group) == list(range(40))  # every face in one group
    assert got == reference_average_linkage(x, photos, threshold)


def test_two_faces_of_one_photo_never_share_a_cluster():
    rng = np.random.default_rng(3)
    person = rng.normal(scale=0.3, size=16).astype(np.float32)
    x = person + rng.normal(scale=0.01, size=(6, 16)).astype(np.float32)  # one person, six faces
    photos = ["a", "a", "b", "c", "c", "d"]  # e.g. a mirror or a poster in the same photo
    labels = cluster_faces(x, photos, threshold=0.5)
    for p in set(photos):
        members = labels[[i for i, q in enumerate(photos) if q == p]]
        assert len(set(members)) == len(members), p
    assert len(set(cluster_faces(x, threshold=0.5))) == 1  # without photos: one cluster
    assert cluster_faces(x[:0]).shape == (0,)
    with pytest.raises(InputError):
        cluster_faces(x, photos[:2])


def test_labels_are_numbered_by_size_and_bcubed_scores():
    x = np.array([[0, 0], [0, 0.01], [0, 0.02], [5, 5], [5, 5.01], [9, 0]], np.float32)
    labels = cluster_faces(x, threshold=0.9)
    assert labels.tolist() == [0, 0, 0, 1, 1, 2]
    assert bcubed(labels, list("aaabbc")) == (1.0, 1.0, 1.0)
    p, r, f = bcubed(np.zeros(6, int), list("aaabbc"))  # everything in one cluster
    assert r == 1.0 and p == pytest.approx((3 * 3 / 6 + 2 * 2 / 6 + 1 / 6) / 6) and 0 < f < 1
