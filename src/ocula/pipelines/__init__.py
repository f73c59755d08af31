"""Pipelines: images in, typed results out. They know models only through Runners."""
