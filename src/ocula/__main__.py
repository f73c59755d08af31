"""``python -m ocula`` runs the CLI."""

from .cli import run

run()
