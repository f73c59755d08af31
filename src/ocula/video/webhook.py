"""Deliver video analysis events to a user's webhook without slowing the analysis down.

An analysis loop produces events at frame rate; the receiving server may be slow, down, or rate-limiting.
:class:`WebhookSender` therefore decouples the two: :meth:`WebhookSender.send` only serialises the event and
appends it to a *bounded* in-memory queue (dropping the oldest event when full), and one daemon thread POSTs
the events in order, retrying transient failures with capped exponential backoff. The analysis never waits on
the network and memory never grows past ``max_queue`` events; what could not be delivered is counted in
:class:`WebhookStats` and logged, not raised.

Targets: a webhook URL comes from whoever starts the analysis (a CLI flag, an API call), and the events
are POSTed from this machine, so a link-local address (``169.254.0.0/16``, ``fe80::/10``, also written
as IPv4-mapped/-compatible or NAT64 IPv6) or a cloud metadata address (:data:`METADATA_ADDRESSES`)
would let it probe the instance metadata service. Those are refused unless ``allow_link_local``: when
the sender is made (every address the host resolves to, a clear :class:`InputError`) and again at
each connection (the addresses checked are the ones connected to, so a DNS answer that changes in
between cannot slip one in). Loopback and private addresses stay allowed: users run receivers on
the same machine or network.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import http.client
import ipaddress
import json
import logging
import math
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from ..errors import InputError

__all__ = ["METADATA_ADDRESSES", "WebhookSender", "WebhookStats", "check_webhook_url"]

log = logging.getLogger("ocula.video.webhook")

_USER_AGENT = "ocula-webhook"

#: Cloud instance-metadata addresses outside the link-local ranges (169.254.169.254 and ECS's
#: 169.254.170.2 are link-local): AWS IMDS over IPv6, Alibaba Cloud, Azure's WireServer, Oracle's legacy one.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200", "168.63.129.16", "192.0.0.192")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass
class WebhookStats:
    """What happened to the events given to :meth:`WebhookSender.send`.

    Once the sender is closed, ``delivered + failed + dropped`` equals the number of ``send`` calls.
    """

    delivered: int = 0
    failed: int = 0  # gave up after retries, a non-retryable status, not JSON-able, or undelivered at close()
    dropped: int = 0  # the queue was full: the OLDEST queued event was dropped to make room

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would turn a POST answered by 301/302/303 into a body-less GET and report success:
    # the event would be lost silently. Refusing redirects makes them a visible (non-retryable) failure.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class _RefusedTarget(OSError):
    """The webhook host resolved, at connection time, to an address events may not be sent to."""


def _carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: IPv4-mapped (``::ffff:a.b.c.d``), NAT64
    (``64:ff9b::a.b.c.d``) or the deprecated IPv4-compatible form (``::a.b.c.d``)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):  # ::1 and :: are themselves
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_refused_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Link-local (which holds most metadata services) or a known metadata address, in any spelling."""
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ipaddress.IPv6Address(ip.packed)  # drop a %scope
        carried = _carried_ipv4(ip)
        if carried is not None and _is_refused_address(carried):
            return True
    return ip.is_link_local or ip in METADATA_ADDRESSES


def _resolve(host: str, port: int) -> list[tuple]:
    """getaddrinfo for a TCP connection to ``host``: numeric forms (``2852039166``, ``0xa9.0xfe.0xa9.0xfe``,
    ``[::ffff:a9fe:a9fe]``) come out as the address the connection would really reach."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _refused_among(infos: list[tuple]) -> str | None:
    """The first resolved address events may not be sent to, as text; None if all may."""
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if _is_refused_address(ip):
            return str(ip)
    return None


def _connect_checked(
    address: tuple[str, int],
    timeout: float | None = None,
    source_address: tuple[str, int] | None = None,
    *,
    allow_link_local: bool,
) -> socket.socket:
    """``socket.create_connection`` that refuses link-local and metadata addresses, and connects
    to exactly the addresses it checked (no second DNS lookup that could answer differently)."""
    host, port = address
    infos = _resolve(host, port)
    refused = None if allow_link_local else _refused_among(infos)
    if refused is not None:
        raise _RefusedTarget(f"{host} resolves to {refused}, a link-local or cloud metadata address")
    error: OSError = OSError(f"{host}: no address to connect to")
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if isinstance(timeout, (int, float)):
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as err:
            sock.close()
            error = err
    raise error


def _checked_connection(connection_class: type, allow_link_local: bool) -> Callable[..., http.client.HTTPConnection]:
    """A factory of ``connection_class`` connections (HTTP or HTTPS) that connect through
    :func:`_connect_checked`. http.client opens its socket through the instance's
    ``_create_connection`` (the hook the standard library's own tests use), so TLS, SNI and
    certificate checks are unchanged."""

    def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
        connection = connection_class(*args, **kwargs)
        connection._create_connection = functools.partial(_connect_checked, allow_link_local=allow_link_local)
        return connection

    return make


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, allow_link_local: bool):
        super().__init__()
        self._allow_link_local = allow_link_local

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_checked_connection(http.client.HTTPConnection, self._allow_link_local), req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, allow_link_local: bool):
        super().__init__()
        self._allow_link_local = allow_link_local

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_checked_connection(http.client.HTTPSConnection, self._allow_link_local), req)


class WebhookSender:
    """POST JSON events to ``url`` from one background thread, through a bounded queue.

    ``send`` never blocks and never raises for delivery problems. ``close`` delivers what is queued
    (for at most ``timeout`` seconds, plus at most one request ``timeout`` for a request in flight),
    stops the thread and returns the final :class:`WebhookStats`. Use it as a context manager.
    ``allow_link_local`` lets events go to link-local and cloud metadata addresses, which are
    refused otherwise (see the module's notes); loopback and private addresses are always allowed.
    """

    def __init__(
        self,
        url: str,
        *,
        max_queue: int = 1000,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        timeout: float = 5.0,
        headers: dict[str, str] | None = None,
        allow_link_local: bool = False,
    ):
        self._url = url
        # scheme://host[:port] only: the path or query may carry a secret token
        self._where = check_webhook_url(url, allow_link_local=allow_link_local)
        if max_queue <= 0:
            raise InputError(f"webhook max_queue must be positive, got {max_queue}")
        if not timeout > 0:
            raise InputError(f"webhook timeout must be positive, got {timeout}")
        if retries < 0:
            raise InputError(f"webhook retries must be >= 0, got {retries}")
        if not (backoff >= 0 and max_backoff >= 0):
            raise InputError(f"webhook backoff and max_backoff must be >= 0, got {backoff} and {max_backoff}")
        self._retries = int(retries)
        self._backoff = float(backoff)
        self._max_backoff = float(max_backoff)
        self._timeout = float(timeout)
        self._headers = _build_headers(headers)
        self._opener = urllib.request.build_opener(
            _NoRedirect, _CheckedHTTPHandler(allow_link_local), _CheckedHTTPSHandler(allow_link_local)
        )

        self._stats = WebhookStats()
        self._queue: collections.deque[bytes] = collections.deque(maxlen=max_queue)
        self._cond = threading.Condition()
        self._closing = False  # no new events; the worker exits once the queue is empty
        self._abort = threading.Event()  # close() timed out: stop now, also interrupts a retry wait
        self._in_flight = False  # an event popped by the worker whose outcome is not counted yet
        self._close_lock = threading.Lock()
        self._final: WebhookStats | None = None
        self._thread = threading.Thread(target=self._run, name="ocula-webhook", daemon=True)
        self._thread.start()

    @property
    def stats(self) -> WebhookStats:
        """The live counts (updated by the worker thread)."""
        return self._stats

    def send(self, event: dict) -> None:
        """Queue ``event`` for delivery. Never blocks on the network; safe to call from any thread."""
        try:
            # Serialise now: the caller may reuse or mutate the dict after send() returns.
            body = json.dumps(event).encode("utf-8")
        except (TypeError, ValueError) as err:
            # A bad event must not crash the analysis loop; it is counted and logged instead.
            with self._cond:
                self._stats.failed += 1
            log.warning("webhook %s: event is not JSON-serialisable, not sent: %s", self._where, err)
            return
        with self._cond:
            if self._closing:
                self._stats.failed += 1
                closed, dropped = True, 0
            else:
                closed, full = False, len(self._queue) == self._queue.maxlen
                if full:
                    self._stats.dropped += 1  # the deque discards its oldest item on append
                dropped = self._stats.dropped if full else 0
                self._queue.append(body)
                self._cond.notify()
        # Log outside the lock; and only at 1, 2, 4, 8, ... drops so a stalled receiver cannot flood the log.
        if closed:
            log.warning("webhook %s: send() after close(), event not sent", self._where)
        elif dropped and dropped & (dropped - 1) == 0:
            log.warning("webhook %s: queue full, dropped the oldest event (%d dropped so far)", self._where, dropped)

    def close(self, timeout: float = 10.0) -> WebhookStats:
        """Deliver what is queued (for at most ``timeout`` seconds), stop the worker, return the final stats.

        Events still undelivered then are counted as failed. Calling it again returns the same stats.
        """
        with self._close_lock:
            if self._final is not None:
                return dataclasses.replace(self._final)
            with self._cond:
                self._closing = True
                self._cond.notify_all()
            self._thread.join(max(0.0, timeout))
            if self._thread.is_alive():
                self._abort.set()  # wakes a retry wait at once; a request in flight ends within its own timeout
                with self._cond:
                    self._cond.notify_all()
                self._thread.join(self._timeout + 0.5)
            with self._cond:
                left = len(self._queue)
                self._queue.clear()
                if self._in_flight:  # the worker is still stuck in a request: claim it so counts are final now
                    self._in_flight = False
                    left += 1
                self._stats.failed += left
                self._final = dataclasses.replace(self._stats)
            if left:
                log.warning("webhook %s: closed with %d undelivered event(s), counted as failed", self._where, left)
            return dataclasses.replace(self._final)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- worker thread -----------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if self._abort.is_set() or not self._queue:  # aborted, or closing and drained
                    return
                body = self._queue.popleft()
                self._in_flight = True
            problem = self._deliver(body)
            with self._cond:
                if not self._in_flight:  # close() gave up on us and already counted this event
                    return
                self._in_flight = False
                if problem is None:
                    self._stats.delivered += 1
                else:
                    self._stats.failed += 1
            if problem is not None:
                log.warning("webhook %s: event not delivered: %s", self._where, problem)

    def _deliver(self, body: bytes) -> str | None:
        """POST one event, retrying transient failures. None on success, else why it failed."""
        attempt = 0
        while True:
            delay: float | None = None
            try:
                request = urllib.request.Request(self._url, data=body, headers=self._headers, method="POST")
                with self._opener.open(request, timeout=self._timeout):
                    pass  # any 2xx (urllib raises HTTPError otherwise); the response body is not needed
                return None
            except urllib.error.HTTPError as err:
                status = err.code
                retry_after = err.headers.get("Retry-After") if err.headers is not None else None
                err.close()
                if status != 429 and status < 500:
                    return f"HTTP {status} {err.reason} (not retried)"
                problem = f"HTTP {status} {err.reason}"
                if status in (429, 503):  # the statuses for which Retry-After is defined
                    delay = _retry_after_seconds(retry_after)
            except urllib.error.URLError as err:  # connection refused, DNS, TLS, ... (wraps an OSError)
                if isinstance(err.reason, _RefusedTarget):
                    return f"{err.reason} (not retried; allow_link_local permits it)"
                problem = f"{type(err.reason).__name__}: {err.reason}"
            except (OSError, http.client.HTTPException) as err:  # timeouts and resets while reading the reply
                problem = f"{type(err).__name__}: {err}"
            if attempt >= self._retries:
                return f"{problem}; gave up after {attempt + 1} attempt(s)"
            if delay is None:
                delay = self._backoff * 2**attempt
            # Event.wait, not time.sleep: close() must be able to cut a long backoff short.
            if self._abort.wait(min(delay, self._max_backoff)):
                return f"{problem}; stopped by close() after {attempt + 1} attempt(s)"
            attempt += 1


def check_webhook_url(url: str, *, allow_link_local: bool = False) -> str:
    """Raise InputError unless ``url`` is a usable http(s) URL whose host (resolved now) is no
    link-local or metadata address (unless ``allow_link_local``); return its scheme://host[:port]
    for logs. A host that does not resolve now is not refused: it is checked again at each
    connection, and a receiver's DNS may be back by then."""
    where = _check_url(url)
    if not allow_link_local:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        try:
            infos = _resolve(parts.hostname or "", port)
        except (OSError, UnicodeError):
            infos = []
        refused = _refused_among(infos)
        if refused is not None:
            raise InputError(
                f"webhook host {parts.hostname} is {refused}, a link-local or cloud metadata address; "
                "events are not sent there unless allowed (--webhook-allow-link-local, allow_link_local=True)"
            )
    return where


def _check_url(url: str) -> str:
    """Raise InputError unless ``url`` is a usable http(s) URL; return its scheme://host[:port] for logs."""
    if not isinstance(url, str) or not url:
        raise InputError(f"webhook URL must be a non-empty http:// or https:// URL, got {url!r}")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InputError(f"webhook URL must not contain spaces or control characters: {url!r}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise InputError(f"webhook URL must start with http:// or https://, got {url!r}")
    if not parts.hostname:
        raise InputError(f"webhook URL has no host: {url!r}")
    if parts.username is not None or parts.password is not None:
        # urllib would send "user:pw@host" as the host name; credentials belong in a header.
        raise InputError("webhook URL must not contain credentials; pass headers={'Authorization': ...} instead")
    try:
        port = parts.port
    except ValueError as err:
        raise InputError(f"webhook URL has an invalid port: {url!r}") from err
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")


def _build_headers(extra: dict[str, str] | None) -> dict[str, str]:
    headers = {"User-Agent": _USER_AGENT}
    for name, value in (extra or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InputError(f"webhook header names and values must be strings, got {name!r}: {value!r}")
        if not name or any(c in name for c in "\r\n:") or any(c in value for c in "\r\n"):
            raise InputError(f"invalid webhook header {name!r}")  # header injection; value may be a secret
        headers[name] = value
    # urllib normalises header-name case, so this wins over any Content-Type the caller passed: the body IS JSON.
    headers["Content-Type"] = "application/json"
    return headers


def _retry_after_seconds(value: str | None) -> float | None:
    """A numeric Retry-After in seconds, else None (an HTTP date or garbage falls back to backoff)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
