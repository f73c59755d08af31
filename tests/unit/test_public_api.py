"""The public surface: a pinned __all__, and an import that loads no model and no runtime."""

from __future__ import annotations

import subprocess
import sys

import ocula
from ocula import errors


def test_all_is_pinned():
    assert sorted(ocula.__all__) == sorted([
        "ConfigError", "ConversionError", "DatasetError", "DownloadError", "Engine", "ImageDecodeError",
        "ImageError", "ImageNotFound", "ImageTooLarge", "InputError", "IntegrityError", "ModelError",
        "ModelSpec", "ModelUnavailable", "OculaError", "Settings", "Tag", "TagResult", "Tags", "UnknownName",
        "__version__", "get_model", "list_models", "load_image", "tag",
        # faces
        "FaceResult", "Faces", "NoFaceFound", "QualityGate", "Verification", "face_similarity", "faces", "verify",
        # collections
        "Collection",
        # galleries
        "Gallery",
        # video
        "VideoError",
    ])
    for name in ocula.__all__:
        assert hasattr(ocula, name), name


def test_every_error_is_an_ocula_error():
    assert len(errors.__all__) == 19  # the tree in ocula/errors.py; the loop checks each
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.OculaError)
    assert issubclass(errors.ImageTooLarge, errors.ImageError) and issubclass(errors.ImageError, ValueError)


def test_import_is_light_and_does_no_work(tmp_path):
    code = (
        "import sys, ocula\n"
        "heavy = [m for m in ('onnxruntime', 'onnx', 'torch', 'dlib', 'matplotlib', 'faiss', 'cv2', 'av') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c"), "XDG_DATA_HOME": str(tmp_path / "d"),
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere
