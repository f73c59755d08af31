"""``ocula keys``, ``ocula audit`` and ``ocula serve`` as a user runs them (real subprocesses; the
commands after a test's first run in this process, through ``invoke_cli``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from ..conftest import REPO_ROOT, SAMPLES, invoke_cli, run_cli

pytestmark = pytest.mark.slow  # real servers or CLI processes: left out of the quick tier


def test_keys_create_list_revoke_and_audit(tmp_path):
    env = {"OCULA_DATA_DIR": str(tmp_path / "data")}
    made = run_cli("keys", "create", "alice", "--scope", "write", env_extra=env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("ocula_") and len(key) > 40 and " " not in key  # alone on its last line
    listed = [json.loads(line) for line in invoke_cli("keys", "list", "--json", env_extra=env).stdout.splitlines()]
    assert listed == [
        {"name": "alice", "scope": "write", "prefix": key[:10], "created": listed[0]["created"], "revoked": None}
    ]
    assert key not in invoke_cli("keys", "list", env_extra=env).stdout  # never shown again
    again = invoke_cli("keys", "create", "alice", env_extra=env)
    assert again.returncode == 1 and "revoke it first" in again.stderr
    bad = invoke_cli("keys", "create", "bob", "--scope", "root", env_extra=env)
    assert bad.returncode == 2 and "scope" in bad.stderr
    assert invoke_cli("keys", "revoke", "alice", env_extra=env).returncode == 0
    assert invoke_cli("keys", "revoke", "alice", env_extra=env).returncode == 2  # no active key of that name
    assert json.loads(invoke_cli("keys", "list", "--json", env_extra=env).stdout)["revoked"] is not None
    assert invoke_cli("audit", "--json", env_extra=env).stdout == ""  # nothing audited yet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_audits_and_shuts_down_gracefully(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCULA_")}
    env["OCULA_DATA_DIR"] = str(tmp_path / "data")
    key = run_cli("keys", "create", "svc", "--scope", "read", env_extra={"OCULA_DATA_DIR": env["OCULA_DATA_DIR"]})
    key = key.stdout.strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ocula", "serve", "--port", str(port)],
        env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
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
        assert httpx.get(base + "/").status_code == 200 and "ocula" in httpx.get(base + "/").text
        r = httpx.post(base + "/v1/tag", files={"file": ("cat.jpg", (SAMPLES / "cat-chelsea.jpg").read_bytes())},
                       headers={"Authorization": f"Bearer {key}"}, timeout=60)  # fmt: skip
        assert r.status_code == 200 and r.json()["tags"]
        r = httpx.post(base + "/v1/collections/none/search", files={"file": ("c.jpg", b"x")},
                       headers={"Authorization": f"Bearer {key}"}, timeout=60)  # fmt: skip
        assert r.status_code in (404, 415)
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
        # uvicorn finishes the shutdown (lifespan closes the stores), then re-raises the signal.
        assert server.returncode in (0, -signal.SIGTERM), err
        assert "Traceback" not in err and "Application shutdown complete" in err
    finally:
        if server.poll() is None:
            server.kill()
    entries = [
        json.loads(line)
        for line in run_cli("audit", "--json", env_extra={"OCULA_DATA_DIR": env["OCULA_DATA_DIR"]}).stdout.splitlines()
    ]
    assert [(e["key"], e["action"], e["target"]) for e in entries] == [("svc", "search", "none")]
