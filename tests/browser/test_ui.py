"""The web UI in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``)
driven by Selenium against a real ``uvicorn`` server on loopback. It uploads a shared photo and
checks the tags, the face boxes with names and the similar items the page shows, then enrols and
forgets a person through the galleries page.

Set ``SAVE_UI_SCREENSHOT=PATH`` to also save the screenshot (README's is made that way)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

from ocula.service import create_app
from ocula.service.keys import KeyStore, key_store_path
from ocula.service.settings import ServiceSettings

from ..conftest import SAMPLES, shared
from .conftest import needs_chromium

EXAMPLES = "faces/face-recognition-examples/examples/knn_examples"

pytestmark = needs_chromium  # judged before the server and engine fixtures are built


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(engine, settings):
    """A real server on loopback, with a gallery (obama, enrolled over HTTP) and a small collection."""
    import uvicorn

    store = KeyStore(key_store_path(settings.data_dir))
    key = store.create("ui", "write")[1]
    store.close()
    app = create_app(settings, ServiceSettings(), engine=engine)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started
    import httpx

    train = shared(EXAMPLES) / "train" / "obama"
    r = httpx.post(f"http://127.0.0.1:{port}/v1/galleries/watch/people", data={"person": "obama"},
                   files=[("file", (p.name, p.read_bytes())) for p in sorted(train.iterdir())],
                   headers={"Authorization": f"Bearer {key}"}, timeout=60)  # fmt: skip
    assert r.status_code == 200 and r.json()["photos"] == 2, r.text
    for item, photo in (("cat", "cat-chelsea.jpg"), ("coffee", "coffee.jpg"), ("rocket", "rocket.jpg")):
        r = httpx.post(f"http://127.0.0.1:{port}/v1/collections/shop/items", data={"id": item},
                       files={"file": (photo, (SAMPLES / photo).read_bytes())},
                       headers={"Authorization": f"Bearer {key}"}, timeout=60)  # fmt: skip
        assert r.status_code == 200, r.text
    yield f"http://127.0.0.1:{port}", key
    srv.should_exit = True
    thread.join(timeout=30)


def wait_for(driver, condition, timeout: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def csp_violations(driver) -> list[str]:
    """What the page's Content-Security-Policy blocked (the console says so)."""
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def test_upload_shows_tags_faces_and_similar_items(server, browser, tmp_path):
    from selenium.webdriver.support.ui import Select

    base, key = server
    browser.get(base + "/")
    key_box = css(browser, "#key")[0]
    key_box.send_keys(key)
    browser.execute_script("document.getElementById('key').dispatchEvent(new Event('change'))")
    wait_for(browser, lambda d: len(css(d, "#look-gallery option")) == 2 and len(css(d, "#look-collection option")) == 2)
    Select(css(browser, "#look-gallery")[0]).select_by_value("watch")
    Select(css(browser, "#look-collection")[0]).select_by_value("shop")
    both = shared(EXAMPLES) / "test" / "obama_and_biden.jpg"
    css(browser, "#photo")[0].send_keys(str(both))
    wait_for(browser, lambda d: css(d, "#message")[0].text == "Done.")
    tags = [t.text for t in css(browser, "#tags .label")]
    assert len(tags) == 5 and all(tags)
    boxes = css(browser, "#boxes .box")
    names = [b.get_attribute("data-person") for b in boxes]
    assert names[0] == "obama" and names.count("obama") == 1 and set(names[1:]) == {"unknown"}, names
    assert all(b.size["width"] > 10 and b.size["height"] > 10 for b in boxes)  # drawn over the photo
    assert "known" in boxes[0].get_attribute("class")
    tiles = [t.find_element("css selector", "b").text for t in css(browser, "#similar .tile")]
    assert sorted(tiles) == ["cat", "coffee", "rocket"]
    assert "default-src 'self'" in browser.execute_script(
        "return fetch('/').then(r => r.headers.get('content-security-policy'))"
    )
    assert csp_violations(browser) == []
    shot = tmp_path / "ui.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("SAVE_UI_SCREENSHOT"):
        shutil.copy(shot, os.environ["SAVE_UI_SCREENSHOT"])
    # A blank photo: the page says nothing was recognised, and still lists the guesses.
    from PIL import Image

    Image.new("RGB", (96, 64), "grey").save(tmp_path / "blank.png")
    css(browser, "#photo")[0].send_keys(str(tmp_path / "blank.png"))
    wait_for(browser, lambda d: css(d, "#message")[0].text == "Done." and css(d, "#tags .nothing"))
    assert css(browser, "#tags .nothing")[0].text.startswith("Nothing recognised (best guess: ")
    assert len(css(browser, "#tags .label")) == 5


def people(driver) -> list[str]:
    """The people listed (read in one script call: the list is re-rendered as it updates)."""
    return driver.execute_script("return [...document.querySelectorAll('#people li')].map(li => li.dataset.person)")


def open_watch_gallery(browser, base: str, key: str) -> None:
    """The galleries page with the key set and the "watch" gallery (obama enrolled) open."""
    browser.get(base + "/")
    browser.execute_script(f"localStorage.setItem('ocula-key', '{key}')")
    browser.get(base + "/")
    css(browser, "nav button[data-page=galleries]")[0].click()
    css(browser, "#gallery-name")[0].send_keys("watch")
    css(browser, "#gallery-open")[0].click()
    wait_for(browser, lambda d: people(d) == ["obama"])


def test_enrol_and_forget_through_the_ui(server, browser):
    open_watch_gallery(browser, *server)
    biden = sorted((shared(EXAMPLES) / "train" / "biden").iterdir())
    css(browser, "#enroll-name")[0].send_keys("biden")
    css(browser, "#enroll-photos")[0].send_keys("\n".join(str(p) for p in biden))
    css(browser, "#enroll button[type=submit]")[0].click()
    wait_for(browser, lambda d: sorted(people(d)) == ["biden", "obama"])
    assert "2 photo(s) added" in css(browser, "#message")[0].text
    thumbs = browser.execute_script(
        "return [...document.querySelectorAll('#people li img.thumb')].map(i => [i.alt, i.naturalWidth])"
    )
    assert sorted(name for name, _ in thumbs) == ["biden", "obama"] and all(w > 40 for _, w in thumbs), thumbs
    assert csp_violations(browser) == []  # the data: thumbnails are allowed
    # Forget asks first; dismissing keeps the person.
    row = [li for li in css(browser, "#people li") if li.get_attribute("data-person") == "biden"][0]
    row.find_element("css selector", "button.forget").click()
    wait_for(browser, lambda d: d.switch_to.alert).dismiss()
    time.sleep(0.3)
    assert sorted(people(browser)) == ["biden", "obama"]
    row = [li for li in css(browser, "#people li") if li.get_attribute("data-person") == "biden"][0]
    row.find_element("css selector", "button.forget").click()
    wait_for(browser, lambda d: d.switch_to.alert).accept()
    wait_for(browser, lambda d: people(d) == ["obama"])
    assert "biden forgotten" in css(browser, "#message")[0].text


def test_a_refused_enrolment_names_each_photo_and_reason_on_the_page(server, browser):
    open_watch_gallery(browser, *server)
    css(browser, "#enroll-name")[0].send_keys("kitty")
    css(browser, "#enroll-photos")[0].send_keys(str(SAMPLES / "cat-chelsea.jpg"))
    css(browser, "#enroll button[type=submit]")[0].click()
    wait_for(browser, lambda d: "Nothing enrolled" in css(d, "#message")[0].text)
    message = css(browser, "#message")[0].text
    assert "cat-chelsea.jpg: no face found" in message and "<ndarray>" not in message, message
    assert people(browser) == ["obama"]  # nobody added


def test_a_bad_key_is_reported_on_the_page(server, browser):
    base, _ = server
    browser.get(base + "/")
    browser.execute_script("localStorage.setItem('ocula-key', 'ocula_wrong')")
    browser.get(base + "/")
    wait_for(browser, lambda d: "Invalid API key" in css(d, "#message")[0].text)
