"""No request can take the server's memory: the CNN fallback of verify sees a bounded input, enrol
decodes its photos one at a time, and requests beyond the worker queue are answered 503 with
Retry-After (real models through TestClient; the queue on Services with a blocking task)."""

from __future__ import annotations

import io
import threading

import anyio
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ocula import Engine
from ocula.galleries import Gallery
from ocula.pipelines.faces import DETECT_MAX_PIXELS
from ocula.pipelines.search_embed import ImageEmbedder
from ocula.service import create_app, routes_collections
from ocula.service import deps as service_deps
from ocula.service.deps import Services
from ocula.service.problems import Problem
from ocula.service.settings import ServiceSettings

from ..conftest import SAMPLES, shared
from .test_api import auth, is_problem, keys  # noqa: F401 - the keys fixture

EXAMPLES = "faces/face-recognition-examples/examples/knn_examples"
CNN_BUDGET = ServiceSettings().cnn_max_pixels  # pixels, after upsampling: what ocula serve allows


def blank_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(buffer, "PNG")
    return buffer.getvalue()


class Watched:
    """A real detector that records the pixels each call searches; a CNN call over the budget is
    recorded but not run (on the old code it took 7 GB and 6 minutes)."""

    def __init__(self, real):
        self.real, self.kind = real, real.kind
        self.searched: list[int] = []

    def detect(self, image: np.ndarray, upsample: int):
        pixels = image.shape[0] * image.shape[1] * 4**upsample
        self.searched.append(pixels)
        if self.kind == "mmod" and pixels > CNN_BUDGET:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return self.real.detect(image, upsample)


@pytest.fixture
def client(engine, settings, keys):  # noqa: F811
    with TestClient(create_app(settings, ServiceSettings(rate_per_minute=1000), engine=engine)) as c:
        yield c


@pytest.fixture
def served_engine(engine):
    """The session's engine with ``ocula serve``'s CNN budget (as ``Services`` sets it on the
    engine it builds), the library's again afterwards."""
    engine.limit_cnn_pixels(CNN_BUDGET)
    yield engine
    engine.limit_cnn_pixels(DETECT_MAX_PIXELS["mmod"])


def test_the_service_limits_the_cnn_of_its_engine(settings):
    services = Services(settings, ServiceSettings(cnn_max_pixels=123_456))
    try:
        assert services.engine.cnn_max_pixels == 123_456
    finally:
        services.close()
    library = Engine(settings)
    try:
        assert CNN_BUDGET == 500_000 and library.cnn_max_pixels == DETECT_MAX_PIXELS["mmod"] == 2_560_000
    finally:
        library.close()


@pytest.mark.slow
def test_verify_of_a_blank_photo_is_no_face_and_the_cnn_sees_at_most_half_a_megapixel(
    client, served_engine, keys, monkeypatch  # noqa: F811
):
    analyzer = served_engine.face_analyzer("hog+cnn", descriptor="dlib")  # dlib's path: SFace's YuNet runs no CNN
    watched = tuple(Watched(d) for d in analyzer.detectors)
    monkeypatch.setattr(analyzer, "detectors", watched)
    blank = blank_png(1500, 1500)  # 10 KB
    r = client.post("/v1/faces/verify", files={"file_a": ("a.png", blank), "file_b": ("b.png", blank)},
                    data={"descriptor": "dlib"}, headers=auth(keys["read"]))  # fmt: skip
    body = is_problem(r, 422)
    assert body["title"] == "No face found" and "a.png" in body["detail"]
    hog, cnn = watched
    assert hog.kind == "hog" and cnn.kind == "mmod" and cnn.searched, "the CNN fallback never ran"
    assert max(cnn.searched) <= CNN_BUDGET, cnn.searched


def test_enrol_decodes_one_photo_at_a_time(client, keys, monkeypatch):  # noqa: F811
    events: list[str] = []
    real_load, real_enroll = service_deps.load_image, Gallery.enroll

    def load(*args, **kwargs):
        events.append("decode")
        return real_load(*args, **kwargs)

    def enroll(self, person, photos, **kwargs):
        if not isinstance(photos, list) or photos:  # not the thumbnail's metadata-only call
            events.append("enrol")
        return real_enroll(self, person, photos, **kwargs)

    monkeypatch.setattr(service_deps, "load_image", load)
    monkeypatch.setattr(Gallery, "enroll", enroll)
    photos = sorted((shared(EXAMPLES) / "train" / "obama").iterdir())
    files = [("file", (p.name, p.read_bytes())) for p in photos] * 2
    r = client.post("/v1/galleries/g/people", data={"person": "obama"}, files=files, headers=auth(keys["write"]))
    assert r.status_code == 200 and len(r.json()["added"]) == len(files), r.text
    assert events == ["decode", "enrol"] * len(files)


def test_collection_add_and_search_read_decode_and_embed_in_one_worker_slot(client, keys, monkeypatch):  # noqa: F811
    """A request waiting for a worker holds only its compressed upload: the upload is read, decoded
    and embedded by the one function that holds the worker slot, not on the event loop before it
    (nor in several slots, with the decoded photo held in between)."""
    events: list[str] = []
    slot = threading.local()  # set while a function run by Services.run is running
    real_run = Services.run

    async def run(self, fn, *args, **kwargs):
        def in_slot():
            slot.inside = True
            try:
                return fn(*args, **kwargs)
            finally:
                slot.inside = False

        events.append("slot")
        return await real_run(self, in_slot)

    def watched(name: str, real):
        def call(*args, **kwargs):
            events.append(name if getattr(slot, "inside", False) else f"{name} outside a slot")
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(Services, "run", run)
    read, decode = watched("read", service_deps.upload_bytes), watched("decode", service_deps.load_image)
    for module in (service_deps, routes_collections):  # the names the routes call
        monkeypatch.setattr(module, "upload_bytes", read, raising=False)
        monkeypatch.setattr(module, "load_image", decode)
    monkeypatch.setattr(ImageEmbedder, "embed", watched("embed", ImageEmbedder.embed))
    # Adding an item embeds and classifies in one forward pass (its concept scores).
    monkeypatch.setattr(ImageEmbedder, "embed_and_classify", watched("embed", ImageEmbedder.embed_and_classify))
    photo = ("cat.jpg", (SAMPLES / "cat-chelsea.jpg").read_bytes())

    r = client.post("/v1/collections/c/items", data={"id": "cat"}, files={"file": photo}, headers=auth(keys["write"]))
    assert r.status_code == 200, r.text
    assert events == ["slot", "read", "decode", "embed"]
    events.clear()
    r = client.post("/v1/collections/c/search", files={"file": photo}, headers=auth(keys["read"]))
    assert r.status_code == 200, r.text
    assert [m["id"] for m in r.json()["matches"]] == ["cat"]
    assert events == ["slot", "read", "decode", "embed"]


def test_enrol_refuses_a_bad_upload_before_storing_anything(client, keys):  # noqa: F811
    good = sorted((shared(EXAMPLES) / "train" / "obama").iterdir())[0]
    files = [("file", (good.name, good.read_bytes())), ("file", ("notes.txt", b"not an image"))]
    is_problem(client.post("/v1/galleries/g/people", data={"person": "obama"}, files=files,
                           headers=auth(keys["write"])), 415)  # fmt: skip
    is_problem(client.get("/v1/galleries/g/people/obama", headers=auth(keys["read"])), 404)


def run_queue(svc: Services, extra_calls: int) -> dict[str, object]:
    """One blocking call holds the only worker; one more waits; ``extra_calls`` more try to."""
    started, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def hold() -> str:
        started.set()
        release.wait(60)
        return "ran"

    async def call(name: str, fn) -> None:
        try:
            results[name] = await svc.run(fn)
        except Problem as exc:
            results[name] = exc

    async def main() -> None:
        with anyio.fail_after(30):  # the old code let every call wait: this test would hang
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, "running", hold)
                while not started.is_set():
                    await anyio.sleep(0.01)
                tg.start_soon(call, "queued", lambda: "queued ran")
                await anyio.wait_all_tasks_blocked()
                for i in range(extra_calls):
                    await call(f"extra {i}", lambda: "extra ran")
                release.set()

    anyio.run(main)
    return results


def test_requests_beyond_the_queue_are_503_with_retry_after(settings, engine):
    svc = Services(settings, ServiceSettings(workers=1, max_queued=1), engine=engine)
    try:
        results = run_queue(svc, extra_calls=2)
    finally:
        svc.close()
    assert results["running"] == "ran" and results["queued"] == "queued ran"
    for name in ("extra 0", "extra 1"):
        busy = results[name]
        assert isinstance(busy, Problem) and busy.status == 503, busy
        assert int(busy.headers["Retry-After"]) >= 1


def test_a_request_waits_for_a_worker_at_most_queue_wait_seconds(settings, engine):
    svc = Services(settings, ServiceSettings(workers=1, max_queued=5, queue_wait_seconds=0.2), engine=engine)
    try:
        results = run_queue(svc, extra_calls=1)
    finally:
        svc.close()
    assert results["running"] == "ran"
    for name in ("queued", "extra 0"):
        busy = results[name]
        assert isinstance(busy, Problem) and busy.status == 503 and "within" in busy.detail, busy


def test_enrol_stops_working_after_work_seconds(engine, settings, keys):  # noqa: F811
    service = ServiceSettings(rate_per_minute=1000, work_seconds=0.001)
    photos = sorted((shared(EXAMPLES) / "train" / "obama").iterdir())
    assert len(photos) >= 2  # one processed, the others refused
    files = [("file", (p.name, p.read_bytes())) for p in photos]
    with TestClient(create_app(settings, service, engine=engine)) as c:
        r = c.post("/v1/galleries/g/people", data={"person": "obama"}, files=files, headers=auth(keys["write"]))
    body = r.json()
    assert r.status_code == 200 and body["added"] == [photos[0].name] and body["photos"] == 1, r.text
    assert [x["photo"] for x in body["refused"]] == [p.name for p in photos[1:]]
    assert all("not processed" in x["reason"] for x in body["refused"])


def test_uploads_to_detect_and_verify_are_decoded_under_the_services_limits(settings, keys):  # noqa: F811
    # The engine's own pixel limit (1 MP here) is below the service's (4 MP): a 2.25 MP upload
    # the service accepts is decoded under the service's limits, not refused by the engine's
    # after the service's checks passed (a 413 whatever the service allowed).
    tight = Engine(settings.model_copy(update={"max_image_pixels": 1_000_000}))
    service = ServiceSettings(rate_per_minute=1000, max_upload_pixels=4_000_000)
    try:
        with TestClient(create_app(settings, service, engine=tight)) as c:
            blank, read = blank_png(1500, 1500), auth(keys["read"])
            r = c.post("/v1/faces/detect", files={"file": ("a.png", blank)}, headers=read)
            assert r.status_code == 200 and r.json()["faces"] == [] and r.json()["width"] == 1500, r.text
            r = c.post("/v1/faces/verify", files={"file_a": ("a.png", blank), "file_b": ("b.png", blank)}, headers=read)
            assert is_problem(r, 422)["title"] == "No face found"
            over = blank_png(2500, 2000)  # 5 MP: over the service's limit, refused from its header
            refused = c.post("/v1/faces/detect", files={"file": ("c.png", over)}, headers=read)
            assert "5,000,000" in is_problem(refused, 413)["detail"]
    finally:
        tight.close()
