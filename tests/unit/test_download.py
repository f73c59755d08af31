"""Opt-in downloads against a real HTTP server on loopback: verified, atomic, refused offline."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from ocula import DownloadError, IntegrityError, ModelUnavailable, Settings, get_model
from ocula.cli import app
from ocula.models.files import download_model, resolve_files
from ocula.models.sources import UrlFile

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, bytes, int | None]]] = {}

    def do_GET(self):  # noqa: N802
        status, body, claimed = self.routes.get(self.path, (404, b"not found", None))
        self.send_response(status)
        self.send_header("Content-Length", str(claimed if claimed is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    _Handler.routes = {
        "/good.bin": (200, PAYLOAD, None),
        "/corrupt.bin": (200, PAYLOAD[:-1] + b"\x00", None),
        "/short.bin": (200, PAYLOAD[:1000], len(PAYLOAD)),  # connection ends early
        "/big.bin": (200, PAYLOAD + PAYLOAD, None),
    }
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def url_spec(url: str, sha: str = SHA, size: int = len(PAYLOAD)):
    base = get_model("efficientnet_lite0")
    f = dataclasses.replace(base.files[0], filename="w.bin", sha256=sha, size=size, source=UrlFile(url))
    return dataclasses.replace(base, name="test_download", files=(f,), converter=None)


def leftovers(settings: Settings) -> list[Path]:
    d = settings.models_dir / "test_download"
    return sorted(d.iterdir()) if d.exists() else []


def test_offline_is_the_default_and_refuses(tmp_path, server):
    settings = Settings(data_dir=tmp_path)
    assert settings.offline
    with pytest.raises(ModelUnavailable, match="offline"):
        resolve_files(url_spec(server + "/good.bin"), settings)
    assert leftovers(settings) == []


def test_download_verifies_and_lands_atomically(tmp_path, server):
    settings = Settings(data_dir=tmp_path, offline=False)
    seen = []
    path = resolve_files(url_spec(server + "/good.bin"), settings, progress=lambda d, t: seen.append((d, t)))["weights"]
    assert path == tmp_path / "models" / "test_download" / "w.bin"
    assert path.read_bytes() == PAYLOAD
    assert leftovers(settings) == [path]  # no temporary files left
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    # present and verified now: offline resolution works without the server
    assert resolve_files(url_spec("http://127.0.0.1:9/never"), Settings(data_dir=tmp_path))["weights"] == path


def test_explicit_download_is_the_opt_in(tmp_path, server):
    settings = Settings(data_dir=tmp_path)  # offline, but the user asked for this download
    assert download_model(url_spec(server + "/good.bin"), settings)["weights"].read_bytes() == PAYLOAD


def test_corrupted_download_leaves_nothing(tmp_path, server):
    settings = Settings(data_dir=tmp_path, offline=False)
    with pytest.raises(IntegrityError, match="does not match"):
        resolve_files(url_spec(server + "/corrupt.bin"), settings)
    assert leftovers(settings) == []


@pytest.mark.parametrize(
    "route,match",
    [("/missing.bin", "HTTP 404"), ("/short.bin", "closed after|IncompleteRead"), ("/big.bin", "more than")],
)
def test_failed_downloads_leave_nothing(tmp_path, server, route, match):
    settings = Settings(data_dir=tmp_path, offline=False, download_timeout=5)
    with pytest.raises(DownloadError, match=match):
        resolve_files(url_spec(server + route), settings)
    assert leftovers(settings) == []


def test_unreachable_server(tmp_path):
    settings = Settings(data_dir=tmp_path, offline=False, download_timeout=2)
    with pytest.raises(DownloadError):
        resolve_files(url_spec("http://127.0.0.1:9/nothing-listens-here"), settings)


def test_cli_models_download(tmp_path, server, monkeypatch):
    from typer.testing import CliRunner

    import ocula.cli.models as cli_models

    spec = url_spec(server + "/good.bin")
    monkeypatch.setattr(cli_models, "get_model", lambda name: spec)
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "models", "download", "test_download"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "models" / "test_download" / "w.bin").read_bytes() == PAYLOAD
    bad = url_spec(server + "/corrupt.bin")
    monkeypatch.setattr(cli_models, "get_model", lambda name: bad)
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "other"), "models", "download", "x"])
    assert result.exit_code == 1 and "IntegrityError" in result.output and "Traceback" not in result.output
