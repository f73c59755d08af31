"""The Engine and its parts: a model pool, and the services that run on it.

``pool`` (ModelPool: settings, loaded models, lock, close) < ``decode`` (decode-ahead) <
``faces``, ``tagging``, ``search`` (services that receive the pool; ``search`` embeds on Ray
through ``ray``, which takes a worker factory) < ``core`` (Engine: one-line delegates).
"""

from .core import Engine

__all__ = ["Engine"]
