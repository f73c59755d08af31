"""The public surface: a pinned __all__, and an import that loads no model and no runtime."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

import ocula
from ocula import errors


def test_all_is_pinned():
    assert sorted(ocula.__all__) == sorted([
        "ConfigError", "ConversionError", "DatasetError", "DownloadError", "Engine", "ImageDecodeError",
        "ImageError", "ImageNotFound", "ImageTooLarge", "InputError", "IntegrityError", "ModelError",
        "ModelSpec", "ModelUnavailable", "OculaError", "Settings", "Tag", "TagResult", "Tags", "UnknownName",
        "__version__", "get_model", "list_models", "load_image", "tag",
        # faces
        "Face", "FaceResult", "Faces", "NoFaceFound", "QualityGate", "Verification", "face_similarity", "faces",
        "verify",
        # collections
        "Collection",
        # galleries
        "Gallery",
        # video
        "VideoError",
    ])
    for name in ocula.__all__:
        assert hasattr(ocula, name), name
    assert set(ocula.__all__) <= set(dir(ocula))
    # Submodules without importing them, as when `import ocula` imported them all.
    assert callable(ocula.video.analyze) and callable(ocula.io.load_reduced) and ocula.engine.Engine is ocula.Engine
    with pytest.raises(AttributeError):
        ocula.no_such_name  # noqa: B018


#: Libraries neither ``import ocula`` nor ``import ocula.cli`` may import: they cost start-up
#: time (numpy and pydantic_settings together about 0.4 s of CPU) or load native runtimes.
HEAVY = ("numpy", "pydantic", "pydantic_settings", "PIL", "rich", "onnxruntime", "onnx", "torch", "dlib",
         "matplotlib", "faiss", "cv2", "av", "ray", "fastapi", "uvicorn", "httpx", "pymilvus", "ssl")


def _imported_after(code: str) -> list[str]:
    """Top-level libraries and ocula's own modules in sys.modules after running ``code``."""
    probe = (
        f"{code}\nimport sys\nheavy = {HEAVY!r}\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith('ocula.'))))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_import_ocula_and_its_cli_import_no_library():
    assert _imported_after("import ocula") == ["ocula._version", "ocula.errors"]
    assert _imported_after("import ocula.cli") == ["ocula._version", "ocula.cli", "ocula.errors"]


def test_a_command_imports_its_own_module_only():
    modules = _imported_after(
        "import click\nfrom ocula.cli import cli_command\n"
        "root = cli_command(); ctx = click.Context(root); faces = root.get_command(ctx, 'faces')\n"
        "assert faces.get_command(click.Context(faces, parent=ctx), 'verify').name == 'verify'\n"
        "from ocula import Settings\nSettings()"  # as the root callback builds them
    )
    assert "ocula.cli.faces" in modules and "numpy" in modules  # the command and what it needs
    unneeded = ("ocula.video", "ocula.eval", "ocula.service", "ocula.galleries", "ocula.cli.galleries",
                "ocula.cli.search", "ocula.cli.video", "ocula.cli.eval", "ocula.cli.service", "onnxruntime",
                "pydantic", "ssl", "PIL.ImageFont", "rich.progress")  # the service's, downloads, --annotate, bars
    assert not [m for m in modules if m.startswith(unneeded)], modules


def test_faces_verify_runs_without_pydantic_or_search_on_the_photo_decoded_from_the_start(tmp_path):
    """pydantic (with Typer 0.29's use of it) cost every command about 0.2 s of start-up: a whole
    run of `ocula faces verify` (models loaded, a photo searched) imports none of it. And the
    photo it searches is the one decoded from the process's start (cli/_ahead.py): the
    command's own decode is made to fail."""
    photo = tmp_path / "blank.png"
    Image.new("RGB", (64, 48), "white").save(photo)
    modules = _imported_after(
        "import contextlib, io, sys\n"
        "import ocula.io\n"
        "def unused(*args, **kwargs):\n    raise AssertionError('the photo decoded ahead was not used')\n"
        "ocula.io.decode_reduced_ahead = unused\n"
        "from ocula.cli import main\n"
        f"sys.argv = ['ocula', 'faces', 'verify', {str(photo)!r}, {str(photo)!r}]\n"
        "errors = io.StringIO()\n"
        "try:\n    with contextlib.redirect_stderr(errors):\n        main()\n"
        "except SystemExit as exc:\n    assert exc.code == 1, (exc.code, errors.getvalue())\n"
        "assert 'no face found' in errors.getvalue(), errors.getvalue()\n"
    )
    assert "onnxruntime" in modules and "ocula.cli.faces" in modules  # YuNet ran
    assert not [m for m in modules if m.startswith("pydantic")], modules
    # Nor the search service and collections (Engine.search_service is built on first use).
    assert "ocula.engine.search" not in modules and "ocula.collections" not in modules, modules


def test_every_error_is_an_ocula_error():
    assert len(errors.__all__) == 20  # the tree in ocula/errors.py; the loop checks each
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.OculaError)
    assert issubclass(errors.ImageTooLarge, errors.ImageError) and issubclass(errors.ImageError, ValueError)


def test_import_is_light_and_does_no_work(tmp_path):
    code = (
        "import sys, ocula\n"
        "heavy = [m for m in ('onnxruntime', 'onnx', 'torch', 'dlib', 'matplotlib', 'faiss', 'cv2', 'av') if m in "
        "sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c"), "XDG_DATA_HOME": str(tmp_path / "d"),
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere
