"""Near-duplicate groups from search embeddings: pairs at or above a similarity threshold,
joined transitively (single linkage), so a photo edited twice still lands with its original.

The default threshold was measured with ``ocula eval retrieval``'s seven edits on ImageNet
sample-334 (``benchmarks/dedupe_threshold.py``, search recipe gem3-288-l2-v2): at 0.70 no pair
of different photos (of 55,611) and 98.7% of original-edit pairs reach it; overlaid text is the
hardest edit (95%). At 0.65, 4 different-photo pairs do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_THRESHOLD", "DuplicateGroup", "duplicate_groups"]

DEFAULT_THRESHOLD = 0.70


@dataclass(frozen=True)
class DuplicateGroup:
    members: tuple[int, ...]  # indices into the input, the first is the representative
    scores: tuple[float, ...]  # each member's similarity to the representative (1.0 for itself)


def duplicate_groups(vectors: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> list[DuplicateGroup]:
    """Groups of two or more rows of L2-normalised ``vectors`` linked by similarity ≥ threshold,
    largest group first. Uses FAISS range search, so memory grows with the number of close pairs,
    not with the square of the number of photos."""
    import faiss

    v = np.ascontiguousarray(vectors, np.float32)
    n = len(v)
    if n < 2:
        return []
    index = faiss.IndexFlatIP(v.shape[1])
    index.add(v)
    lims, _, ids = index.range_search(v, float(threshold))
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in ids[lims[i] : lims[i + 1]]:
            a, b = find(i), find(int(j))
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(find(i), []).append(i)
    groups = []
    for rows in members.values():
        if len(rows) < 2:
            continue
        first = rows[0]
        groups.append(DuplicateGroup(tuple(rows), tuple(float(v[first] @ v[r]) for r in rows)))
    return sorted(groups, key=lambda g: (-len(g.members), g.members[0]))
