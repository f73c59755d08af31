"""Image embeddings for visual search, from a bundled ImageNet network's pooled features.

The vector is EfficientNet-Lite0's last feature map (the ``head`` output of the converted graph,
1280 x 9 x 9) at 288 px (short side 329, centre 288) pooled by generalised mean (GeM, p = 3)
and L2-normalised. ``benchmarks/search_recipes.py`` measured it against the classifier's own
view and pooling (224 px, global average): recall@1 on harder edits (35-50% crops, 25-40 degree
rotations, perspective, combinations) 0.981 vs 0.970 (+13 / -5 queries), on items pasted small
into scenes 0.513 vs 0.443, the built-in edits 1.000 either way; 6.4 instead of 4.0 ms a photo.
PCA-whitening learned on the catalog added more (0.994) but only 0.987 when learned on other
photos, and would tie vectors to one catalog: not used. Its ``stamp`` names the model,
its weights version and the recipe; a collection stores it with every vector, and searching a
collection with another stamp is refused rather than silently comparing different spaces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..models.backends.base import Runner, run_in_chunks
from ..models.registry import ModelSpec, SearchRecipe
from .preprocess import resize_center_crop, to_tensor
from .tag import softmax

__all__ = ["SEARCH_MODEL", "ImageEmbedder", "query_parts", "subject_windows"]

SEARCH_MODEL = "efficientnet_lite0"  # its registry entry's ``search`` holds the recipe (size, GeM p, dim)

# "Photograph it, find it": a query photo may show the item small, in a scene. Besides the whole
# photo, a query searches with a 3x3 grid of windows of half its width and height, and an item
# scores its best match among them. benchmarks/search_recipes.py (sample-334 items pasted at
# 30-55% of the width into other scenes): recall@1 0.443 -> 0.803, with no loss on plain queries
# (built-in edits 1.000 -> 1.000, harder edits 0.970 -> 0.979); a query costs ~38 ms instead of
# ~5 ms. An activation-based subject crop did less (0.543) and lost plain queries.
WINDOW_SIDE, WINDOW_STEPS = 0.5, 3
MIN_WINDOW_SIDE = 32  # pixels; smaller photos are searched whole only
LOGITS = "logits"  # the classifier head's output in the same graph


class ImageEmbedder:
    """Search vectors of ``spec``'s network, made as its registry entry's ``search`` recipe says."""

    def __init__(self, spec: ModelSpec, runner: Runner):
        if spec.preprocess is None or spec.search is None:
            raise ValueError(f"model {spec.name} has no search recipe")
        self.spec, self.runner = spec, runner
        self.recipe: SearchRecipe = spec.search
        self.dim = self.recipe.dim

    @property
    def stamp(self) -> str:
        return f"{self.spec.name}@{self.spec.version}/{self.recipe.name}"

    def prepare(self, image: np.ndarray) -> np.ndarray:
        pre = self.spec.preprocess
        assert pre is not None
        return resize_center_crop(image, self.recipe.input_size, pre.crop_fraction, pre.resample)

    def embed(self, prepared: Sequence[np.ndarray]) -> np.ndarray:
        return self._run(prepared, classify=False)[0]

    def embed_and_classify(self, prepared: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Search vectors and (N, 1000) ImageNet class probabilities from the same forward pass:
        the classifier head runs on the pooled features the vector is made from, at the search
        recipe's size (what a collection's concept scores are made of; see
        benchmarks/index_concepts.py for what this costs and what it scores)."""
        vectors, logits = self._run(prepared, classify=True)
        assert logits is not None
        return vectors, softmax(logits.astype(np.float64)).astype(np.float32)

    def _run(self, prepared: Sequence[np.ndarray], *, classify: bool) -> tuple[np.ndarray, np.ndarray | None]:
        if not len(prepared):
            return np.zeros((0, self.dim), np.float32), (np.zeros((0, 1000), np.float32) if classify else None)
        assert self.spec.preprocess is not None
        x = to_tensor(np.stack(prepared), self.spec.preprocess)
        output, p = self.recipe.output, self.recipe.gem_p
        out = run_in_chunks(self.runner, "input", x, (output, LOGITS) if classify else (output,))
        head = out[output]
        features = np.power(np.power(np.maximum(head, 1e-6), p).mean(axis=(2, 3)), 1.0 / p)
        norm = np.linalg.norm(features, axis=1, keepdims=True)
        return (features / np.maximum(norm, 1e-12)).astype(np.float32), (out[LOGITS] if classify else None)


def subject_windows(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The query windows (x0, y0, x1, y1 pixels) of a ``width`` x ``height`` photo: a
    3 x 3 grid of windows half its width and height, evenly spread; none for tiny photos."""
    w, h = round(width * WINDOW_SIDE), round(height * WINDOW_SIDE)
    if min(w, h) < MIN_WINDOW_SIDE:
        return []
    xs = [round((width - w) * i / (WINDOW_STEPS - 1)) for i in range(WINDOW_STEPS)]
    ys = [round((height - h) * i / (WINDOW_STEPS - 1)) for i in range(WINDOW_STEPS)]
    return [(x, y, x + w, y + h) for y in ys for x in xs]


def query_parts(
    image: np.ndarray, *, windows: bool = True
) -> tuple[list[tuple[int, int, int, int] | None], list[np.ndarray]]:
    """What a search query is made of: the whole ``image`` (box ``None``) and, with ``windows``,
    its :func:`subject_windows`. Returns the boxes and the parts (views into ``image``)."""
    boxes: list[tuple[int, int, int, int] | None] = [None]
    if windows:
        boxes += subject_windows(image.shape[1], image.shape[0])
    return boxes, [image if b is None else image[b[1] : b[3], b[0] : b[2]] for b in boxes]
