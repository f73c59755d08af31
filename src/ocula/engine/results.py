"""What visual search answers, per input: small frozen records with named fields."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import OculaError

__all__ = ["Dedupe", "Duplicate", "Embedded", "Unreadable"]


@dataclass(frozen=True, eq=False)
class Embedded:
    """One input of :meth:`ocula.Engine.embed_images`: its ``name`` and either its
    L2-normalised ``vector`` or the ``error`` that kept it from one."""

    name: str
    vector: np.ndarray | None
    error: OculaError | None
    #: (1000,) ImageNet class probabilities from the same forward pass, when asked for
    #: (``classify=True``): what the item's concept scores are made of.
    probabilities: np.ndarray | None = None


@dataclass(frozen=True)
class Unreadable:
    """An input that could not be embedded: its name and why."""

    name: str
    error: OculaError


@dataclass(frozen=True)
class Duplicate:
    """A member of a near-duplicate group: its name and its similarity to the group's first."""

    name: str
    similarity: float


@dataclass(frozen=True)
class Dedupe:
    """What :meth:`ocula.Engine.dedupe` found: the near-duplicate ``groups``, largest first,
    and the ``failed`` (unreadable) inputs."""

    groups: list[list[Duplicate]]
    failed: list[Unreadable]
