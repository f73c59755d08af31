"""dlib's CNN face detector in a child process (what ``ocula serve`` runs, since the CNN holds
the GIL): the same boxes as in-process, a run past its time limit ended with an ImageError, and
a fresh child for the next call."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from ocula import ImageError, ModelError, load_image
from ocula.models.backends.dlib_isolated import IsolatedDetector
from ocula.models.files import resolve_files
from ocula.models.registry import get_model

from ..conftest import shared

PHOTO = "faces/face-recognition-examples/examples/knn_examples/train/obama"


@pytest.fixture
def isolated(engine):
    detector = IsolatedDetector("mmod", resolve_files(get_model("dlib_mmod_face"), engine.settings)["weights"],
                                timeout=120)  # fmt: skip
    yield detector
    detector.close()


def test_same_boxes_as_in_process_and_a_time_limit(engine, isolated):
    image = np.ascontiguousarray(load_image(sorted(shared(PHOTO).iterdir())[0])[::2, ::2])  # quick for the CNN
    boxes, scores = isolated.detect(image, 0)
    expected_boxes, expected_scores = engine.dlib_model("dlib_mmod_face").detect(image, 0)
    assert len(expected_boxes) >= 1
    np.testing.assert_array_equal(boxes, expected_boxes)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)
    isolated.timeout = 0.001
    with pytest.raises(ImageError, match="took over"):
        isolated.detect(np.full((1000, 1000, 3), 128, np.uint8), 0)
    isolated.timeout = 120
    again, _ = isolated.detect(image, 0)  # a new child
    np.testing.assert_array_equal(again, expected_boxes)


def cpu_ticks(pid: int) -> int:
    """The CPU time (user + system, in clock ticks) process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def kill_once_busy(pid: int, ticks: int, done: threading.Event) -> None:
    """SIGKILL ``pid`` once it has used ``ticks`` more clock ticks of CPU: it is then inside the
    call (an idle child uses none), whatever the machine's load."""
    start = cpu_ticks(pid)
    while not done.is_set() and cpu_ticks(pid) - start < ticks:
        done.wait(0.01)
    if not done.is_set():
        os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_child_that_dies_mid_call_is_an_image_error_and_is_replaced(isolated):
    blank = np.full((700, 700, 3), 128, np.uint8)  # seconds of CNN work
    isolated.detect(np.full((100, 100, 3), 128, np.uint8), 0)  # the child is up
    child = isolated._child
    done = threading.Event()
    killer = threading.Thread(target=kill_once_busy, args=(child.pid, 20, done), daemon=True)
    killer.start()
    try:
        with pytest.raises(ImageError, match="failed"):
            isolated.detect(blank, 0)
    finally:
        done.set()
        killer.join(60)
    boxes, _ = isolated.detect(np.full((100, 100, 3), 128, np.uint8), 0)  # a new child
    assert boxes.shape == (0, 4) and isolated._child is not child


def test_a_child_that_died_between_calls_is_an_image_error_and_is_replaced(isolated, monkeypatch):
    small = np.full((100, 100, 3), 128, np.uint8)
    isolated.detect(small, 0)  # the child is up
    child = isolated._child
    child.kill()
    child.join(10)
    monkeypatch.setattr(child, "is_alive", lambda: True)  # died just after the check: the send fails
    with pytest.raises(ImageError, match="failed"):
        isolated.detect(small, 0)
    boxes, _ = isolated.detect(small, 0)
    assert boxes.shape == (0, 4) and isolated._child is not child


def test_a_detector_that_cannot_load_is_a_model_error_and_is_not_started_again(engine, tmp_path):
    weights = tmp_path / "mmod.dat"
    weights.write_bytes(b"not dlib's weights")
    broken = IsolatedDetector("mmod", weights, timeout=120)
    small = np.full((100, 100, 3), 128, np.uint8)
    try:
        with pytest.raises(ModelError, match="cannot be loaded") as first:
            broken.detect(small, 0)
        assert not isinstance(first.value, ImageError)  # not the photo's fault (the service: 503, not 422)
        # Good weights now: a new child would load them, but none is started; the failure stands.
        weights.write_bytes(resolve_files(get_model("dlib_mmod_face"), engine.settings)["weights"].read_bytes())
        with pytest.raises(ModelError, match="cannot be loaded"):
            broken.detect(small, 0)
        assert broken._child is None
    finally:
        broken.close()
