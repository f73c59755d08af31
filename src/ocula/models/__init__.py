"""Models: what exists (registry), where its files come from (sources), how it runs (backends)."""

from .registry import FileSpec, ModelSpec, Preprocess, get_model, list_models

__all__ = ["FileSpec", "ModelSpec", "Preprocess", "get_model", "list_models"]
