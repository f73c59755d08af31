"""What the browser tests share: whether Chromium can run here (checked before any fixture, so a
machine without it skips at once and says why), the browser, and the evaluation report, built
once per session by a real ``ocula eval report`` and read by every test that needs it."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ..conftest import SHARED_DATA, run_cli, shared

# CHROMIUM_PATH / CHROMEDRIVER_PATH: a Chromium elsewhere than Debian's (or none, to see the skip).
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = os.environ.get("CHROMEDRIVER_PATH") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
#: ``ocula eval report`` on all of ../shared/data takes minutes; this bounds a hang, not the speed.
REPORT_TIMEOUT_S = 1200


def _missing_for_chromium() -> list[str]:
    missing = [f"{what} ({path})" for what, path in (("chromium", CHROMIUM), ("chromedriver", DRIVER))
               if not Path(path).exists()]  # fmt: skip
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium (pip install selenium)")
    return missing


#: A skipif mark is judged before the test's fixtures are set up: no server, report or engine is
#: built for a test that cannot run.
_INSTALL = "apt-get install chromium chromium-driver; .ci/run installs them"
needs_chromium = pytest.mark.skipif(
    bool(_missing_for_chromium()),
    reason=f"needs headless Chromium, missing: {', '.join(_missing_for_chromium())} ({_INSTALL})",
)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # to see CSP violations
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _tail(text: str | bytes | None, lines: int = 40) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").splitlines()[-lines:])


@pytest.fixture(scope="session")
def eval_report(tmp_path_factory, cache_dir) -> Path:
    """The folder of one full ``ocula eval report --data ../shared/data`` run (all of it: every
    evaluation the README states), built once for the session. A failure says why: the exit code
    or the timeout, with the end of what the command printed."""
    shared("imagenet/sample-334")
    out = tmp_path_factory.mktemp("report")
    env = {"OCULA_CACHE_DIR": str(cache_dir), "OCULA_DATA_DIR": str(out / "data")}
    command = ("eval", "report", "--data", str(SHARED_DATA), "--out", str(out / "r"))
    try:
        proc = run_cli(*command, env_extra=env, timeout=REPORT_TIMEOUT_S)
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(f"ocula {' '.join(command)} did not finish in {REPORT_TIMEOUT_S} s; it printed:\n"
                    f"{_tail(timeout.stderr)}", pytrace=False)  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"ocula {' '.join(command)} exited {proc.returncode}:\n{_tail(proc.stderr)}", pytrace=False)
    return out / "r"
