"""Errors as RFC 7807 problem documents (``application/problem+json``), never a traceback.

ocula's typed errors map to statuses here, in one place: a bad upload is 4xx, an unknown gallery
404, a model that cannot load 503; anything unexpected is a 500 whose body says only that.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    ImageDecodeError,
    ImageError,
    ImageTooLarge,
    InputError,
    ModelError,
    NoFaceFound,
    OculaError,
    UnknownName,
    VideoError,
)

__all__ = ["Problem", "install_problem_handlers", "problem_response"]

log = logging.getLogger("ocula.service")
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "instance": request.url.path}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def status_of(exc: OculaError) -> tuple[int, str]:
    """(status, title) for an ocula error."""
    if isinstance(exc, ImageTooLarge):
        return 413, "Image too large"
    if isinstance(exc, (ImageDecodeError, VideoError)):
        return 415, "Unsupported or corrupt media"
    if isinstance(exc, ImageError):
        return 422, "Unusable image"
    if isinstance(exc, NoFaceFound):
        return 422, "No face found"
    if isinstance(exc, UnknownName):
        return 404, "Not found"
    if isinstance(exc, InputError):
        return 422, "Invalid input"
    if isinstance(exc, ModelError):
        return 503, "Model unavailable"
    return 500, "Internal error"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc.status, exc.title, exc.detail, exc.headers)

    @app.exception_handler(OculaError)
    async def _ocula(request: Request, exc: OculaError) -> JSONResponse:
        status, title = status_of(exc)
        if status >= 500:
            log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return problem_response(request, status, title, str(exc), error_type=type(exc).__name__)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        return problem_response(request, 422, "Invalid request", "; ".join(
            f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors
        ), errors=errors)  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed", 413: "Upload too large"}.get(exc.status_code, "HTTP error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(request, exc.status_code, title, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return problem_response(request, 500, "Internal error", "the server failed; see its log")
