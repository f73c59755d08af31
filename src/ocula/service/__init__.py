"""``ocula serve``: the REST API (FastAPI) with API keys, an audit log, and the web UI."""

from .app import create_app

__all__ = ["create_app"]
