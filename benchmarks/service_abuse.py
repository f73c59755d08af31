"""Abuse check of ``ocula serve``: can a few kilobytes from a key take the server's memory or time?

A real ``ocula serve`` subprocess on loopback, with its own temporary OCULA_DATA_DIR and a key
made by ``ocula keys create``. For ``--seconds``, ``--clients`` clients send blank 40 MP PNGs
(about 120 KB each) to ``/v1/faces/verify`` (two photos), ``/v1/galleries/abuse/people`` (enrol,
``--enrol-photos`` photos a request) and ``/v1/tag``, in turn, while ``--idle`` idle TCP
connections are held open and ``/healthz`` is probed every 0.2 s. Each client, the probe and
every 20 idle connections use a loopback address of their own (the server limits connections per
address), and the server is allowed ``--idle`` more connections than its default 1,000 in all. Then
it prints the server's peak RSS (VmHWM from /proc), the p99 of ``/healthz``, what every abusive request was answered,
and one PASS/FAIL line per goal:

* peak RSS <= 2 GB,
* ``/healthz`` p99 <= 1 s,
* every abusive request answered 4xx/503, or 200 with a correct answer (tags; enrol with every
  photo refused), within ``--time-limit`` seconds.

Everything is bounded: the abuse phase lasts ``--seconds``, then requests still running get
``--time-limit`` to finish, and the server is stopped (SIGTERM, then SIGKILL).

    python benchmarks/service_abuse.py                 # 60 s of abuse, about 3 minutes in all
    python benchmarks/service_abuse.py --seconds 20 --idle 200
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

GB = 2**30
HOST = "127.0.0.1"
#: Each abusive client, the /healthz probe and every IDLE_PER_ADDRESS idle connections come from
#: their own loopback address (all of 127.0.0.0/8 is this machine): ``ocula serve`` limits
#: connections per client address, and one address for everything would measure that limit
#: (every client refused at once) instead of what each request costs.
IDLE_PER_ADDRESS = 20


def client_address(group: int, number: int) -> str:
    """A loopback address of its own: group 1 idle connections, 2 abusive clients, 3 the probe."""
    return f"127.{group}.{number // 250}.{number % 250 + 1}"

ROUTES = ("verify", "enrol", "tag")


@dataclass
class Outcome:
    route: str
    status: int | None  # None: no answer (timeout, connection error)
    seconds: float
    ok: bool  # an allowed answer within the time limit
    note: str = ""


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)
    healthz: list[float] = field(default_factory=list)  # seconds; a failed probe counts as its timeout
    healthz_failures: int = 0
    idle_open: int = 0
    idle_still_open: int = 0
    idle_closed_by_server: list[float] = field(default_factory=list)  # seconds after opening


def blank_png(pixels: int) -> bytes:
    from PIL import Image

    height = int((pixels * 3 / 4) ** 0.5)
    width = pixels // height
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(buffer, "PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def raise_open_files_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(hard, max(soft, wanted))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_status_kb(pid: int, field_name: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the server runs dlib's CNN in a child process)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, todo = [pid], [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        tree += children
        todo += children
    return tree


class RssSampler(threading.Thread):
    """Every 0.1 s: the summed VmRSS of the server and its children, and each one's VmHWM (the
    kernel's own peak, which no sampling misses)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_tree_kb = pid, 0
        self.hwm_kb: dict[int, int] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.1):
            self.sample()

    def sample(self) -> None:
        total = 0
        for pid in process_tree(self.pid):
            total += proc_status_kb(pid, "VmRSS") or 0
            hwm = proc_status_kb(pid, "VmHWM")
            if hwm is not None:
                self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), hwm)
        self.peak_tree_kb = max(self.peak_tree_kb, total)

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=5)


def create_key(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ocula", "keys", "create", "abuse", "--scope", "write"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def wait_healthy(base: str, server: subprocess.Popen, seconds: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before answering /healthz")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not answer /healthz in time")


def judge(route: str, status: int, body: object) -> tuple[bool, str]:
    """Whether an answer to an abusive request is allowed: 4xx/503, or a correct 200."""
    if 400 <= status < 500 or status == 503:
        return True, ""
    if status != 200 or not isinstance(body, dict):
        return False, f"HTTP {status}"
    if route == "tag":
        return bool(body.get("tags")), "" if body.get("tags") else "200 without tags"
    if route == "enrol":
        fine = body.get("added") == [] and bool(body.get("refused"))
        return fine, "" if fine else f"200 enrolled a blank photo: {body}"
    return False, f"200 verified blank photos: {body}"  # verify: a blank photo has no face


async def abusive_requests(base: str, key: str, photo: bytes, args: argparse.Namespace, run: Run) -> None:
    import httpx

    stop = time.monotonic() + args.seconds
    paths = {"verify": "/v1/faces/verify", "enrol": "/v1/galleries/abuse/people", "tag": "/v1/tag"}

    def request_for(route: str) -> dict:
        if route == "verify":
            return {"files": {"file_a": ("a.png", photo), "file_b": ("b.png", photo)}}
        if route == "enrol":
            files = [("file", (f"blank{i}.png", photo)) for i in range(args.enrol_photos)]
            return {"files": files, "data": {"person": "nobody"}}
        return {"files": {"file": ("blank.png", photo)}}

    async def client_loop(number: int) -> None:
        route = args.routes[number % len(args.routes)]
        timeout = httpx.Timeout(args.time_limit, connect=10)
        transport = httpx.AsyncHTTPTransport(local_address=client_address(2, number))
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(headers=headers, timeout=timeout, transport=transport) as client:
            while time.monotonic() < stop:
                start = time.monotonic()
                try:
                    r = await client.post(base + paths[route], **request_for(route))
                    body = r.json() if r.headers.get("content-type", "").endswith("json") else None
                    ok, note = judge(route, r.status_code, body)
                    status: int | None = r.status_code
                    if r.status_code == 503:  # answered "busy": back off as Retry-After says, within reason
                        await asyncio.sleep(min(float(r.headers.get("retry-after", 1)), 5))
                except httpx.HTTPError as exc:
                    ok, note, status = False, f"no answer ({type(exc).__name__})", None
                seconds = time.monotonic() - start
                if seconds > args.time_limit:
                    ok, note = False, note or "over the time limit"
                run.outcomes.append(Outcome(route, status, seconds, ok, note))

    await asyncio.gather(*(client_loop(i) for i in range(args.clients)))


async def probe_healthz(base: str, until: asyncio.Event, run: Run) -> None:
    import httpx

    transport = httpx.AsyncHTTPTransport(local_address=client_address(3, 0))
    async with httpx.AsyncClient(timeout=5, transport=transport) as client:
        while not until.is_set():
            start = time.monotonic()
            try:
                r = await client.get(base + "/healthz")
                if r.status_code != 200:
                    run.healthz_failures += 1
                run.healthz.append(time.monotonic() - start)
            except httpx.HTTPError:
                run.healthz_failures += 1
                run.healthz.append(5.0)
            await asyncio.sleep(0.2)


async def hold_idle_connections(port: int, count: int, until: asyncio.Event, run: Run) -> None:
    """``count`` TCP connections that send nothing, held until ``until`` (``IDLE_PER_ADDRESS`` per
    loopback address); notes when the server closes each (it should: it times out requests whose
    headers do not arrive) and counts the ones still open at the end."""
    writers, watchers = [], []

    async def watch(reader: asyncio.StreamReader, opened: float) -> None:
        while await reader.read(4096):  # the server's 408, then its end of the connection
            pass
        run.idle_closed_by_server.append(time.monotonic() - opened)

    for i in range(count):
        local = (client_address(1, i // IDLE_PER_ADDRESS), 0)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port, local_addr=local), 5)
        except (TimeoutError, OSError):
            break
        writers.append(writer)
        watchers.append(asyncio.create_task(watch(reader, time.monotonic())))
    run.idle_open = len(writers)
    await until.wait()
    run.idle_still_open = run.idle_open - len(run.idle_closed_by_server)
    for writer in writers:
        writer.close()
    for watcher in watchers:
        watcher.cancel()


async def abuse(base: str, port: int, key: str, photo: bytes, args: argparse.Namespace) -> Run:
    run = Run()
    done = asyncio.Event()
    idle = asyncio.create_task(hold_idle_connections(port, args.idle, done, run))
    probe = asyncio.create_task(probe_healthz(base, done, run))
    await asyncio.sleep(1)  # the idle connections are open before the abuse starts
    await abusive_requests(base, key, photo, args, run)
    done.set()
    await asyncio.gather(idle, probe)
    return run


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def report(run: Run, rss: RssSampler, start_kb: int, args: argparse.Namespace) -> bool:
    server_kb = rss.hwm_kb.get(rss.pid, 0)
    children_kb = sum(kb for pid, kb in rss.hwm_kb.items() if pid != rss.pid)
    peak_kb = server_kb + children_kb  # an upper bound: the peaks need not coincide
    print(f"server RSS: {start_kb / 2**20:.2f} GB at start; peak {peak_kb / 2**20:.2f} GB = server "
          f"{server_kb / 2**20:.2f} GB + {len(rss.hwm_kb) - 1} child(ren) {children_kb / 2**20:.2f} GB (VmHWM); "
          f"sampled peak of the sum {rss.peak_tree_kb / 2**20:.2f} GB")  # fmt: skip
    p50, p99 = percentile(run.healthz, 50), percentile(run.healthz, 99)
    print(f"/healthz: {len(run.healthz)} probes, {run.healthz_failures} failed, p50 {p50 * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms")  # fmt: skip
    closed = sorted(run.idle_closed_by_server)
    when = f" (after {closed[0]:.1f}-{closed[-1]:.1f} s)" if closed else ""
    print(f"idle connections: {run.idle_open} opened, {len(closed)} closed by the server{when}, "
          f"{run.idle_still_open} still open at the end")  # fmt: skip
    print(f"{'route':<7} {'requests':>8} {'answers':<40} {'max s':>6} {'bad':>4}")
    for route in args.routes:
        mine = [o for o in run.outcomes if o.route == route]
        answers = Counter("none" if o.status is None else str(o.status) for o in mine)
        worst = max((o.seconds for o in mine), default=float("nan"))
        bad = sum(not o.ok for o in mine)
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(answers.items()))
        print(f"{route:<7} {len(mine):8d} {shown:<40} {worst:6.1f} {bad:4d}")
    notes = Counter(f"{o.route}: {o.note}" for o in run.outcomes if not o.ok)
    for note, n in notes.most_common(5):
        print(f"  {n} x {note}")
    goals = [
        (f"peak RSS <= {args.max_rss_gb:g} GB", peak_kb * 1024 <= args.max_rss_gb * GB),
        ("/healthz p99 <= 1 s", bool(run.healthz) and p99 <= 1.0 and run.healthz_failures == 0),
        (
            f"every abusive request answered 4xx/503 or a correct 200 within {args.time_limit:g} s",
            bool(run.outcomes) and all(o.ok for o in run.outcomes),
        ),
    ]
    for name, passed in goals:
        print(f"{'PASS' if passed else 'FAIL'}: {name}")
    return all(passed for _, passed in goals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the clients send (default 60)")
    parser.add_argument("--clients", type=int, default=16, help="abusive clients, spread over the routes (default 16)")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections held open (default 1000)")
    parser.add_argument("--pixels", type=int, default=40_000_000, help="pixels of the blank PNG (default 40 MP)")
    parser.add_argument("--enrol-photos", type=int, default=20, help="photos per enrol request (default 20)")
    parser.add_argument(
        "--routes", type=lambda text: [r for r in text.split(",") if r], default=list(ROUTES),
        help="routes the clients take turns on (default verify,enrol,tag)",
    )  # fmt: skip
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds an answer may take (default 120)")
    parser.add_argument("--max-rss-gb", type=float, default=2.0, help="the memory goal (default 2 GB)")
    parser.add_argument(
        "--rate", type=int, default=1_000_000,
        help="OCULA_SERVICE_RATE_PER_MINUTE of the server (default: high, so the rate limit hides nothing)",
    )  # fmt: skip
    args = parser.parse_args()
    if not args.routes or set(args.routes) - set(ROUTES):
        parser.error(f"--routes: a comma-separated choice of {', '.join(ROUTES)}")
    limit = raise_open_files_limit(args.idle + 256)  # the server inherits it too
    if limit < args.idle + 64:
        print(f"note: only {limit} open files allowed; holding fewer idle connections")
        args.idle = max(0, limit - 64)
    photo = blank_png(args.pixels)
    print(f"{args.clients} clients ({', '.join(args.routes)}) for {args.seconds:g} s, blank PNG of "
        f"{args.pixels / 1e6:g} MP "
          f"({len(photo):,} bytes), {args.enrol_photos} per enrol, {args.idle} idle connections")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ocula-abuse-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCULA_SERVICE_")}
        # Room for the idle connections beside the clients: the default cap (1,000 in all) would
        # otherwise refuse the abusive requests themselves while the idle connections are open.
        env.update(OCULA_DATA_DIR=str(Path(tmp) / "data"), OCULA_SERVICE_RATE_PER_MINUTE=str(args.rate),
                   OCULA_SERVICE_MAX_CONNECTIONS=str(max(1000, args.idle + args.clients + 16)))  # fmt: skip
        key = create_key(env)
        port = free_port()
        log = open(Path(tmp) / "server.log", "w+")  # a file, not a pipe: uvicorn logs every request
        server = subprocess.Popen(
            [sys.executable, "-m", "ocula", "serve", "--host", HOST, "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        sampler = RssSampler(server.pid)
        try:
            base = f"http://{HOST}:{port}"
            wait_healthy(base, server)
            start_kb = proc_status_kb(server.pid, "VmRSS") or 0
            sampler.start()
            run = asyncio.run(abuse(base, port, key, photo, args))
            sampler.stop()
            sampler.sample()  # the children's VmHWM, read once more now
            alive = server.poll() is None
            if not alive:
                log.seek(0)
                print(f"the server died (exit {server.returncode}); its log ends:\n{log.read()[-2000:]}")
            passed = report(run, sampler, start_kb, args) and alive
        finally:
            sampler.stop()
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
            log.close()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
