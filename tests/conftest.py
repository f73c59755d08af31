"""Shared fixtures. Paths are resolved from this file, never from the working directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ocula import Engine, Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SAMPLES = REPO_ROOT / "src" / "ocula" / "data" / "samples"


def shared(relative: str) -> Path:
    """A path under ../shared/data; skips the test (with the reason) if that data is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"shared data {path} is not present on this machine")
    return path


@pytest.fixture(autouse=True)
def _no_ocula_environment(monkeypatch):
    """Tests must not depend on the developer's OCULA_* variables (e.g. OCULA_OFFLINE=0)."""
    import os

    for name in list(os.environ):
        if name.startswith("OCULA_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One converted-graph cache for the whole run (conversion is tested separately)."""
    return tmp_path_factory.mktemp("ocula-cache")


@pytest.fixture
def settings(tmp_path, cache_dir) -> Settings:
    return Settings(data_dir=tmp_path / "data", cache_dir=cache_dir, offline=True)


@pytest.fixture(scope="session")
def engine(tmp_path_factory, cache_dir):
    """A real Engine on the installed weights, shared by the end-to-end tests."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("ocula-data"), cache_dir=cache_dir)
    with Engine(settings) as e:
        yield e


def run_cli(*args: str, env_extra: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 600):
    """Run the real CLI in a subprocess (``python -m ocula``)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("OCULA_")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "ocula", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or REPO_ROOT,
        timeout=timeout,
    )
