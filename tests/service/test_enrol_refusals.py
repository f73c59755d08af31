"""Enrolment through the API: a refusal is not a success. Nothing enrolled is a 422 problem
naming each upload by its filename; a partial enrolment is a 200 listing both; the audit log
records the status the client got."""

from __future__ import annotations

from ..conftest import SAMPLES, shared
from .test_api import CAT, EXAMPLES, auth, client, is_problem, keys, photo  # noqa: F401 (fixtures)


def _audited(client, keys) -> list[tuple[str, str, int]]:  # noqa: F811
    entries = client.get("/v1/audit", headers=auth(keys["admin"])).json()["entries"]
    return [(e["action"], e["target"], e["status"]) for e in entries]


def test_only_faceless_uploads_are_a_422_naming_each_upload(client, keys):  # noqa: F811
    coffee = (SAMPLES / "coffee.jpg").read_bytes()
    files = [("file", ("my cat.jpg", CAT)), ("file", ("coffee.jpg", coffee))]
    r = client.post("/v1/galleries/g/people", data={"person": "kitty"}, files=files, headers=auth(keys["write"]))
    body = is_problem(r, 422)
    assert body["title"] == "Nothing enrolled" and body["added"] == [] and body["person"] == "kitty"
    assert [x["photo"] for x in body["refused"]] == ["my cat.jpg", "coffee.jpg"]
    assert all(x["reason"] == "no face found" for x in body["refused"]), body
    assert "my cat.jpg: no face found" in body["detail"] and "coffee.jpg: no face found" in body["detail"]
    assert "<ndarray>" not in r.text
    assert ("enroll", "g/kitty", 422) in _audited(client, keys)
    # Nobody was created by the refused enrolment.
    people = client.get("/v1/galleries/g/people", headers=auth(keys["read"]))
    assert people.status_code in (200, 404) and "kitty" not in people.text


def test_a_partial_enrolment_is_a_200_listing_both_by_filename(client, keys):  # noqa: F811
    obama = sorted((shared(EXAMPLES) / "train" / "obama").iterdir())[0]
    files = [("file", photo(obama)), ("file", ("cat.jpg", CAT))]
    r = client.post("/v1/galleries/g/people", data={"person": "obama"}, files=files, headers=auth(keys["write"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["added"] == [obama.name] and body["photos"] == 1
    assert body["refused"] == [{"photo": "cat.jpg", "reason": "no face found"}]
    assert ("enroll", "g/obama", 200) in _audited(client, keys)

