"""Load check of ``ocula serve``: 32 concurrent clients on loopback for a bounded time, per route
(tag, identify): requests/s, p50/p99 latency, errors (must be 0).

The server is a real ``ocula serve`` subprocess (uvicorn, 2 model workers). The peer, in this
script, is the same work called in-process on the same photo (no HTTP, no upload, no decoding of
a multipart body), run back to back: the ratio says what the service costs on top.

    python benchmarks/service_load.py                  # 20 s per route, about 1.5 minutes
    python benchmarks/service_load.py --seconds 60 --clients 32
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from ocula import Engine, Settings
from ocula.galleries import Gallery
from ocula.service.keys import KeyStore, key_store_path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / ".." / "shared" / "data" / "faces" / "face-recognition-examples" / "examples" / "knn_examples"
PHOTO = EXAMPLES / "test" / "obama_and_biden.jpg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def hammer(url: str, key: str, files_for, clients: int, seconds: float) -> tuple[list[float], int, int]:
    """(latencies of successful requests, errors, requests) over ``seconds`` with ``clients`` loops."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=120) as client:

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                start = time.perf_counter()
                r = await client.post(url, files=files_for())
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1

        await asyncio.gather(*(loop() for _ in range(clients)))
    return latencies, errors, len(latencies) + errors


def in_process_rate(fn, seconds: float) -> float:
    fn()  # warm
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="load time per route")
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    photo = PHOTO.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        settings = Settings(data_dir=data)
        store = KeyStore(key_store_path(data))
        key = store.create("load", "write")[1]
        store.close()
        with Engine(settings) as engine:
            with Gallery.open("watch", engine=engine, create=True) as g:
                for person in ("obama", "biden"):
                    g.enroll(person, sorted((EXAMPLES / "train" / person).iterdir()))
                peer = {
                    "tag": in_process_rate(lambda: engine.tag(photo), min(args.seconds, 10)),
                    "identify": in_process_rate(lambda: g.identify(photo), min(args.seconds, 10)),
                }
        port = free_port()
        env = {**os.environ, "OCULA_DATA_DIR": str(data), "OCULA_SERVICE_RATE_PER_MINUTE": "1000000"}
        server = subprocess.Popen(
            [sys.executable, "-m", "ocula", "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            routes = {"tag": "/v1/tag", "identify": "/v1/galleries/watch/identify"}
            print(f"{args.clients} clients, {args.seconds:.0f} s per route, photo {PHOTO.name} ({len(photo):,} bytes)")
            print(
                f"{'route':<10} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
                f"{'in-process/s':>12} {'ratio':>6}"
            )
            for name, path in routes.items():
                asyncio.run(hammer(base + path, key, lambda: {"file": ("p.jpg", photo)}, 2, 2))  # warm the models
                lat, errors, total = asyncio.run(
                    hammer(base + path, key, lambda: {"file": ("p.jpg", photo)}, args.clients, args.seconds)
                )
                rate = len(lat) / args.seconds
                p50, p99 = (np.percentile(lat, [50, 99]) * 1000) if lat else (float("nan"),) * 2
                print(
                    f"{name:<10} {total:8d} {errors:6d} {rate:7.1f} {p50:7.0f} {p99:7.0f} {peer[name]:12.1f} "
                    f"{rate / peer[name]:6.2f}"
                )
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
