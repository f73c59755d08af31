"""``Engine.index_folder(..., ray="local")`` from the Python API: Ray starts and stops inside the
caller's process, and must leave that process as it found it. ``ray.init`` installs its own
SIGTERM handler (``sys.exit``) and ``ray.shutdown`` leaves it there; the autouse guard in
tests/conftest.py fails this test if any SIGINT/SIGTERM handler is left behind."""

from __future__ import annotations

import signal

import pytest

from ..conftest import shared


def test_ray_indexing_in_process_stores_every_image_and_leaves_no_signal_handler(engine, tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    root = tmp_path / "photos"
    root.mkdir()
    originals = sorted((shared("search/near-duplicates") / "base_images").iterdir())[:4]
    assert len(originals) == 4
    for photo in originals:
        (root / photo.name).symlink_to(photo)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    report = engine.index_folder(root, "ray-in-process", ray="local")
    assert report.added == 4 and report.failed == [], report
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
