"""ONNX Runtime's telemetry stays off in ocula's processes (models/backends/onnx.py).

Each case runs in a fresh Python process whose home is an empty folder: ONNX Runtime (1.29 and
later, Linux and macOS) writes its device identifier and event cache under
``$HOME/.cache/Microsoft/DeveloperTools/.onnxruntime`` when its telemetry is on. A control run
that imports ONNX Runtime the plain way shows the files appear; where they do not (a build
without telemetry), the check would prove nothing and is skipped with that reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from ocula.models.backends.onnx import TELEMETRY_SWITCH

PLAIN = """
import sys, onnxruntime as ort
ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
"""

# ONNX Runtime's own switch, called after the import: too late for its files.
DISABLED_AFTER_IMPORT = """
import sys, onnxruntime as ort
ort.disable_telemetry_events()
ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
"""

OCULA = """
import sys, numpy as np
from pathlib import Path
from ocula.models.backends.onnx import OnnxRunner
runner = OnnxRunner(Path(sys.argv[1]), name="identity", threads=1)
out = runner.run({"x": np.ones((1, 2), np.float32)})
assert out["y"].tolist() == [[1.0, 1.0]], out
"""

# `ocula doctor` imports ONNX Runtime to report its version.
DOCTOR = """
import sys
from ocula.cli import run
sys.argv = ["ocula", "--data-dir", sys.argv[1] + ".data", "doctor", "--no-models", "--json"]
run()
"""


@pytest.fixture
def model(tmp_path) -> Path:
    """A one-node ONNX graph (y = x) for ONNX Runtime to load."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    path = tmp_path / "identity.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def _files_left(script: str, model: Path, home: Path, codes: tuple[int, ...] = (0,)) -> list[str]:
    """The files in the empty folder ``home`` after ``script`` ran with it as its home (and
    without the telemetry switch or a cache folder of this process's environment)."""
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in (TELEMETRY_SWITCH, "XDG_CACHE_HOME")}
    done = subprocess.run(
        [sys.executable, "-c", script, str(model)], env={**env, "HOME": str(home)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode in codes, done.stderr
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


def test_ocula_keeps_onnx_runtime_telemetry_off(model, tmp_path):
    control = _files_left(PLAIN, model, tmp_path / "plain")
    if not control:
        pytest.skip("this ONNX Runtime writes no telemetry files when imported the plain way")
    assert any("DeveloperTools" in name for name in control), control
    assert _files_left(DISABLED_AFTER_IMPORT, model, tmp_path / "late") != []  # why the variable
    assert _files_left(OCULA, model, tmp_path / "ocula") == []
    # doctor's checks pass or report a problem (exit 1) on this machine; either way, no files.
    assert _files_left(DOCTOR, model, tmp_path / "doctor", codes=(0, 1)) == []
