"""What the browser tests share: whether Chromium can run here (checked before any fixture, so a
machine without it skips at once and says why) and the browser. The evaluation report they read
is the session's one (``eval_report`` in tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

# CHROMIUM_PATH / CHROMEDRIVER_PATH: a Chromium elsewhere than Debian's (or none, to see the skip).
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = os.environ.get("CHROMEDRIVER_PATH") or shutil.which("chromedriver") or "/usr/bin/chromedriver"


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
