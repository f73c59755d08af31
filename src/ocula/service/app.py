"""The FastAPI application: ``create_app(settings)``; ``ocula serve`` runs it with uvicorn.

Every route but ``/healthz``, the OpenAPI docs and the static web UI needs an API key. Uploads
arrive as multipart files only: the service never opens a server path or fetches a URL a client
names.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Query
from fastapi.staticfiles import StaticFiles

from .._version import __version__
from ..config import Settings
from ..engine import Engine
from . import routes_collections, routes_galleries, routes_images, routes_video
from .deps import Caller, Services, require, services
from .guard import UploadGuard
from .problems import install_problem_handlers
from .settings import ServiceSettings

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None, service: ServiceSettings | None = None, *, engine: Engine | None = None
) -> FastAPI:
    """The app; its models load on first use and everything closes at shutdown."""
    settings = settings or (engine.settings if engine is not None else Settings())
    service = service or ServiceSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = Services(settings, service, engine)
        try:
            yield
        finally:
            app.state.services.close()

    app = FastAPI(
        title="ocula",
        version=__version__,
        description="Self-hosted visual recognition: tags, faces, galleries, visual search. "
        "Send `Authorization: Bearer KEY` (create one with `ocula keys create NAME --scope read|write|admin`).",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.add_middleware(UploadGuard)

    @app.get("/healthz", tags=["service"], summary="Liveness (no key needed)")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/v1/audit", tags=["service"], summary="Who identified or searched what, newest first (admin)")
    async def audit(
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
        key: Annotated[str | None, Query(description="Only this key's entries.")] = None,
        caller: Caller = require("admin"),
        svc: Services = Depends(services),
    ) -> dict[str, Any]:
        entries = await anyio.to_thread.run_sync(lambda: svc.keys.audit_entries(limit=limit, key_name=key))
        return {"entries": entries}

    app.include_router(routes_images.router)
    app.include_router(routes_galleries.router)
    app.include_router(routes_collections.router)
    app.include_router(routes_video.router)
    static = resources.files("ocula").joinpath("service/static")
    if static.is_dir():
        app.mount("/", StaticFiles(directory=str(static), html=True), name="ui")
    return app
