"""The service's perimeter: an ASGI middleware in front of every route.

For a ``/v1`` route it finds the scope the route needs and refuses, from the headers alone and
before one byte of the body is read: a missing or invalid key (401), a key without that scope
(403), a key over its rate (429), a body over the route's own limit (413, from
``Content-Length``; a streamed body is counted as it arrives). FastAPI parses a multipart body
before it runs a route's dependencies, so these checks cannot live in the routes: the route
dependency ``deps.require`` only reads the key vetted here. Refusals close the connection, so a
refused client cannot go on sending its body.

Every response gets the security headers; an unexpected error becomes a problem document
(``problems.classify``) here too. Refusals go to the audit log, aggregated (``RefusalLog``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
from starlette.exceptions import HTTPException

try:  # the form parser's own reading of the Content-Type (python-multipart; older releases: multipart)
    from python_multipart.multipart import parse_options_header
except ModuleNotFoundError:  # pragma: no cover
    from multipart.multipart import parse_options_header
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .keys import ApiKey, scope_allows
from .problems import MEDIA_TYPE, Problem, classify, server_side_detail
from .settings import ServiceSettings

if TYPE_CHECKING:  # deps imports this module
    from .deps import Services

__all__ = ["KEY_STATE", "SECURITY_HEADERS", "Guard", "RefusalLog", "Refused", "body_limit", "needed_scope", "vet"]

log = logging.getLogger("ocula.service")

#: Where the vetted key goes in the request's ``scope["state"]`` (``request.state``).
KEY_STATE = "ocula_key"
#: Room for the multipart framing and the form fields around the files.
FRAMING = 1 << 20
#: The body of a route that takes no upload (form fields at most).
NO_UPLOAD = 64 << 10
#: Photos one enrolment request takes at most (the routes check it, the perimeter sizes the body).
MAX_ENROL_PHOTOS = 20
#: Uploaded photos each upload route takes at most (the video route has its own limit).
PHOTOS_PER_ROUTE = {
    "/v1/tag": 1,
    "/v1/faces/detect": 1,
    "/v1/faces/verify": 2,
    "/v1/galleries/{gallery}/identify": 1,
    "/v1/collections/{collection}/items": 1,
    "/v1/collections/{collection}/search": 1,
}
#: Form fields (not files) a multipart body may hold besides its files; the routes take 5 at most.
MAX_FORM_FIELDS = 16
#: On every response. The web UI is plain files from this server; its face thumbnails are
#: data: URLs and its photo previews blob: URLs.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
        b"frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def body_limit(route_path: str, method: str, service: ServiceSettings) -> int:
    """The largest body the route ``route_path`` (its template) accepts for ``method``; a route
    missing here takes no upload (fail closed: 413)."""
    if method != "POST":
        return NO_UPLOAD
    if route_path == "/v1/video/jobs":
        return service.max_video_bytes + FRAMING
    if route_path == "/v1/galleries/{gallery}/people":  # enrol
        return service.max_upload_bytes * MAX_ENROL_PHOTOS + FRAMING
    photos = PHOTOS_PER_ROUTE.get(route_path, 0)
    return photos * service.max_upload_bytes + FRAMING if photos else NO_UPLOAD


def max_parts(route_path: str, method: str) -> int:
    """The most parts a multipart body of the route may have: its files and its form fields.
    Starlette keeps every part of up to 1 MB in memory until the whole body is parsed, so a body
    of many small files must be refused while it streams, not after."""
    if method != "POST":
        return MAX_FORM_FIELDS
    if route_path == "/v1/galleries/{gallery}/people":
        return MAX_ENROL_PHOTOS + MAX_FORM_FIELDS
    if route_path == "/v1/video/jobs":
        return 1 + MAX_FORM_FIELDS
    return PHOTOS_PER_ROUTE.get(route_path, 0) + MAX_FORM_FIELDS


def part_delimiter(content_type: str) -> bytes | None:
    """What begins each part of a multipart body of ``content_type`` (None: not multipart),
    as the form parser reads it."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    return b"\n--" + boundary if kind.startswith(b"multipart/") and boundary else None


def matched_route(routes: list[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The one of ``routes`` that will answer ``scope`` (None: another route, or a 404 or 405)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


def needed_scope(route: BaseRoute | None) -> str | None:
    """The key scope ``route`` requires (``deps.require`` marks its dependency), None if open."""
    dependant = getattr(route, "dependant", None)
    for dep in dependant.dependencies if dependant is not None else ():
        scope = getattr(dep.call, "needed_scope", None)
        if scope is not None:
            return scope
    return None


class Refused(Problem):
    """A request refused by the guard; ``key_name`` is the valid key's (403, 429), else None."""

    def __init__(
        self, status: int, title: str, detail: str, headers: dict[str, str] | None = None, key_name: str | None = None
    ):
        super().__init__(status, title, detail, headers)
        self.key_name: str | None = key_name


def vet(svc: Services, authorization: str, need: str) -> ApiKey:
    """The caller's key if it may call a route needing ``need`` now; else raises ``Refused``."""
    challenge = {"WWW-Authenticate": 'Bearer realm="ocula"'}
    if not authorization:
        raise Refused(401, "API key required", "send Authorization: Bearer KEY (ocula keys create)", challenge)
    scheme, _, token = authorization.partition(" ")
    key = svc.keys.authenticate(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if key is None:
        raise Refused(401, "Invalid API key", "the key is unknown or revoked", challenge)
    if not scope_allows(key.scope, need):
        article = "an" if need[0] in "aeiou" else "a"
        detail = f"this needs {article} {need} key; {key.name!r} is {key.scope}"
        raise Refused(403, "Insufficient scope", detail, key_name=key.name)
    wait = svc.rate.take(key.id)
    if wait > 0:
        limit = svc.service.rate_per_minute
        retry = {"Retry-After": str(int(wait) + 1)}
        raise Refused(429, "Too many requests", f"limit {limit}/minute", retry, key_name=key.name)
    return key


def problem_json(
    status: int, title: str, detail: str | None, path: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "instance": path}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


#: A kind of refusal: (status, key name, client address).
RefusalKind = tuple[int, str | None, str | None]
#: An audit row: (key name, action, target, status, client address), ``KeyStore.audit``'s arguments.
AuditRow = tuple[str | None, str, str, int, str | None]


@dataclass
class Window:
    """A kind of refusal's current window: when it began, and the refusals since the first."""

    start: float
    repeats: int = 0


class RefusalLog:
    """Refused requests (401, 403, 429) in the audit log at a bounded cost.

    The first refusal of a kind (status, key, client) in a window is written at once; the rest
    of that window are only counted, and written as one row (``"+N more"``) when the window is
    over: at the next refusal of that kind, or when the server stops. A flood therefore costs a
    counter increment per request and at most two rows per kind and window. Past ``max_kinds``
    open kinds, new ones are counted under client ``"*"``.
    """

    def __init__(self, window: float = 60.0, max_kinds: int = 10_000):
        self.window, self.max_kinds = window, max_kinds
        self._open: dict[RefusalKind, Window] = {}
        self._lock = threading.Lock()

    def note(self, status: int, key_name: str | None, client: str | None, target: str) -> list[AuditRow]:
        """The audit rows (key, action, target, status, client) to write for this refusal."""
        now = time.monotonic()
        rows: list[AuditRow] = []
        with self._lock:
            kind = (status, key_name, client)
            if kind not in self._open and len(self._open) >= self.max_kinds:
                rows += self._close_windows(now)
                if len(self._open) >= self.max_kinds:
                    kind = (status, key_name, "*")
            window = self._open.get(kind)
            if window is not None and now - window.start < self.window:
                window.repeats += 1
                return rows
            if window is not None:
                rows += self._rows_of(kind, window)
            self._open[kind] = Window(now)
        rows.append((kind[1], "refused", target, status, kind[2]))
        return rows

    def flush(self) -> list[AuditRow]:
        """Every open window's count (at shutdown)."""
        with self._lock:
            return self._close_windows(None)

    def _close_windows(self, now: float | None) -> list[AuditRow]:
        rows: list[AuditRow] = []
        for kind, window in list(self._open.items()):
            if now is None or now - window.start >= self.window:
                rows += self._rows_of(kind, window)
                del self._open[kind]
        return rows

    @staticmethod
    def _rows_of(kind: RefusalKind, window: Window) -> list[AuditRow]:
        status, key_name, client = kind
        return [(key_name, "refused", f"+{window.repeats} more", status, client)] if window.repeats else []


class Guard:
    """``routes``: the API routes (``APIRoute``, full paths) whose key scope and body limit the
    guard applies."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]):
        self.app, self.routes = app, routes
        self.refusals = RefusalLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._flush_at_shutdown(scope, receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        try:
            await self._guarded(scope, receive, send_secured)
        except Exception as exc:
            if started:
                raise
            status, title = classify(exc)
            log.exception("%s %s failed", scope["method"], scope["path"])
            await problem_json(status, title, server_side_detail(status), scope["path"])(scope, receive, send_secured)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = matched_route(self.routes, scope) if scope["path"].startswith("/v1/") else None
        need = needed_scope(route)
        if need is None:  # open routes, the UI, and what the router answers 404/405
            await self.app(scope, receive, send)
            return
        svc: Services = scope["app"].state.services
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:  # off the event loop: the key store is SQLite, and may wait for a lock
            key = await anyio.to_thread.run_sync(vet, svc, headers.get("authorization", ""), need)
        except Refused as refusal:
            answer = await self._refuse(svc, scope, refusal)
            await answer(scope, receive, send)
            return
        scope.setdefault("state", {})[KEY_STATE] = key
        limit = body_limit(getattr(route, "path", ""), scope["method"], svc.service)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await problem_json(
                413, "Upload too large", f"the body is over {limit:,} bytes", scope["path"], {"Connection": "close"}
            )(scope, receive, send)
            return
        route_path = getattr(route, "path", "")
        delimiter = part_delimiter(headers.get("content-type", ""))
        await self.app(scope, self._counted(receive, limit, delimiter, max_parts(route_path, scope["method"])), send)

    async def _refuse(self, svc: Services, scope: Scope, refusal: Refused) -> JSONResponse:
        """The refusal's answer (it closes the connection), after noting it in the audit log."""
        client = scope["client"][0] if scope.get("client") else None
        rows = self.refusals.note(refusal.status, refusal.key_name, client, f"{scope['method']} {scope['path']}")
        if rows:
            await anyio.to_thread.run_sync(_write_rows, svc, rows)
        headers = {**refusal.headers, "Connection": "close"}
        return problem_json(refusal.status, refusal.title, refusal.detail, scope["path"], headers)

    @staticmethod
    def _counted(receive: Receive, limit: int, delimiter: bytes | None, parts: int) -> Receive:
        """``receive`` that refuses (413) a body over ``limit`` bytes, or one with more than
        ``parts`` multipart parts (each begins with ``delimiter``; the last one closes the body)."""
        seen = delimiters = 0
        tail = b"\r\n"  # the first delimiter may open the body, without a line break before it

        async def counted() -> Message:
            nonlocal seen, delimiters, tail
            message = await receive()
            if message["type"] != "http.request":
                return message
            body = message.get("body", b"")
            seen += len(body)
            if seen > limit:  # raised inside body parsing: FastAPI re-raises HTTPExceptions
                raise HTTPException(413, f"the body is over {limit:,} bytes", {"Connection": "close"})
            if delimiter is not None:  # a delimiter may straddle two chunks: the tail is searched again
                window = tail + body
                delimiters += window.count(delimiter)
                tail = window[-(len(delimiter) - 1) :]
                if delimiters > parts + 1:
                    detail = f"the body has more than {parts} parts (files and form fields)"
                    raise HTTPException(413, detail, {"Connection": "close"})
            return message

        return counted

    def _flush_at_shutdown(self, scope: Scope, receive: Receive) -> Receive:
        """``receive`` for the lifespan: the refusal counts are written before the app closes
        its stores."""

        async def flushing() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                svc = getattr(scope["app"].state, "services", None)
                rows = self.refusals.flush()
                if svc is not None and rows:
                    await anyio.to_thread.run_sync(_write_rows, svc, rows)
            return message

        return flushing


def _write_rows(svc: Services, rows: list[AuditRow]) -> None:
    for row in rows:
        svc.keys.audit(*row)
