"""A FIFO or a symlink to a device among the inputs is reported as an error for that file, and the
batch goes on (exit 1): never a hang, never 100 MB read from /dev/zero. The real CLI in
subprocesses, with a timeout so that a hang fails the test instead of hanging it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ..conftest import SAMPLES, run_cli

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"), reason="needs FIFOs and /dev"),
]

#: Seconds a command may take; the old code waited for ever on the FIFO (a loaded machine runs
#: these commands in well under a minute).
TIMEOUT = 300


@pytest.fixture
def env(tmp_path, cache_dir):
    return {"OCULA_DATA_DIR": str(tmp_path / "data"), "OCULA_CACHE_DIR": str(cache_dir)}


@pytest.fixture
def folder(tmp_path) -> Path:
    """Two real photos (symlinks to the samples), a FIFO and a symlink to /dev/zero, all named as images."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a-coffee.jpg").symlink_to(SAMPLES / "coffee.jpg")
    (photos / "b-astronaut.jpg").symlink_to(SAMPLES / "astronaut-eileen-collins.jpg")
    os.mkfifo(photos / "c-pipe.jpg")
    (photos / "d-zero.png").symlink_to("/dev/zero")
    return photos


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def errors_by_name(objects: list[dict]) -> dict[str, str]:
    """``{file name: error}`` of the objects that report an error."""
    return {Path(o["path"]).name: o["error"] for o in objects if "error" in o}


def assert_special_files_refused(errors: dict[str, str], stderr: str) -> None:
    assert set(errors) == {"c-pipe.jpg", "d-zero.png"}, errors
    assert "is a FIFO (named pipe), not an image file" in errors["c-pipe.jpg"]
    assert "is a character device (a symlink to /dev/zero)" in errors["d-zero.png"]
    assert "Traceback" not in stderr


def test_tag_refuses_a_fifo_given_by_name(env, tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    proc = run_cli("tag", str(tmp_path / "pipe.jpg"), env_extra=env, timeout=TIMEOUT)
    assert proc.returncode == 1, proc.stderr
    assert "pipe.jpg: is a FIFO (named pipe), not an image file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_tag_of_a_folder_reports_the_special_files_and_tags_the_rest(env, folder):
    proc = run_cli("tag", "--json", "-k", "1", str(folder), env_extra=env, timeout=TIMEOUT)
    assert proc.returncode == 1, proc.stderr
    out = lines(proc.stdout)
    assert [Path(o["path"]).name for o in out] == ["a-coffee.jpg", "b-astronaut.jpg", "c-pipe.jpg", "d-zero.png"]
    assert out[0]["tags"][0]["label"] == "espresso" and len(out[1]["tags"]) == 1
    assert_special_files_refused(errors_by_name(out), proc.stderr)


def test_faces_detect_of_a_folder_reports_the_special_files_and_finds_the_faces(env, folder):
    proc = run_cli("faces", "detect", "--json", str(folder), env_extra=env, timeout=TIMEOUT)
    assert proc.returncode == 1, proc.stderr
    out = lines(proc.stdout)
    assert len(out) == 4, proc.stdout
    found = {Path(o["path"]).name: len(o["faces"]) for o in out if "faces" in o}
    assert found.keys() == {"a-coffee.jpg", "b-astronaut.jpg"} and found["b-astronaut.jpg"] >= 1, found
    assert_special_files_refused(errors_by_name(out), proc.stderr)


def test_dedupe_of_a_folder_reports_the_special_files_and_compares_the_rest(env, folder):
    (folder / "e-coffee-again.jpg").symlink_to(SAMPLES / "coffee.jpg")
    proc = run_cli("dedupe", "--json", str(folder), env_extra=env, timeout=TIMEOUT)
    assert proc.returncode == 1, proc.stderr
    out = lines(proc.stdout)
    groups = [o for o in out if "group" in o]
    assert len(groups) == 1, proc.stdout
    assert sorted(Path(i["path"]).name for i in groups[0]["images"]) == ["a-coffee.jpg", "e-coffee-again.jpg"]
    assert_special_files_refused(errors_by_name(out), proc.stderr)
