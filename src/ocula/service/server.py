"""How ``ocula serve`` runs the app: uvicorn with an HTTP/1.1 protocol that bounds each connection.

uvicorn bounds the idle time between requests (keep-alive) and the size of request headers, but
not the time a client may take to send them or a body: a client that opens connections and
trickles bytes would hold them (and a file descriptor each) for ever. ``PerimeterProtocol``, a
small subclass of uvicorn's h11 protocol, closes a connection

- whose request headers are not complete ``header_timeout`` seconds after the connection opened,
  or ``keep_alive + header_timeout`` after the previous answer was sent (408; an idle kept-alive
  connection is closed by uvicorn after ``keep_alive``),
- whose request body stalls ``idle_timeout`` seconds without a byte, or is not complete
  ``body_timeout`` seconds after its headers (408),

and refuses (closed at once) a connection from an address that has ``max_connections_per_client``
open already (429), or any beyond ``max_connections`` (503): a flood of connections holds at most
that many file descriptors, for at most ``header_timeout`` seconds. Answers the protocol writes itself are minimal
problem documents with the security headers.

A connection closed while its client may still be sending (a refusal answered before the body, a
deadline, a bad request) is closed *lingering*, as nginx does: closing a socket with unread bytes
makes Linux send RST, and a client that writes its whole body before reading (httpx, requests) then
sees a reset instead of the answer. The server half-closes (FIN after the answer), reads and
discards what still comes for at most ``LINGER_SECONDS`` and ``LINGER_BYTES``, then closes.
"""

from __future__ import annotations

import asyncio
import http
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .guard import SECURITY_HEADERS
from .problems import MEDIA_TYPE
from .settings import ServiceSettings

__all__ = ["ConnectionLimits", "PerimeterProtocol", "protocol_class", "run"]

#: Largest request head (request line and headers) h11 buffers (431 above).
MAX_HEAD_BYTES = 16 * 1024
#: How long, and how many bytes, a closing connection reads (and drops) of what its client still
#: sends, so that the client reads the answer before the close (see the module's docstring).
LINGER_SECONDS = 2.0
LINGER_BYTES = 32 * 2**20


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    idle_timeout: float
    keep_alive: float
    per_client: int
    total: int

    @classmethod
    def of(cls, s: ServiceSettings) -> ConnectionLimits:
        per_client, total = s.max_connections_per_client, s.max_connections
        return cls(s.header_timeout, s.body_timeout, s.idle_timeout, s.keep_alive, per_client, total)


def raw_problem(status: int, detail: str) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection, written without the app."""
    title = http.HTTPStatus(status).phrase
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    head = [f"HTTP/1.1 {status} {title}".encode(), b"content-type: " + MEDIA_TYPE.encode(), b"connection: close"]
    head += [b"content-length: " + str(len(body)).encode(), *(k + b": " + v for k, v in SECURITY_HEADERS)]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class LingeringTransport:
    """The transport uvicorn's protocol writes to: the same, but ``close()`` asks ``linger`` whether to
    close at once. uvicorn closes its transport in a dozen places; this is the one hook for them all.
    Once lingering, it is closing for uvicorn (writes are dropped, reads are the protocol's to drop)."""

    def __init__(self, transport: asyncio.Transport, linger: Callable[[], bool]):
        self.raw = transport
        self._linger = linger
        self.lingering = False

    def close(self) -> None:
        if not self.lingering and not self.raw.is_closing():
            self.lingering = self._linger()
            if not self.lingering:
                self.raw.close()

    def is_closing(self) -> bool:
        return self.lingering or self.raw.is_closing()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.lingering:  # after write_eof the raw transport raises; the answer is out already
            self.raw.write(data)

    def pause_reading(self) -> None:
        if not self.lingering:  # lingering reads until the end, whatever the flow control says
            self.raw.pause_reading()

    def __getattr__(self, name: str) -> Any:  # get_extra_info, resume_reading, set_protocol, ...
        return getattr(self.raw, name)


class PerimeterProtocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines per request, a connection limit per client, and a
    lingering close."""

    limits: ConnectionLimits  # set by ``protocol_class``

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._lingering_transport = LingeringTransport(transport, self._start_lingering)
        self._lingered_bytes = 0
        self._linger_timer: asyncio.TimerHandle | None = None
        self._refused_at_open = False
        super().connection_made(self._lingering_transport)  # type: ignore[arg-type]  # a transport in all uvicorn uses
        self._timer: asyncio.TimerHandle | None = None
        self._waiting_since = self._body_since = self._last_byte = self.loop.time()
        self._headers_due_in = self.limits.header_timeout
        refusal = self._refusal()
        if refusal is not None:
            self.logger.warning("%s: connection refused: %s", self.client and self.client[0], refusal[1])
            self.transport.write(raw_problem(*refusal))
            self._refused_at_open = True  # its request may be on its way: linger
            self.transport.close()
            return
        self._arm()

    def _refusal(self) -> tuple[int, str] | None:
        """(status, detail) when this new connection is one too many, else None."""
        if len(self.connections) > self.limits.total:  # uvicorn's limit_concurrency only refuses requests
            return 503, f"the server has {self.limits.total} connections open; try again later"
        host = self.client[0] if self.client else None
        others = sum(1 for c in self.connections if c is not self and (getattr(c, "client", None) or ("",))[0] == host)
        if host is not None and others >= self.limits.per_client:
            return 429, f"at most {self.limits.per_client} connections per client"
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (getattr(self, "_timer", None), getattr(self, "_linger_timer", None)):
            if timer is not None:
                timer.cancel()
        self._timer = self._linger_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering_transport.lingering:  # the answer is out; what the client still sends is dropped
            self._lingered_bytes += len(data)
            if self._lingered_bytes > LINGER_BYTES:
                self._lingering_transport.raw.abort()
            return
        before = self.conn.their_state
        super().data_received(data)
        now = self.loop.time()
        self._last_byte = now
        if before is h11.IDLE and self.conn.their_state is h11.SEND_BODY:
            self._body_since = now
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        now = self.loop.time()
        self._waiting_since = now  # the next request may wait for keep-alive, then send its headers
        self._headers_due_in = self.limits.keep_alive + self.limits.header_timeout
        if self.conn.their_state is h11.SEND_BODY:  # a pipelined request, already started
            self._body_since = self._last_byte = now
        self._arm()

    # -- lingering close ---------------------------------------------------------------------
    def _peer_may_be_sending(self) -> bool:
        """Whether the client may still be sending: refused before its request was read, in the
        middle of a body, or of a request h11 has part of (or could not parse)."""
        state = self.conn.their_state
        return self._refused_at_open or state in (h11.SEND_BODY, h11.ERROR) or bool(self.conn.trailing_data[0])

    def _start_lingering(self) -> bool:
        """Half-close after the answer and read on (bounded) instead of closing; False: close now."""
        raw = self._lingering_transport.raw
        if not self._peer_may_be_sending() or not raw.can_write_eof():
            return False
        raw.write_eof()  # FIN once the answer is written; the client reads it, then closes its side
        # (its FIN closes the transport: uvicorn's eof_received asks asyncio to)
        raw.resume_reading()  # flow control may have paused it; the kernel buffer must be drained
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, raw.abort)  # abort: no wait on a full buffer
        return True

    # -- deadlines --------------------------------------------------------------------------
    def _deadline(self) -> float | None:
        """When the request being received must be complete (None: none is)."""
        state = self.conn.their_state
        if state is h11.IDLE:
            return self._waiting_since + self._headers_due_in
        if state is h11.SEND_BODY:
            return min(self._body_since + self.limits.body_timeout, self._last_byte + self.limits.idle_timeout)
        return None

    def _arm(self) -> None:
        """One timer per connection; it only ever needs to fire earlier (later deadlines are
        seen when it fires), so most bytes cost no timer operation."""
        deadline = self._deadline()
        if deadline is None or (self._timer is not None and self._timer.when() <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        deadline = self._deadline()
        if deadline is None or self.transport.is_closing():
            return
        if self.loop.time() < deadline:
            self._arm()
            return
        waiting_for = "headers" if self.conn.their_state is h11.IDLE else "body"
        self.logger.info("%s: request %s not received in time; closed", self.client and self.client[0], waiting_for)
        cycle = self.cycle if waiting_for == "body" else None
        if cycle is None or not cycle.response_started:
            self.transport.write(raw_problem(408, f"the request's {waiting_for} did not arrive in time"))
        if cycle is not None:  # the app reading the body sees the client gone, not a stall
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def protocol_class(service: ServiceSettings) -> type[PerimeterProtocol]:
    """``PerimeterProtocol`` with ``service``'s limits (a class per server, not a global)."""
    return type("PerimeterProtocol", (PerimeterProtocol,), {"limits": ConnectionLimits.of(service)})


def run(app: Any, service: ServiceSettings, host: str, port: int) -> None:
    """Serve ``app`` until SIGINT/SIGTERM; uvicorn then stops accepting, finishes the running
    requests, and the app's lifespan closes the models, stores and the video job worker."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        http=protocol_class(service),
        ws="none",  # no WebSocket route: an upgrade must not leave these bounds
        limit_concurrency=service.max_connections,
        timeout_keep_alive=service.keep_alive,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        log_level="info",
        timeout_graceful_shutdown=30,
    )
