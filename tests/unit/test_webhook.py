"""WebhookSender against a real loopback HTTP server: order, retries, the queue bound and close()."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ocula.errors import InputError
from ocula.video.webhook import WebhookSender, WebhookStats


class Receiver:
    """What the test server saw, and what it answers (a script of statuses, then 200)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # method, path, headers, body
        self.script: list[tuple[int, dict[str, str]]] = []
        self.gate = threading.Event()  # cleared: the handler holds its answer back
        self.gate.set()
        self.url = ""

    @property
    def bodies(self) -> list:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # urllib honours *_proxy variables; a developer's proxy must not see (or break) loopback requests.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receiver():
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with rec.lock:
                rec.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, headers = rec.script.pop(0) if rec.script else (200, {})
            rec.gate.wait(5)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET = _handle

        def log_message(self, format, *args):  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook?token=secret"
    try:
        yield rec
    finally:
        rec.gate.set()
        server.shutdown()
        server.server_close()
        thread.join(2)


def wait_until(predicate, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_delivers_in_order_with_json_body_and_headers(receiver):
    events = [{"frame": i, "label": "person", "score": 0.5 + i / 10} for i in range(5)]
    with WebhookSender(receiver.url, headers={"Authorization": "Bearer abc"}) as sender:
        for event in events:
            sender.send(event)
    assert sender.stats == WebhookStats(delivered=5, failed=0, dropped=0)
    assert receiver.bodies == events
    first = receiver.requests[0]
    assert first["method"] == "POST"
    assert first["path"] == "/hook?token=secret"
    assert first["headers"]["Content-Type"] == "application/json"
    assert first["headers"]["User-Agent"] == "ocula-webhook"
    assert first["headers"]["Authorization"] == "Bearer abc"
    assert first["body"] == json.dumps(events[0]).encode()


def test_event_is_snapshotted_at_send(receiver):
    event = {"frame": 1}
    with WebhookSender(receiver.url) as sender:
        sender.send(event)
        event["frame"] = 2  # the analysis loop reuses its dict
    assert receiver.bodies == [{"frame": 1}]


def test_content_type_cannot_be_overridden_but_user_agent_can(receiver):
    headers = {"content-type": "text/plain", "User-Agent": "mine/1"}
    with WebhookSender(receiver.url, headers=headers) as sender:
        sender.send({"a": 1})
    got = receiver.requests[0]["headers"]
    assert got["Content-Type"] == "application/json"
    assert got["User-Agent"] == "mine/1"


def test_retries_503_then_delivers_once(receiver):
    receiver.script = [(503, {}), (503, {})]
    with WebhookSender(receiver.url, backoff=0.01) as sender:
        sender.send({"n": 1})
        stats = sender.close(5)
    assert stats == WebhookStats(delivered=1, failed=0, dropped=0)
    assert receiver.count() == 3
    assert receiver.bodies == [{"n": 1}] * 3


def test_gives_up_after_exactly_retries_plus_one_attempts(receiver, caplog):
    receiver.script = [(500, {})] * 10
    with caplog.at_level(logging.WARNING, logger="ocula.video.webhook"):
        stats = _send_and_close(receiver.url, [{"n": 1}], retries=2, backoff=0.01)
    assert stats == WebhookStats(delivered=0, failed=1, dropped=0)
    assert receiver.count() == 3
    [record] = caplog.records
    assert "HTTP 500" in record.getMessage() and "3 attempt" in record.getMessage()
    assert "secret" not in record.getMessage()  # the query string may hold a token: never logged


def test_429_honours_retry_after_zero(receiver):
    # A backoff of 30 s would blow the close timeout: delivery proves Retry-After: 0 was used instead.
    receiver.script = [(429, {"Retry-After": "0"})]
    start = time.monotonic()
    stats = _send_and_close(receiver.url, [{"n": 1}], backoff=30, max_backoff=30, close_timeout=3)
    assert stats == WebhookStats(delivered=1, failed=0, dropped=0)
    assert receiver.count() == 2
    assert time.monotonic() - start < 2


def test_retry_after_is_capped_by_max_backoff(receiver):
    receiver.script = [(429, {"Retry-After": "3600"})]
    start = time.monotonic()
    stats = _send_and_close(receiver.url, [{"n": 1}], max_backoff=0.05, close_timeout=3)
    assert stats == WebhookStats(delivered=1, failed=0, dropped=0)
    assert time.monotonic() - start < 2


def test_400_is_not_retried(receiver, caplog):
    receiver.script = [(400, {})]
    with caplog.at_level(logging.WARNING, logger="ocula.video.webhook"):
        stats = _send_and_close(receiver.url, [{"n": 1}, {"n": 2}], backoff=0.01)
    assert stats == WebhookStats(delivered=1, failed=1, dropped=0)
    assert receiver.bodies == [{"n": 1}, {"n": 2}]  # one attempt for the first, then the next event
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "HTTP 400" in record.getMessage()
    assert record.exc_info is None and "\n" not in record.getMessage()


def test_redirect_is_a_failure_not_a_silent_get(receiver):
    receiver.script = [(302, {"Location": "/elsewhere"})]
    stats = _send_and_close(receiver.url, [{"n": 1}], backoff=0.01)
    assert stats == WebhookStats(delivered=0, failed=1, dropped=0)
    assert [r["method"] for r in receiver.requests] == ["POST"]


def test_connection_refused_fails_after_retries(caplog):
    url = f"http://127.0.0.1:{closed_port()}/hook"
    with caplog.at_level(logging.WARNING, logger="ocula.video.webhook"):
        stats = _send_and_close(url, [{"n": 1}], retries=3, backoff=0.01)
    assert stats == WebhookStats(delivered=0, failed=1, dropped=0)
    [record] = caplog.records
    assert "4 attempt" in record.getMessage()


def test_full_queue_drops_oldest_and_keeps_newest(receiver):
    receiver.gate.clear()
    sender = WebhookSender(receiver.url, max_queue=2, timeout=5)
    sender.send({"n": 0})
    wait_until(lambda: receiver.count() == 1)  # event 0 is in flight, the queue is empty
    start = time.monotonic()
    for n in range(1, 7):
        sender.send({"n": n})
    assert time.monotonic() - start < 0.5  # send() never waited on the stalled server
    assert sender.stats.dropped == 4
    receiver.gate.set()
    stats = sender.close(5)
    assert stats == WebhookStats(delivered=3, failed=0, dropped=4)
    assert receiver.bodies == [{"n": 0}, {"n": 5}, {"n": 6}]


@pytest.mark.parametrize(
    "url",
    ["ftp://x", "not a url", "http://", "", "https:///path", "file:///etc/passwd", "http://u:pw@host/", "http://h:x/"],
)
def test_bad_url_raises_input_error(url):
    with pytest.raises(InputError):
        WebhookSender(url)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_queue": 0},
        {"timeout": 0},
        {"timeout": -1},
        {"retries": -1},
        {"backoff": -1},
        {"headers": {"X": "a\r\nB: c"}},
    ],
)
def test_bad_settings_raise_input_error(kwargs):
    with pytest.raises(InputError):
        WebhookSender("http://127.0.0.1:9/hook", **kwargs)


def test_close_is_idempotent_and_stops_the_thread(receiver):
    sender = WebhookSender(receiver.url)
    sender.send({"n": 1})
    first = sender.close()
    assert first == WebhookStats(delivered=1)
    assert sender.close() == first
    assert not sender._thread.is_alive()
    assert first.to_dict() == {"delivered": 1, "failed": 0, "dropped": 0}


def test_send_after_close_and_unserialisable_events_count_as_failed(receiver):
    sender = WebhookSender(receiver.url)
    sender.send({"bad": object()})  # must not raise into the analysis loop
    sender.close()
    sender.send({"late": True})
    assert sender.stats == WebhookStats(delivered=0, failed=2, dropped=0)
    assert receiver.count() == 0


def test_close_is_bounded_when_the_server_never_answers(receiver):
    receiver.gate.clear()  # the handler holds every answer back
    sender = WebhookSender(receiver.url, timeout=0.2, backoff=10, max_backoff=10)
    for n in range(3):
        sender.send({"n": n})
    wait_until(lambda: receiver.count() >= 1)
    start = time.monotonic()
    stats = sender.close(timeout=0.2)
    # close timeout + at most one request timeout (+ slack); the 10 s backoff wait was interrupted
    assert time.monotonic() - start < 1.5
    assert stats == WebhookStats(delivered=0, failed=3, dropped=0)
    assert not sender._thread.is_alive()


def test_worker_is_a_named_daemon_thread(receiver):
    with WebhookSender(receiver.url) as sender:
        assert sender._thread.name == "ocula-webhook"
        assert sender._thread.daemon


def _send_and_close(url: str, events: list[dict], close_timeout: float = 5, **kwargs) -> WebhookStats:
    sender = WebhookSender(url, **kwargs)
    for event in events:
        sender.send(event)
    return sender.close(close_timeout)


# Link-local and cloud metadata targets, in the spellings that reach them.
REFUSED_TARGETS = [
    "http://169.254.169.254/latest/meta-data/",  # AWS, GCP, Azure, OpenStack metadata
    "http://169.254.170.2/v2/credentials",  # ECS task credentials
    "https://169.254.1.1:8443/hook",
    "http://[fe80::1]/hook",
    "http://[febf:ffff::1]/hook",  # the top of fe80::/10
    "http://[::ffff:169.254.169.254]/hook",  # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]/hook",
    "http://[::169.254.169.254]/hook",  # IPv4-compatible (deprecated)
    "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64
    "http://2852039166/hook",  # 169.254.169.254 as one decimal number
    "http://0xa9fea9fe/hook",
    "http://169.254.43518/hook",  # inet_aton's a.b.c form
    "http://[fd00:ec2::254]/hook",  # AWS IMDS over IPv6
    "http://100.100.100.200/hook",  # Alibaba Cloud
    "http://168.63.129.16/hook",  # Azure WireServer
    "http://192.0.0.192/hook",  # Oracle Cloud (legacy)
]


@pytest.mark.parametrize("url", REFUSED_TARGETS)
def test_link_local_and_metadata_targets_are_refused_unless_allowed(url):
    with pytest.raises(InputError, match="link-local or cloud metadata"):
        WebhookSender(url)
    WebhookSender(url, allow_link_local=True).close(0)  # the explicit option; nothing is sent


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook", "http://10.1.2.3/hook",
     "http://192.168.0.10/hook", "http://172.16.0.1/hook", "http://[fd12:3456::1]/hook"],
)  # fmt: skip
def test_loopback_and_private_targets_stay_allowed(url):
    WebhookSender(url).close(0)  # receivers on this machine or network are the common case


def test_an_address_that_changes_after_the_check_is_refused_at_connection(receiver, monkeypatch, caplog):
    """DNS rebinding: the host resolves to the (allowed) receiver when the sender is made, then to
    the metadata address. The connection checks the addresses it connects to and does not retry."""
    port = int(receiver.url.split(":")[2].split("/")[0])
    answers = iter([("127.0.0.1", port)])
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):  # the network's DNS, not ocula: only this host
        if host != "rebind.example":
            return real(host, *args, **kwargs)
        address = next(answers, ("169.254.169.254", port))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", address)]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with caplog.at_level(logging.WARNING, logger="ocula.video.webhook"):
        stats = _send_and_close(f"http://rebind.example:{port}/hook", [{"n": 1}], retries=3, backoff=0.01)
    assert stats == WebhookStats(delivered=0, failed=1, dropped=0) and receiver.count() == 0
    [record] = caplog.records
    assert "169.254.169.254" in record.getMessage() and "not retried" in record.getMessage()


@pytest.fixture
def tls_receiver(tmp_path):
    """A loopback HTTPS receiver with a self-signed certificate for localhost; yields (url, cert path)."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}/hook", cert, received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(2)


def test_https_through_the_checked_connection_still_verifies_the_certificate(tls_receiver, monkeypatch):
    url, cert, received = tls_receiver
    assert _send_and_close(url, [{"n": 1}], retries=0) == WebhookStats(delivered=0, failed=1)  # untrusted
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now the receiver's certificate is trusted
    assert _send_and_close(url, [{"n": 2}], retries=0) == WebhookStats(delivered=1, failed=0)
    assert [json.loads(body) for body in received] == [{"n": 2}]
