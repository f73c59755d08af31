"""A refused client that is still sending its body reads the refusal (lingering close).

The guard answers 401/403/413/429 before reading a body and closes the connection; so does the
server for a connection over its limits. Closing a socket whose receive buffer holds unread bytes
makes Linux send RST, and a client that writes its whole body before reading got a connection
reset instead of the answer (httpx's async client reliably: its socket is dropped on the failed
write). The server now half-closes and drops what the client still sends, within bounds.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from .test_perimeter import LIMITS, PATIENCE, connect, head_only, multipart_body, serve_module

pytestmark = pytest.mark.slow  # real servers or CLI processes: left out of the quick tier


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from serve_module(tmp_path_factory, LIMITS)


#: Bodies far larger than the socket buffers, so that the client is still writing when refused.
UPLOAD = multipart_body(1, 24 * 2**20)
TOO_LARGE = multipart_body(1, 30 * 2**20)  # /v1/tag takes one photo of 20 MiB at most


def post(port: int, path: str, key: str, body: bytes, source: str = "127.0.0.1") -> httpx.Response:
    """One POST by a client that sends its whole body before reading (httpx's async client)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "multipart/form-data; boundary=b"}

    async def send() -> httpx.Response:
        transport = httpx.AsyncHTTPTransport(local_address=source)
        async with httpx.AsyncClient(transport=transport, timeout=PATIENCE) as client:
            return await client.post(f"http://127.0.0.1:{port}{path}", content=body, headers=headers)

    return asyncio.run(send())


def test_a_client_sending_its_body_gets_the_403_for_a_read_key(served):
    port, keys = served
    answer = post(port, "/v1/galleries/g/people", keys["read"], UPLOAD)
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_client_sending_its_body_gets_the_401_for_a_bad_key(served):
    port, _ = served
    answer = post(port, "/v1/galleries/g/people", "ocula_not-a-key", UPLOAD)
    assert answer.status_code == 401, answer.text


def test_a_client_sending_a_body_too_large_gets_the_413(served):
    port, keys = served
    answer = post(port, "/v1/tag", keys["read"], TOO_LARGE)
    assert answer.status_code == 413, answer.text


def test_a_client_over_its_connections_gets_the_429(served):
    port, keys = served
    held = [connect(port, "127.0.0.10") for _ in range(int(LIMITS["OCULA_SERVICE_MAX_CONNECTIONS_PER_CLIENT"]))]
    try:
        answer = post(port, "/v1/galleries/g/people", keys["write"], UPLOAD, source="127.0.0.10")
    finally:
        for conn in held:
            conn.close()
    assert answer.status_code == 429, answer.text


def test_a_refused_client_that_keeps_sending_is_closed_all_the_same(served):
    """Lingering is bounded (LINGER_SECONDS, LINGER_BYTES): a client that sends for ever is cut
    off. The 30 s only catch a hang."""
    port, keys = served
    with connect(port, "127.0.0.9") as conn:
        conn.sendall(head_only("POST", "/v1/galleries/g/people", keys["read"], 2**40))
        answer = b""
        while chunk := conn.recv(65536):  # the answer, then the server's half-close
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 403 "), answer[:200]
        give_up = time.monotonic() + 30
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            while time.monotonic() < give_up:
                conn.sendall(b"\xff" * 65536)
