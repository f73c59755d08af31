"""The web UI in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``)
driven by Selenium against a real ``uvicorn`` server on loopback. It uploads a shared photo and
checks the tags, the face boxes with names and the similar items the page shows, then enrols and
forgets a person through the galleries page.

Set ``SAVE_UI_SCREENSHOT=PATH`` to also save the screenshot (README's is made that way), and
``SAVE_PEOPLE_SCREENSHOTS=DIR`` to save the people page's two (``ui-people.png`` before a cluster
is named, ``ui-people-named.png`` after: README's ``docs/`` ones are made that way)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

from ocula.galleries import Gallery
from ocula.galleries.library import cluster_library
from ocula.service import create_app
from ocula.service.keys import KeyStore, key_store_path
from ocula.service.settings import ServiceSettings

from ..conftest import SAMPLES, shared
from ..e2e.test_erasure import another_process_reading
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
    """Wait until ``condition(driver)`` holds. An element the page re-rendered between being
    found and being read (stale) means "not yet", as a missing one does: the page renders lists
    anew when an answer arrives, so reading one while it does is a race, not a failure."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
    return wait.until(lambda d: condition(d))


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
    wait_for(
        browser, lambda d: len(css(d, "#look-gallery option")) == 2 and len(css(d, "#look-collection option")) == 2
    )
    Select(css(browser, "#look-gallery")[0]).select_by_value("watch")
    Select(css(browser, "#look-collection")[0]).select_by_value("shop")
    record_busy_states(browser, "look", "#photo")
    both = shared(EXAMPLES) / "test" / "obama_and_biden.jpg"
    css(browser, "#photo")[0].send_keys(str(both))
    wait_for(browser, lambda d: css(d, "#look .status")[0].text == "Done.")
    assert_busy_while_waiting(browser)
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
    wait_for(browser, lambda d: css(d, "#look .status")[0].text == "Done." and css(d, "#tags .nothing"))
    assert css(browser, "#tags .nothing")[0].text.startswith("Nothing recognised (best guess: ")
    assert len(css(browser, "#tags .label")) == 5


def record_busy_states(driver, panel: str, control: str) -> None:
    """Record, in the page, every change of the panel's ``aria-busy`` with what the user saw at
    that moment (the status text, whether ``control`` was disabled): a MutationObserver's
    callback runs before the answer can arrive, so no timing is involved."""
    driver.execute_script(
        """const [panel, control] = [document.getElementById(arguments[0]), arguments[1]];
        window.busyStates = [];
        new MutationObserver(() => window.busyStates.push({
          busy: panel.getAttribute("aria-busy"), text: panel.querySelector(".status").textContent,
          disabled: document.querySelector(control).disabled,
        })).observe(panel, { attributes: true, attributeFilter: ["aria-busy"] });""",
        panel,
        control,
    )


def assert_busy_while_waiting(driver) -> None:
    """The recorded panel went busy (spinner text, control disabled) and back, once."""
    states = driver.execute_script("return window.busyStates")
    assert [s["busy"] for s in states] == ["true", "false"], states
    assert states[0]["text"] == "Working…" and states[0]["disabled"] is True, states
    assert states[1]["text"] != "Working…" and states[1]["disabled"] is False, states


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
    wait_for(browser, lambda d: "2 photo(s) added" in css(d, "#enroll .status")[0].text)
    thumbs = browser.execute_script(
        "return [...document.querySelectorAll('#people li img.thumb')].map(i => [i.alt, i.naturalWidth])"
    )
    assert sorted(name for name, _ in thumbs) == ["biden", "obama"] and all(w > 40 for _, w in thumbs), thumbs
    assert csp_violations(browser) == []  # the data: thumbnails are allowed
    # Forget asks first; dismissing keeps the person.
    row = next(li for li in css(browser, "#people li") if li.get_attribute("data-person") == "biden")
    row.find_element("css selector", "button.forget").click()
    wait_for(browser, lambda d: d.switch_to.alert).dismiss()
    time.sleep(0.3)
    assert sorted(people(browser)) == ["biden", "obama"]
    row = next(li for li in css(browser, "#people li") if li.get_attribute("data-person") == "biden")
    row.find_element("css selector", "button.forget").click()
    wait_for(browser, lambda d: d.switch_to.alert).accept()
    wait_for(browser, lambda d: people(d) == ["obama"])
    wait_for(browser, lambda d: "biden forgotten" in css(d, "#galleries > .status")[0].text)


def test_a_refused_enrolment_names_each_photo_and_reason_on_the_page(server, browser):
    """The refusal is shown in the enrol form that made the call (busy while it ran), nowhere
    else: not on the page the user goes to next; it is replaced when they enrol again."""
    open_watch_gallery(browser, *server)
    record_busy_states(browser, "enroll", "#enroll button[type=submit]")
    css(browser, "#enroll-name")[0].send_keys("kitty")
    css(browser, "#enroll-photos")[0].send_keys(str(SAMPLES / "cat-chelsea.jpg"))
    css(browser, "#enroll button[type=submit]")[0].click()
    wait_for(browser, lambda d: "Nothing enrolled" in css(d, "#enroll .status")[0].text)
    assert_busy_while_waiting(browser)
    error = css(browser, "#enroll .status")[0]
    assert "cat-chelsea.jpg: no face found" in error.text and "<ndarray>" not in error.text, error.text
    assert error.get_attribute("role") == "alert" and "error" in error.get_attribute("class")
    assert people(browser) == ["obama"]  # nobody added
    assert css(browser, "#message")[0].text == ""  # not in the page-wide line either
    css(browser, "nav button[data-page=look]")[0].click()
    shown = [e.text for e in css(browser, ".status, #message") if e.is_displayed() and e.text]
    assert shown == [], shown  # the Look page shows no trace of the enrolment's error
    css(browser, "nav button[data-page=galleries]")[0].click()
    assert "Nothing enrolled" in css(browser, "#enroll .status")[0].text  # still where it was made
    css(browser, "#enroll-photos")[0].clear()
    css(browser, "#enroll-photos")[0].send_keys(str(shared(EXAMPLES) / "train" / "biden" / "biden.jpg"))
    css(browser, "#enroll button[type=submit]")[0].click()
    wait_for(browser, lambda d: "kitty: 1 photo(s) added" in css(d, "#enroll .status")[0].text)
    assert "Nothing enrolled" not in css(browser, "#enroll .status")[0].text


def test_an_upload_that_is_not_a_photo_is_refused_in_the_look_panel(server, browser, tmp_path):
    base, key = server
    browser.get(base + "/")
    browser.execute_script(f"localStorage.setItem('ocula-key', '{key}')")
    browser.get(base + "/")
    wait_for(browser, lambda d: len(css(d, "#look-gallery option")) == 2)
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    css(browser, "#photo")[0].send_keys(str(text))
    wait_for(browser, lambda d: "error" in css(d, "#look .status")[0].get_attribute("class"))
    assert "not an image" in css(browser, "#look .status")[0].text.lower(), css(browser, "#look .status")[0].text
    assert css(browser, "#message")[0].text == ""
    assert css(browser, "#photo")[0].is_enabled()  # enabled again after the answer


def test_a_bad_key_is_reported_on_the_page(server, browser):
    base, _ = server
    browser.get(base + "/")
    browser.execute_script("localStorage.setItem('ocula-key', 'ocula_wrong')")
    browser.get(base + "/")
    wait_for(browser, lambda d: "Invalid API key" in css(d, "#message")[0].text)


@pytest.fixture
def family(server, engine, settings):
    """Gallery "fam" made as the CLI and the Python API make one: obama enrolled from photo
    paths (no thumbnail stored: the service makes one from the photo), and the faces of kit
    and rose clustered by ``cluster_library`` (cluster-0001 and cluster-0002, two faces each)."""
    train = shared(EXAMPLES) / "train"
    photos = [train / "kit_harington" / "john1.jpeg", train / "kit_harington" / "john2.jpeg",
              train / "rose_leslie" / "img1.jpg", train / "rose_leslie" / "img2.jpg"]  # fmt: skip
    with Gallery.open("fam", settings=settings, engine=engine, create=True) as g:
        assert g.enroll("obama", sorted((train / "obama").iterdir())).photos == 2
        assert cluster_library(engine, photos, gallery=g).ids == ["cluster-0001", "cluster-0002"]
    return server


def page_state(driver) -> dict:
    """The people page as shown: people, clusters with their face count, and whether every
    face thumbnail has loaded (a decoded image, not a placeholder)."""
    return driver.execute_script(
        """const imgs = [...document.querySelectorAll('#people-page img.thumb')];
        return {
          people: [...document.querySelectorAll('#named .person')].map(f => f.dataset.person),
          clusters: Object.fromEntries([...document.querySelectorAll('#clusters .cluster')]
            .map(c => [c.dataset.cluster, c.querySelectorAll('.face').length])),
          thumbs: imgs.length,
          loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
          status: document.querySelector('#people-page > .status').textContent,
          busy: document.getElementById('people-page').getAttribute('aria-busy'),
        };"""
    )


def settled(driver, people: list[str], clusters: dict[str, int]) -> dict:
    """Wait for the page to show ``people`` (in any order) and ``clusters`` with every
    thumbnail loaded; a timeout says what the page showed instead."""
    from selenium.common.exceptions import TimeoutException

    def done(d):
        s = page_state(d)
        ok = sorted(s["people"]) == sorted(people) and s["clusters"] == clusters and s["thumbs"] == s["loaded"] > 0
        return s if ok and s["busy"] == "false" else False

    try:
        return wait_for(driver, done)
    except TimeoutException:
        pytest.fail(f"the people page shows {page_state(driver)}, not {people} and {clusters}")


def cluster_card(driver, cluster: str):
    return css(driver, f"#clusters .cluster[data-cluster='{cluster}']")[0]


def save_screenshot(driver, path) -> None:
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    print(f"screenshot: {path}")  # shown with -s / -rA: where to look
    if os.environ.get("SAVE_PEOPLE_SCREENSHOTS"):
        shutil.copy(path, os.path.join(os.environ["SAVE_PEOPLE_SCREENSHOTS"], path.name))


def test_people_page_shows_clusters_as_faces_and_names_merges_splits_and_forgets(family, browser, tmp_path, settings):
    from selenium.webdriver.support.ui import Select

    base, key = family
    browser.get(base + "/")
    browser.execute_script(f"localStorage.setItem('ocula-key', '{key}')")
    browser.get(base + "/")
    css(browser, "nav button[data-page=people-page]")[0].click()
    wait_for(browser, lambda d: "fam" in [o.get_attribute("value") for o in css(d, "#people-gallery option")])
    Select(css(browser, "#people-gallery")[0]).select_by_value("fam")
    # obama's thumbnail is made from the photo the CLI-style enrolment recorded.
    state = settled(browser, ["obama"], {"cluster-0001": 2, "cluster-0002": 2})
    assert state["thumbs"] == 5 and "1 person named, 2 clusters" in state["status"], state
    save_screenshot(browser, tmp_path / "ui-people.png")
    # Split: tick the second face of cluster-0001 and move it out.
    cluster_card(browser, "cluster-0001").find_element("css selector", ".face input[value='1']").click()
    cluster_card(browser, "cluster-0001").find_element("css selector", "button.split").click()
    settled(browser, ["obama"], {"cluster-0001": 1, "cluster-0002": 2, "cluster-0003": 1})
    assert "moved to cluster-0003" in page_state(browser)["status"]
    # Merge it back: cluster-0003 into cluster-0001.
    card = cluster_card(browser, "cluster-0003")
    Select(card.find_element("css selector", "select.merge-target")).select_by_value("cluster:cluster-0001")
    card.find_element("css selector", "button.merge").click()
    settled(browser, ["obama"], {"cluster-0001": 2, "cluster-0002": 2})
    assert "merged into cluster-0001" in page_state(browser)["status"]
    # Split one face out again (a fresh id), name the rest: a person with a face thumbnail...
    cluster_card(browser, "cluster-0001").find_element("css selector", ".face input[value='1']").click()
    cluster_card(browser, "cluster-0001").find_element("css selector", "button.split").click()
    settled(browser, ["obama"], {"cluster-0001": 1, "cluster-0002": 2, "cluster-0004": 1})
    card = cluster_card(browser, "cluster-0001")
    card.find_element("css selector", "input.cluster-name").send_keys("kit")
    card.find_element("css selector", ".name-form button").click()
    settled(browser, ["obama", "kit"], {"cluster-0002": 2, "cluster-0004": 1})
    assert "cluster-0001 named kit (1 photo(s))" in page_state(browser)["status"]
    # ...then merge the other face into the person: their photos grow.
    card = cluster_card(browser, "cluster-0004")
    Select(card.find_element("css selector", "select.merge-target")).select_by_value("person:kit")
    card.find_element("css selector", "button.merge").click()
    settled(browser, ["obama", "kit"], {"cluster-0002": 2})
    assert "cluster-0004 merged into kit (2 photo(s))" in page_state(browser)["status"]
    save_screenshot(browser, tmp_path / "ui-people-named.png")
    # Forget kit while another process reads the gallery: the page says the erasure is pending.
    forget = next(f for f in css(browser, "#named .person") if f.get_attribute("data-person") == "kit")
    with another_process_reading(settings.data_dir / "galleries" / "fam" / "items.sqlite"):
        forget.find_element("css selector", "button.forget").click()
        wait_for(browser, lambda d: d.switch_to.alert).accept()
        settled(browser, ["obama"], {"cluster-0002": 2})
    status = css(browser, "#people-page > .status")[0]
    assert "kit forgotten; erasure pending" in status.text and "error" in status.get_attribute("class"), status.text
    assert csp_violations(browser) == []  # blob: thumbnails are allowed


WORD_PHOTOS = ["n02085936_Maltese_dog", "n02099601_golden_retriever", "n02113186_Cardigan", "n03769881_minibus",
               "n01440764_tench", "n02963159_cardigan"]  # fmt: skip


@pytest.fixture
def pets(server, engine, settings):
    """Collection "pets": six sample-334 photos stored as ``ocula index`` stores them (their
    files, sha256 and concept scores), in the server's data dir."""
    from ocula.collections import Collection, NewItem
    from ocula.concepts import concept_space
    from ocula.engine.search import item_extras
    from ocula.hashing import file_sha256

    paths = [shared(f"imagenet/sample-334/images/{name}.JPEG") for name in WORD_PHOTOS]
    embedder = engine.search_service.image_embedder()
    embedded = list(engine.search_service.embed_images(paths, classify=True))
    with Collection.open("pets", settings=settings, embedder=embedder.stamp, dim=embedder.dim, create=True,
                         concepts=concept_space().fingerprint) as coll:  # fmt: skip
        items = []
        for path, e in zip(paths, embedded, strict=True):
            with path.open("rb") as fh:
                sha = file_sha256(fh)
            items.append(NewItem(path.name, e.vector[None], path=str(path), content_sha256=sha, **item_extras(e)))
        coll.add(items)
    return server


def test_collections_page_searches_by_words_and_shows_thumbnails(pets, browser, tmp_path):
    from selenium.webdriver.support.ui import Select

    base, key = pets
    browser.get(base + "/")
    css(browser, "#key")[0].send_keys(key)
    browser.execute_script("document.getElementById('key').dispatchEvent(new Event('change'))")
    css(browser, "nav button[data-page='collections']")[0].click()
    wait_for(browser, lambda d: len(css(d, "#words-collection option")) == 3)  # (choose one), pets, shop
    Select(css(browser, "#words-collection")[0]).select_by_value("pets")
    css(browser, "#words-text")[0].send_keys("dogs")
    css(browser, "#word-search button[type='submit']")[0].click()
    state = """const imgs = [...document.querySelectorAll('#word-results img.thumb')];
        return {ids: [...document.querySelectorAll('#word-results .tile b')].map(b => b.textContent),
                loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length, thumbs: imgs.length,
                status: document.querySelector('#word-search .status').textContent};"""
    shown = wait_for(browser, lambda d: (s := d.execute_script(state))["thumbs"] and s["loaded"] == s["thumbs"] and s)
    dogs = {f"{name}.JPEG" for name in WORD_PHOTOS[:3]}
    assert set(shown["ids"][:3]) == dogs and shown["status"].endswith("match “dogs”, best first.")
    first = css(browser, "#word-results .tile")[0]
    assert "dog" in first.find_element("css selector", ".concepts").text
    assert first.find_element("css selector", "img.thumb").size["height"] > 100  # a thumbnail, not an id only
    assert csp_violations(browser) == []
    save_screenshot(browser, tmp_path / "ui-words.png")
    words = css(browser, "#words-text")[0]
    words.clear()
    words.send_keys("dgo")
    css(browser, "#word-search button[type='submit']")[0].click()
    wait_for(browser, lambda d: "did you mean" in css(d, "#word-search .status")[0].text)
    assert "dingo" in css(browser, "#word-search .status")[0].text
