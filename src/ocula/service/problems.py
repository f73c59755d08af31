"""Errors as RFC 7807 problem documents (``application/problem+json``), never a traceback.

ocula's typed errors map to statuses here, in one place: a bad upload is 4xx, an unknown gallery
404, a model that cannot load 503, a full disk 507, a store that cannot be read or written 503;
anything unexpected is a 500 whose body says only that. No answer names a path of the server:
details of 5xx answers stay in the log, and absolute paths in 4xx details are cut to their last
part (``scrub_paths``).
"""

from __future__ import annotations

import errno
import logging
import re
import sqlite3
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
    NoConceptScores,
    NoFaceFound,
    OculaError,
    StoreError,
    UnknownName,
    VideoError,
)

__all__ = [
    "Problem",
    "broken_store",
    "classify",
    "install_problem_handlers",
    "problem_response",
    "scrub_paths",
    "server_side_detail",
]

log = logging.getLogger("ocula.service")
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        """``extra``: more members of the problem document (RFC 7807 extensions)."""
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}
        self.extra = extra or {}


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


#: An absolute POSIX path (two parts at least), not inside a word, URL or relative path.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/-])/(?:[^\s'\"/:,;()]+/)+([^\s'\":,;()]*)")
#: errno values of a write that found no room.
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def scrub_paths(text: str) -> str:
    """``text`` with each absolute path cut to ``…/`` and its last part."""
    return _ABSOLUTE_PATH.sub(lambda m: "…/" + m.group(1), text)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from or during (even ``from None``), bounded."""
    chain: list[BaseException] = []
    while exc is not None and len(chain) < 16 and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def storage_status(exc: BaseException) -> tuple[int, str] | None:
    """(507, ...) when a write found the disk full, (503, ...) when a store could not be read or
    written otherwise, None when ``exc`` is not about storage."""
    chain = _causes(exc)
    for e in chain:
        full_sqlite = isinstance(e, sqlite3.Error) and (
            getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(e)
        )
        if full_sqlite or (isinstance(e, OSError) and e.errno in _NO_ROOM):
            return 507, "Insufficient storage"
    if any(isinstance(e, (sqlite3.Error, OSError)) for e in chain):
        return 503, "Storage unavailable"
    return None


def classify(exc: BaseException) -> tuple[int, str]:
    """(status, title) for any exception a request raised."""
    if isinstance(exc, Problem):
        return exc.status, exc.title
    if isinstance(exc, OculaError):
        return status_of(exc)
    return storage_status(exc) or (500, "Internal error")


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
    if isinstance(exc, UnknownName) and exc.kind == "word":
        return 422, "Unknown word"  # a word of a query, not a resource
    if isinstance(exc, UnknownName):
        return 404, "Not found"
    if isinstance(exc, NoConceptScores):
        return 409, "Collection needs a reindex"
    if isinstance(exc, InputError):
        return 422, "Invalid input"
    if isinstance(exc, ModelError):
        return 503, "Model unavailable"
    if isinstance(exc, StoreError):  # a store that cannot be read or written (full disk: 507)
        return storage_status(exc) or (503, "Storage unavailable")
    return storage_status(exc) or (500, "Internal error")


def broken_store(kind: str, name: str, exc: Exception) -> str:
    """What a listing says of a store that cannot be opened or counted (the detail is logged):
    one broken store must not hide the others."""
    log.error("%s %r cannot be listed: %s: %s", kind, name, type(exc).__name__, exc)
    status, title = classify(exc)
    return f"{title.lower()}: {scrub_paths(str(exc))}" if status < 500 else f"{title.lower()}; see the server's log"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc.status, exc.title, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(OculaError)
    async def _ocula(request: Request, exc: OculaError) -> JSONResponse:
        status, title = status_of(exc)
        if status >= 500:  # the detail (paths, the store's own words) stays in the log
            log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
            detail = scrub_paths(str(exc)) if isinstance(exc, ModelError) else server_side_detail(status)
            return problem_response(request, status, title, detail, error_type=type(exc).__name__)
        extra = {"suggestions": list(exc.suggestions)} if isinstance(exc, UnknownName) else {}
        return problem_response(request, status, title, scrub_paths(str(exc)), error_type=type(exc).__name__, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        return problem_response(request, 422, "Invalid request", "; ".join(
            f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors
        ), errors=errors)  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed", 413: "Upload too large"}.get(
            exc.status_code, "HTTP error"
        )
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(request, exc.status_code, title, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        status, title = classify(exc)
        return problem_response(request, status, title, server_side_detail(status))


def server_side_detail(status: int) -> str:
    """The detail of a 5xx answer: what the client can do, never the server's own words."""
    if status == 507:
        return "the server's disk is full; nothing was stored; try again when there is room"
    if status == 503:
        return "the server cannot use its storage or models now; see its log"
    return "the server failed; see its log"
