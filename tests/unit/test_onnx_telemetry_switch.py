"""How ocula reads ONNX Runtime's telemetry switch (models/backends/onnx.py). ONNX Runtime itself
is replaced by a recorder here: what the switch does to the real one is
tests/e2e/test_onnx_telemetry.py's."""

from __future__ import annotations

import os
import sys
import types

import pytest

from ocula.models.backends.onnx import TELEMETRY_SWITCH, onnxruntime_module, telemetry_is_off


@pytest.fixture
def disabled(monkeypatch) -> list[bool]:
    calls: list[bool] = []
    fake = types.SimpleNamespace(disable_telemetry_events=lambda: calls.append(True))
    monkeypatch.setitem(sys.modules, "onnxruntime", fake)
    return calls


@pytest.mark.parametrize(("value", "becomes", "turned_off"), [
    (None, "1", True), ("", "1", True), ("  ", "1", True),  # unset or empty: ONNX Runtime's default is on
    ("1", "1", True), ("true", "true", True), (" YES ", " YES ", True), ("y", "y", True), ("On", "On", True),
    ("0", "0", False), ("false", "false", False), ("off", "off", False),  # the user's choice stands
])  # fmt: skip
def test_the_switch_is_set_unless_the_user_chose(monkeypatch, disabled, value, becomes, turned_off):
    if value is None:
        monkeypatch.delenv(TELEMETRY_SWITCH, raising=False)
    else:
        monkeypatch.setenv(TELEMETRY_SWITCH, value)
    assert telemetry_is_off() is turned_off  # what `ocula doctor` reports
    assert onnxruntime_module() is sys.modules["onnxruntime"]
    assert os.environ[TELEMETRY_SWITCH] == becomes
    assert disabled == ([True] if turned_off else [])
