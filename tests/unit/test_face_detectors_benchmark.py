"""The detection benchmark (benchmarks/face_detectors.py) stays runnable, and its hand-picked
photo lists name photos that exist. The benchmark itself is run by hand (~15 minutes)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ..conftest import REPO_ROOT, SHARED_DATA

BENCHMARK = REPO_ROOT / "benchmarks" / "face_detectors.py"
LISTS = REPO_ROOT / "benchmarks" / "data"


def entries(name: str) -> list[str]:
    lines = (line.strip() for line in (LISTS / name).read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_face_detectors_help():
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--help"], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for option in ("--celeba-stride", "--lfw-stride", "--hamilton-stride", "--quick", "--only"):
        assert option in done.stdout


@pytest.mark.parametrize("name", ["face_free.txt", "face_like.txt"])
def test_photo_lists_name_existing_photos(name):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data {SHARED_DATA} is not present on this machine")
    listed = entries(name)
    assert listed, f"{name} lists no photo"
    assert len(set(listed)) == len(listed), f"{name} lists a photo twice"
    # ``clip.mp4#frame=N`` names a frame of a clip: the clip must exist.
    missing = [e for e in listed if not (SHARED_DATA / e.split("#frame=")[0]).is_file()]
    assert not missing, f"{name} lists photos absent from {SHARED_DATA}: {missing[:5]}"


def test_face_free_list_is_large_and_apart_from_face_like():
    face_free, face_like = entries("face_free.txt"), entries("face_like.txt")
    assert len(face_free) >= 100
    assert not set(face_free) & set(face_like)
