"""Enrolment through the API: a refusal is not a success. Nothing enrolled is a 422 problem
naming each upload by its filename; a partial enrolment is a 200 listing both; the audit log
records the status the client got."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ..conftest import shared
from .test_api import EXAMPLES, auth, client, is_problem, keys, photo  # noqa: F401 (fixtures)


def _audited(client, keys) -> list[tuple[str, str, int]]:  # noqa: F811
    entries = client.get("/v1/audit", headers=auth(keys["admin"])).json()["entries"]
    return [(e["action"], e["target"], e["status"]) for e in entries]


def _faceless(colour: str) -> bytes:
    """A small JPEG without a face."""
    out = io.BytesIO()
    Image.new("RGB", (160, 120), colour).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.slow
def test_only_faceless_uploads_are_a_422_naming_each_upload(client, keys):  # noqa: F811
    # Small faceless images: refused like faceless photos, without dlib's CNN fallback searching
    # full-size photos (~10 s of CPU each). The names are the uploads', whatever the content.
    files = [("file", ("my cat.jpg", _faceless("grey"))), ("file", ("coffee.jpg", _faceless("white")))]
    r = client.post("/v1/galleries/g/people", data={"person": "kitty"}, files=files, headers=auth(keys["write"]))
    body = is_problem(r, 422)
    assert body["title"] == "Nothing enrolled" and body["added"] == [] and body["person"] == "kitty"
    assert [x["photo"] for x in body["refused"]] == ["my cat.jpg", "coffee.jpg"]
    assert all(x["reason"] == "no face found" for x in body["refused"]), body
    assert "my cat.jpg: no face found" in body["detail"] and "coffee.jpg: no face found" in body["detail"]
    assert "<ndarray>" not in r.text
    assert ("enroll", "g/kitty", 422) in _audited(client, keys)
    # Nobody was created by the refused enrolment, nor the gallery it would have made.
    is_problem(client.get("/v1/galleries/g/people", headers=auth(keys["read"])), 404)
    listed = client.get("/v1/galleries", headers=auth(keys["read"])).json()["galleries"]
    assert "g" not in [x["name"] for x in listed]


def test_a_refused_enrolment_into_an_existing_empty_gallery_keeps_it(client, keys, settings):  # noqa: F811
    from ocula.galleries import Gallery

    Gallery.open("empty", settings=settings, create=True).close()  # made on purpose, e.g. by the CLI
    blank = io.BytesIO()
    Image.new("RGB", (64, 64), "grey").save(blank, "PNG")  # faceless and small: refused in a blink
    r = client.post("/v1/galleries/empty/people", data={"person": "kitty"},
                    files=[("file", ("blank.png", blank.getvalue()))], headers=auth(keys["write"]))  # fmt: skip
    is_problem(r, 422)
    assert client.get("/v1/galleries/empty/people", headers=auth(keys["read"])).json()["people"] == []


@pytest.mark.slow
def test_a_partial_enrolment_is_a_200_listing_both_by_filename(client, keys):  # noqa: F811
    obama = sorted((shared(EXAMPLES) / "train" / "obama").iterdir())[0]
    files = [("file", photo(obama)), ("file", ("cat.jpg", _faceless("grey")))]
    r = client.post("/v1/galleries/g/people", data={"person": "obama"}, files=files, headers=auth(keys["write"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["added"] == [obama.name] and body["photos"] == 1
    assert body["refused"] == [{"photo": "cat.jpg", "reason": "no face found"}]
    assert ("enroll", "g/obama", 200) in _audited(client, keys)



def test_a_rolled_head_is_enrolled_and_verified_through_the_api(client, keys):  # noqa: F811
    # celeba-80's one YuNet miss upright (a head rolled ~60 degrees): an enrolment photo and a
    # photo to verify are asserted to show a face, so it is searched a quarter turn either way
    # (FaceOptions.face_expected). tests/e2e/test_faces_v2.py checks that a dumbbell is not.
    rolled = shared("faces/celeba-80/images/7245/185156.jpg")
    mate = shared("faces/celeba-80/images/7245/182877.jpg")
    r = client.post("/v1/galleries/rolled/people", data={"person": "7245"}, files=[("file", photo(rolled))],
                    headers=auth(keys["write"]))  # fmt: skip
    assert r.status_code == 200 and r.json()["photos"] == 1 and r.json()["refused"] == [], r.text
    r = client.post(
        "/v1/faces/verify", files={"file_a": photo(rolled), "file_b": photo(mate)}, headers=auth(keys["read"])
    )
    assert r.status_code == 200 and r.json()["face_a"] == 0 and r.json()["box_a"][0] < 200, r.text  # low left
