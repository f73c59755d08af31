"""Runners: the narrow interface between pipelines and an inference engine."""

from .base import Runner

__all__ = ["Runner"]
