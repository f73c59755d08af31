"""ONNX Runtime backend.

One ``InferenceSession`` per model per Engine. ``InferenceSession.run`` is thread-safe, so a
runner may be shared by threads (the service will rely on this).

ONNX Runtime is imported with its telemetry off (:func:`onnxruntime_module`). Since 1.29 its
Linux and macOS wheels send Microsoft usage events by default: at import it writes a device
identifier and an offline event cache under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime``
(2.7 MB on the development machine, growing with every run), and uploads the events when it
can. Only ``ORT_DISABLE_TELEMETRY=1`` set before the import stops all of it;
``disable_telemetry_events()`` called after the import leaves both files written
(tests/e2e/test_onnx_telemetry.py checks both).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import ModelUnavailable

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["TELEMETRY_SWITCH", "OnnxRunner", "onnxruntime_module", "telemetry_folder", "telemetry_is_off"]

#: The environment variable that turns ONNX Runtime's telemetry off when it is "1" at import.
TELEMETRY_SWITCH = "ORT_DISABLE_TELEMETRY"


#: Values of the switch ONNX Runtime 1.32 reads as "off", in any case and with spaces around
#: (checked one by one with an empty home: "y", "on", " On" wrote nothing; "0", "false", "no",
#: "off", "n", "2", "01" and "" left its files written).
_OFF = ("1", "true", "yes", "y", "on")


def onnxruntime_module() -> ModuleType:
    """``onnxruntime``, imported with its telemetry off unless the environment sets
    ``ORT_DISABLE_TELEMETRY`` to another value (``0``: on). Every part of ocula imports it here.
    Setting the variable also keeps it off in the processes ocula starts. A program that
    imported ONNX Runtime itself before ocula did has had its files written by then; ocula
    still calls its ``disable_telemetry_events()``."""
    if not os.environ.get(TELEMETRY_SWITCH, "").strip():  # unset or empty: ONNX Runtime's default is on
        os.environ[TELEMETRY_SWITCH] = "1"
    import onnxruntime as ort  # imported here: keeps `import ocula` light

    if os.environ[TELEMETRY_SWITCH].strip().lower() in _OFF:
        ort.disable_telemetry_events()
    return ort


def telemetry_is_off() -> bool:
    """Whether ONNX Runtime's telemetry is off in the processes ocula runs with this environment:
    the switch unset or empty (ocula sets it at import) or set to a value read as "off"."""
    value = os.environ.get(TELEMETRY_SWITCH, "").strip()
    return not value or value.lower() in _OFF


def telemetry_folder() -> Path:
    """Where ONNX Runtime on Linux keeps the device identifier and event cache it writes when it
    is imported with its telemetry on: under ``$XDG_CACHE_HOME`` when that is an absolute path
    (as written: " /x" is not one), else under ``~/.cache`` (checked with ONNX Runtime 1.32).
    (Its files may be there from before ocula turned the telemetry off, or from another
    program.)"""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    cache = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "Microsoft" / "DeveloperTools" / ".onnxruntime"


class OnnxRunner:
    def __init__(self, path: Path, *, name: str, threads: int):
        ort = onnxruntime_module()

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Do not busy-wait between ops: image decoding runs on other threads of this process,
        # and spinning workers steal its CPU time. Measured with benchmarks/tag_speed.py on
        # 2 cores: fast preset end to end 195-209 img/s without spinning, 175-178 with it.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No memory pattern: it records the first run's allocations and makes one block of them on
        # the second, which made YuNet's first three runs (what `faces verify` of a faceless photo
        # does) take 72-79 ms instead of 48-57; runs after that took as long either way, for
        # YuNet, SFace and EfficientNet alike (2026-12-02, 2 cores).
        options.enable_mem_pattern = False
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped exceptions
            raise ModelUnavailable(f"model {name}: ONNX Runtime cannot load {path} ({exc})") from None
        self.name = name
        self.input_names = tuple(i.name for i in self._session.get_inputs())
        self.output_names = tuple(o.name for o in self._session.get_outputs())

    def run(self, inputs: Mapping[str, np.ndarray], outputs: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        names = list(outputs or self.output_names)
        values = self._session.run(names, dict(inputs))
        return dict(zip(names, values, strict=False))

    def close(self) -> None:
        self._session = None  # type: ignore[assignment]
