"""Image embeddings for visual search, from a bundled ImageNet network's pooled features.

The vector is the network's global-average-pooled last feature map (EfficientNet-Lite0: 1280-D,
the ``features`` output of the converted graph), L2-normalised. Its ``stamp`` names the model,
its weights version and the recipe; a collection stores it with every vector, and searching a
collection with another stamp is refused rather than silently comparing different spaces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..models.backends.base import Runner
from ..models.registry import ModelSpec
from .preprocess import resize_center_crop, to_tensor

__all__ = ["SEARCH_MODEL", "ImageEmbedder"]

SEARCH_MODEL = "efficientnet_lite0"
RECIPE = "gap-l2-v1"  # bump when the recipe changes: old collections then need `ocula reindex`


class ImageEmbedder:
    def __init__(self, spec: ModelSpec, runner: Runner):
        assert spec.preprocess is not None
        self.spec, self.runner = spec, runner
        self.dim = 1280

    @property
    def stamp(self) -> str:
        return f"{self.spec.name}@{self.spec.version}/{RECIPE}"

    def prepare(self, image: np.ndarray) -> np.ndarray:
        pre = self.spec.preprocess
        assert pre is not None
        return resize_center_crop(image, pre.input_size, pre.crop_fraction, pre.resample)

    def embed(self, prepared: Sequence[np.ndarray]) -> np.ndarray:
        if not len(prepared):
            return np.zeros((0, self.dim), np.float32)
        assert self.spec.preprocess is not None
        x = to_tensor(np.stack(prepared), self.spec.preprocess)
        features = self.runner.run({"input": x}, ("features",))["features"]
        norm = np.linalg.norm(features, axis=1, keepdims=True)
        return (features / np.maximum(norm, 1e-12)).astype(np.float32)
