"""Photo tagging: ImageNet-1k classes with their WordNet ancestors, and coarse concepts.

A *preset* names a set of models and test-time views whose class probabilities are averaged:

- ``fast``: EfficientNet-Lite0 at its native 224 px centre crop, one pass.
- ``accurate``: an ensemble of EfficientNet-Lite0/1/2 with test-time augmentation; its members
  and views were chosen by measurement (``benchmarks/choose_accurate_preset.py``; numbers in the
  README), not guessed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..models.backends.base import Runner, run_in_chunks
from ..models.registry import ModelSpec, Preprocess
from ..taxonomy import Taxonomy
from ..types import Tag, Tags, Within
from .preprocess import resize_center_crop, to_tensor

__all__ = ["PRESETS", "Preset", "PresetName", "Tagger", "View"]

#: Confidence floors of the presets (see PRESETS): the ensemble's averaged probabilities are
#: flatter, so its floor is lower (on noise images its best class reaches 0.19, fast's 0.10).
FAST_FLOOR = 0.3
ACCURATE_FLOOR = 0.2


class PresetName(enum.StrEnum):
    FAST = "fast"
    ACCURATE = "accurate"


@dataclass(frozen=True)
class View:
    """One test-time view of an image: an input size and crop (None = the model's own) and a flip."""

    input_size: int | None = None
    crop_fraction: float | None = None
    flip: bool = False

    def resolve(self, pre: Preprocess) -> tuple[int, float, bool]:
        return (self.input_size or pre.input_size, self.crop_fraction or pre.crop_fraction, self.flip)


@dataclass(frozen=True)
class Member:
    model: str
    views: tuple[View, ...] = (View(),)


@dataclass(frozen=True)
class Preset:
    """A set of models and views; ``recognised_at`` is its confidence floor: an image whose best
    tag scores below it is answered "nothing recognised" (its tags are best guesses)."""

    name: str
    members: tuple[Member, ...]
    description: str
    recognised_at: float

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(m.model for m in self.members)


def _multiscale_flip(up_size: int) -> tuple[View, ...]:
    """Native crop and a 1.14x larger one (same field of view, more pixels), each also mirrored."""
    return (View(), View(flip=True), View(input_size=up_size), View(input_size=up_size, flip=True))


# The confidence floors were chosen with benchmarks/choose_recognised_floor.py on one half of
# imagenet/sample-334 and of a set of blank, gradient and noise images (the rule, fixed before
# looking: the highest floor losing at most 5% of the correct top-1 answers); numbers for both
# halves are in the README.
PRESETS: Mapping[str, Preset] = {
    "fast": Preset(
        "fast", (Member("efficientnet_lite0"),), "EfficientNet-Lite0, 224 px centre crop", recognised_at=FAST_FLOOR
    ),
    # Chosen with benchmarks/choose_accurate_preset.py on imagenet/sample-334: among Lite0+1+2
    # ensembles with test-time augmentation, the lowest top-5 then top-1 error (1.2% / 7.2%
    # against fast's 2.1% / 10.5%; no image lost from fast's top-5). Costs ~22x fast's FLOPs.
    "accurate": Preset(
        "accurate",
        (
            Member("efficientnet_lite0", _multiscale_flip(256)),
            Member("efficientnet_lite1", _multiscale_flip(272)),
            Member("efficientnet_lite2", _multiscale_flip(296)),
        ),
        "EfficientNet-Lite0+1+2 ensemble at native and 1.14x resolution, each also mirrored",
        recognised_at=ACCURATE_FLOOR,
    ),
}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


_ViewKey = tuple[int, float]  # (input_size, crop_fraction); a flip reuses the same crop


class Tagger:
    """Runs a preset's models on prepared images and turns probabilities into :class:`Tags`.

    Work is split so decoding can run on other threads: :meth:`prepare` (one image, CPU-bound
    in PIL/NumPy, thread-safe) and :meth:`probabilities` (a batch through the runners).
    """

    def __init__(
        self, preset: Preset, runners: Mapping[str, Runner], specs: Mapping[str, ModelSpec], taxonomy: Taxonomy
    ):
        self.preset = preset
        self.taxonomy = taxonomy
        self._runners = runners
        self._specs = specs
        self._crops: dict[_ViewKey, Preprocess] = {}
        for member in preset.members:
            pre = specs[member.model].preprocess
            assert pre is not None, f"{member.model} declares no preprocessing"
            for view in member.views:
                size, crop, _ = view.resolve(pre)
                self._crops[(size, crop)] = pre

    @property
    def decode_min_side(self) -> int:
        """How small a JPEG may be decoded (by DCT scaling) before this preset resizes it.

        Twice the largest resize target, so bicubic still does the last reduction. Measured on
        the 204 JPEGs of ../shared/data with a short side >= 514 px (fast preset): decoding at
        2x agrees with a full decode on 99.5% of top-1 labels (mean |change| of the top score
        0.003); decoding at exactly 1x agreed on only 93.6%.
        """
        return 2 * max(Preprocess.resize_short_side(size, crop) for size, crop in self._crops)

    def prepare(self, image: np.ndarray) -> dict[_ViewKey, np.ndarray]:
        """The centre crops this preset needs, as (H, W, 3) uint8 arrays."""
        return {
            (size, crop): resize_center_crop(image, size, crop, pre.resample)
            for (size, crop), pre in self._crops.items()
        }

    def probabilities(self, prepared: Sequence[Mapping[_ViewKey, np.ndarray]]) -> np.ndarray:
        """(N, 1000) class probabilities, averaged over the preset's models and views."""
        total = None
        count = 0
        for member in self.preset.members:
            spec = self._specs[member.model]
            assert spec.preprocess is not None
            runner = self._runners[member.model]
            for view in member.views:
                size, crop, flip = view.resolve(spec.preprocess)
                crops = np.stack([p[(size, crop)] for p in prepared])
                if flip:
                    crops = crops[:, :, ::-1]
                logits = run_in_chunks(runner, "input", to_tensor(crops, spec.preprocess), ("logits",))["logits"]
                probs = softmax(logits.astype(np.float64))
                total = probs if total is None else total + probs
                count += 1
        assert total is not None
        return (total / count).astype(np.float32)

    def to_tags(
        self,
        probs: np.ndarray,
        *,
        top_k: int = 5,
        levels: Sequence[str] = (),
        within: str | None = None,
        min_score: float = 0.0,
        recognised_at: float | None = None,
    ) -> Tags:
        """Tags of one image from its (1000,) probabilities.

        Args:
            top_k: how many fine (class) tags, best first.
            levels: coarse concepts ("dog", "cat", "vehicle"); when given, the result holds one tag
                per concept instead of fine tags, scored by the summed probability of every class
                below it.
            within: only fine tags below this concept ("which dog breed?"), scored p(class |
                concept) = p(class) / p(concept); ``Tags.within`` holds p(concept).
            min_score: drop tags scoring below this (after conditioning on ``within``).
            recognised_at: the confidence floor (None: the preset's ``recognised_at``). The image
                is recognised when its best tag (or, with ``within``, the concept) scores at least
                this; ``Tags.recognised`` says so.
        """
        floor = self.preset.recognised_at if recognised_at is None else recognised_at
        if levels:
            tags = self._concept_tags(probs, levels, floor)
        else:
            tags = self._class_tags(probs, top_k, within, floor)
        return tags[tags.score >= min_score] if min_score > 0 else tags

    def _concept_tags(self, probs: np.ndarray, levels: Sequence[str], floor: float) -> Tags:
        tax = self.taxonomy
        records = []
        for wnid in dict.fromkeys(tax.resolve(c) for c in levels):  # synonyms count once
            score = float(min(1.0, probs[tax.descendants_mask(wnid)].sum()))
            index = tax.classes.index(wnid) if wnid in tax.classes else None
            records.append(Tag(tax.names[wnid], wnid, index, score, tax.ancestors(wnid)))
        records.sort(key=lambda t: -t.score)
        return Tags.from_records(records, recognised=bool(records) and records[0].score >= floor)

    def _class_tags(self, probs: np.ndarray, top_k: int, within: str | None, floor: float) -> Tags:
        tax = self.taxonomy
        candidates = np.arange(len(probs))
        scores = probs.astype(np.float64)
        concept = None
        if within is not None:
            wnid = tax.resolve(within)
            candidates = np.flatnonzero(tax.descendants_mask(wnid))
            p_concept = float(min(1.0, probs[candidates].sum()))
            concept = Within(tax.names[wnid], wnid, p_concept)
            # p(class | concept): a breed at 0.027 of a photo that is 0.03 dog is 0.9 of its dog
            scores = np.minimum(1.0, scores / p_concept) if p_concept > 0 else np.zeros_like(scores)
        order = candidates[np.argsort(-probs[candidates], kind="stable")][: max(0, top_k)]
        records = [
            Tag(tax.labels[i], tax.classes[i], int(i), float(scores[i]), tax.class_ancestors[i]) for i in order
        ]
        best = concept.score if concept is not None else float(probs.max(initial=0.0))
        return Tags.from_records(records, recognised=best >= floor, within=concept)
