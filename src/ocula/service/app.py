"""The FastAPI application: ``create_app(settings)``; ``ocula serve`` runs it with uvicorn.

Every route but ``/healthz``, the OpenAPI schema (``/openapi.json``) and the static web UI needs
an API key. Uploads arrive as multipart files only: the service never opens a server path or
fetches a URL a client names. There is no ``/docs`` page: FastAPI's would load Swagger UI from a
CDN (broken offline, and script from another origin); the schema opens in any OpenAPI viewer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Query
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from .._version import __version__
from ..config import Settings
from ..engine import Engine
from . import routes_clusters, routes_collections, routes_galleries, routes_images, routes_video
from .deps import Caller, Services, require, services
from .guard import Guard
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
        docs_url=None,
        redoc_url=None,
    )
    install_problem_handlers(app)

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

    routers = (
        routes_images.router,
        routes_galleries.router,
        routes_clusters.router,
        routes_collections.router,
        routes_video.router,
    )
    for router in routers:
        app.include_router(router)
    # The guard applies each API route's key scope and body limit before the body is read.
    api_routes = [r for r in app.router.routes if isinstance(r, APIRoute)] + [r for x in routers for r in x.routes]
    app.add_middleware(Guard, routes=api_routes)
    static = resources.files("ocula").joinpath("service/static")
    if static.is_dir():
        app.mount("/", StaticFiles(directory=str(static), html=True), name="ui")
    return app
