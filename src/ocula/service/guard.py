"""An ASGI guard in front of the routes: a ``/v1`` upload is refused before its body is read
when the key is missing or invalid (401) or the body is larger than the route accepts (413).

FastAPI parses a multipart body before it runs a route's dependencies, so without this an
anonymous client could make the server read (and spool to disk) any amount of data before the
401, and an authenticated one could send more than the upload limits. The declared
``Content-Length`` is checked first; the streamed bytes are counted too (chunked uploads).
Scopes and rate limits stay in the route dependencies (``deps.require``).
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from .problems import MEDIA_TYPE

__all__ = ["UploadGuard", "body_limit"]

#: Room for the multipart framing and the form fields around the files.
FRAMING = 1 << 20


def body_limit(path: str, service: Any) -> int:
    """The largest body ``path`` accepts."""
    from .routes_galleries import MAX_ENROL_PHOTOS

    if path == "/v1/video/jobs":
        return service.max_video_bytes + FRAMING
    if path.startswith("/v1/galleries/") and path.endswith("/people"):
        return service.max_upload_bytes * MAX_ENROL_PHOTOS + FRAMING
    if path == "/v1/faces/verify":
        return 2 * service.max_upload_bytes + FRAMING
    return service.max_upload_bytes + FRAMING


def _problem(status: int, title: str, detail: str, path: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "instance": path, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


class UploadGuard:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT") or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        svc = scope["app"].state.services
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or svc.keys.authenticate(token.strip()) is None:
            challenge = {"WWW-Authenticate": 'Bearer realm="ocula"'}
            title = "API key required" if not headers.get("authorization") else "Invalid API key"
            await _problem(401, title, "send Authorization: Bearer KEY (ocula keys create)", path, challenge)(
                scope, receive, send
            )
            return
        limit = body_limit(path, svc.service)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _problem(413, "Upload too large", f"the body is over {limit:,} bytes", path)(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # raised inside body parsing: FastAPI re-raises HTTPExceptions
                    raise HTTPException(413, f"the body is over {limit:,} bytes")
            return message

        await self.app(scope, counted, send)
