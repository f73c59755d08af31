"""Tag scores of one video frame: the best ImageNet classes and the concepts above them.

On a single frame the fine labels split their probability (a cat photo: tiger cat 0.38, Egyptian
cat 0.36, tabby 0.18), so a timeline of fine labels flickers while "cat" (their sum, 0.94) holds.
Every hypernym of the best classes that covers at most ``MAX_CONCEPT_CLASSES`` ImageNet classes is
scored as the summed probability of its classes: specific enough to mean something ("dog", 118
breeds; "cat"; "car"; "musical instrument"), never "animal" or "artifact".
"""

from __future__ import annotations

import numpy as np

from ..pipelines.tag import Tagger

__all__ = ["FrameTagger"]

MAX_CONCEPT_CLASSES = 120
#: WordNet nodes too abstract to tag a frame with, whatever their size ("a commodity").
ABSTRACT = frozenset(
    (
        "entity", "physical entity", "abstraction", "object", "whole", "artifact", "instrumentality",
        "device", "container", "structure", "commodity", "consumer goods", "covering", "equipment",
        "implement", "system", "matter", "substance", "organism", "living thing", "chordate",
        "vertebrate", "placental", "domestic animal",
    )
)  # fmt: skip
#: Fine classes considered per frame, and the probability one needs to be reported at all.
TOP_CLASSES, MIN_CLASS_SCORE = 5, 0.05


class FrameTagger:
    def __init__(self, tagger: Tagger):
        self._tagger = tagger
        self._tax = tagger.taxonomy
        self._masks: dict[str, np.ndarray | None] = {}  # concept name -> its classes (None: too general)

    def _mask(self, name: str) -> np.ndarray | None:
        if name not in self._masks:
            mask = self._tax.descendants_mask(self._tax.resolve(name))
            # A name may carry a qualifier telling two senses apart ("substance (agent, food)"):
            # both senses of an abstract word are abstract.
            abstract = name.split(" (")[0] in ABSTRACT
            self._masks[name] = mask if mask.sum() <= MAX_CONCEPT_CLASSES and not abstract else None
        return self._masks[name]

    def scores(self, rgb: np.ndarray) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
        """(label -> score, label -> ancestors) for one RGB frame."""
        probs = self._tagger.probabilities([self._tagger.prepare(rgb)])[0]
        scores: dict[str, float] = {}
        ancestors: dict[str, tuple[str, ...]] = {}
        for i in np.argsort(-probs)[:TOP_CLASSES]:
            if probs[i] < MIN_CLASS_SCORE:
                break
            label = self._tax.labels[i]
            chain = self._tax.class_ancestors[i]
            scores[label] = float(probs[i])
            ancestors[label] = tuple(a for a in chain if self._mask(a) is not None)
            for k, concept in enumerate(ancestors[label]):
                if concept not in scores:
                    ancestors[concept] = ancestors[label][k + 1 :]
                    mask = self._mask(concept)
                    assert mask is not None
                    scores[concept] = float(min(1.0, probs[mask].sum()))
        return scores, ancestors
