"""The EfficientNet-Lite ONNX graph against PyTorch's output on the same weights and inputs."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from ocula import ConversionError, Settings
from ocula.models.convert.efficientnet_lite import build_efficientnet_lite, lite_blocks
from ocula.models.convert.torch_checkpoint import load_state_dict
from ocula.models.files import resolve_files
from ocula.models.registry import get_model

from ..conftest import FIXTURES


def reference_input(size: int) -> np.ndarray:
    """Same closed-form input as tools/torch_reference.py used to record the torch logits."""
    n, c, h, w = np.meshgrid(np.arange(2), np.arange(3), np.arange(size), np.arange(size), indexing="ij")
    return (np.sin(0.11 * h * (c + 1) + 0.07 * w + n) * np.cos(0.05 * (h - w) + c)).astype(np.float32)


def weights(name: str) -> dict[str, np.ndarray]:
    return load_state_dict(resolve_files(get_model(name), Settings())["weights"])


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_graph_matches_pytorch_reference(variant):
    spec = get_model(f"efficientnet_lite{variant}")
    model = build_efficientnet_lite(
        weights(spec.name), width=spec.architecture["width"], depth=spec.architecture["depth"]
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    size = spec.preprocess.input_size
    logits, features = session.run(["logits", "features"], {"input": reference_input(size)})
    expected = np.load(FIXTURES / "efficientnet_lite_reference.npz")[f"lite{variant}_logits"]
    assert logits.shape == (2, 1000) and features.shape == (2, 1280)
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=1e-4)
    assert (logits.argmax(1) == expected.argmax(1)).all()


def test_block_structure_matches_weights():
    blocks = lite_blocks(1.1, 1.2)
    state = weights("efficientnet_lite2")
    assert len(blocks) == 1 + max(int(k.split(".")[1]) for k in state if k.startswith("_blocks."))
    for i, b in enumerate(blocks):
        assert state[f"_blocks.{i}._depthwise_conv.weight"].shape[2] == b.kernel
        assert state[f"_blocks.{i}._project_conv.weight"].shape[0] == b.out_channels


def test_missing_extra_and_misshapen_tensors_are_refused():
    state = weights("efficientnet_lite0")
    missing = dict(state)
    del missing["_blocks.3._bn1.running_var"]
    with pytest.raises(ConversionError, match=r"lacks _blocks.3._bn1.running_var"):
        build_efficientnet_lite(missing, width=1.0, depth=1.0)
    extra = dict(state, **{"_blocks.99._depthwise_conv.weight": np.zeros(3, np.float32)})
    with pytest.raises(ConversionError, match="does not use"):
        build_efficientnet_lite(extra, width=1.0, depth=1.0)
    with pytest.raises(ConversionError, match="shape"):
        build_efficientnet_lite(state, width=1.1, depth=1.2)  # Lite2's shapes, Lite0's weights


def test_every_converter_has_a_version_and_a_build_and_finding_a_graph_imports_none():
    """A cached graph is found by its name (model, weights sha256, converter version) without
    importing the converter: converters import onnx, which took 1.7 s of every CLI run."""
    import subprocess
    import sys

    from ocula.models.convert import CONVERTER_VERSIONS
    from ocula.models.loading import CONVERTERS
    from ocula.models.registry import list_models

    converters = {m.converter for m in list_models() if m.converter}
    assert converters and converters <= set(CONVERTER_VERSIONS) == set(CONVERTERS)
    assert all(CONVERTERS[c].version == CONVERTER_VERSIONS[c] for c in CONVERTERS)
    probe = (
        "import sys\n"
        "from ocula import Settings, get_model\n"
        "from ocula.models.loading import converted_graph_path\n"
        "for name in ('efficientnet_lite0', 'dlib_resnet_face', 'sface_face'):\n"
        "    converted_graph_path(get_model(name), Settings())\n"
        "print(sorted(m for m in sys.modules if m == 'onnx' or m.startswith('ocula.models.convert.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
