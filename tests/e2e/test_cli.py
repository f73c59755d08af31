"""The real ``ocula`` CLI in subprocesses: JSON schema, exit codes, one-line errors."""

from __future__ import annotations

import json
import re

import pytest

from ..conftest import SAMPLES, invoke_cli, run_cli, shared

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(tmp_path, cache_dir):
    return {"OCULA_DATA_DIR": str(tmp_path / "data"), "OCULA_CACHE_DIR": str(cache_dir)}


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_tag_json_schema_and_exit_code_with_bad_inputs(env, tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    corrupt = shared("search/near-duplicates/mixed_images/ukbench09268_corrupt.jpg")
    proc = run_cli("tag", "--json", "-k", "3", str(SAMPLES), str(corrupt), str(tmp_path / "empty.jpg"),
                   str(tmp_path / "missing.png"), env_extra=env)
    assert proc.returncode == 1, proc.stderr
    out = lines(proc.stdout)
    assert len(out) == 7  # 4 samples + 3 bad inputs, one object each, in order
    good, bad = out[:4], out[4:]
    for obj in good:
        assert set(obj) == {"path", "recognised", "tags"} and len(obj["tags"]) == 3
        for t in obj["tags"]:
            assert set(t) == {"label", "class_index", "wnid", "score", "ancestors"}
            assert isinstance(t["class_index"], int) and 0 <= t["score"] <= 1 and t["wnid"].startswith("n")
    coffee = next(o for o in good if o["path"].endswith("coffee.jpg"))
    assert coffee["tags"][0]["label"] == "espresso" and "beverage" in coffee["tags"][0]["ancestors"]
    assert coffee["recognised"] is True
    for obj in bad:
        assert set(obj) == {"path", "error", "error_type"} and obj["error"]
    assert [o["error_type"] for o in bad] == ["ImageDecodeError", "ImageDecodeError", "ImageNotFound"]
    assert "Traceback" not in proc.stderr


def test_tag_table_for_people_within_a_concept_and_when_nothing_is_recognised(env, tmp_path):
    from PIL import Image

    Image.new("RGB", (320, 240), "grey").save(tmp_path / "blank.png")
    cat, blank = str(SAMPLES / "cat-chelsea.jpg"), str(tmp_path / "blank.png")
    proc = invoke_cli("tag", "--within", "cat", "-k", "2", cat, blank, env_extra=env)
    assert proc.returncode == 0, proc.stderr
    cat, blank = proc.stdout.split("blank.png")
    assert re.search(r"cat: 0\.9\d\d — scores below are within cat, p\(tag \| cat\)", cat), cat
    assert "recognised" not in cat and "guess" not in cat
    assert re.search(r"cat: 0\.0\d\d — scores below are within cat", blank), blank
    assert re.search(r"no cat recognised \(best guess: [\w ]+ \d\.\d\d\d\)", blank), blank


def test_tag_levels(env):
    dog = shared("imagenet/sample-334/images/n02099601_golden_retriever.JPEG")
    proc = invoke_cli("tag", "--json", "--level", "dog", "--level", "cat", str(dog), env_extra=env)
    assert proc.returncode == 0, proc.stderr
    (obj,) = lines(proc.stdout)
    assert [t["label"] for t in obj["tags"]] == ["dog", "cat"]
    assert obj["tags"][0]["score"] > 0.9 and obj["tags"][0]["class_index"] is None


@pytest.mark.parametrize(
    "args,needle",
    [
        (["tag", "--preset", "slow", "x.jpg"], "slow"),
        (["tag", "--level", "dgo", "SAMPLE"], "did you mean"),
        (["tag", "--top-k", "0", "x.jpg"], "top-k"),
        (["models", "verify", "no_such_model"], "unknown model"),
        (["--threads", "-1", "tag", "x.jpg"], "threads"),
        (["tag", "--level", "dog", "--within", "dog", "x.jpg"], "--within"),
    ],
)
def test_usage_errors_exit_2_without_traceback(env, args, needle):
    args = [str(SAMPLES / "coffee.jpg") if a == "SAMPLE" else a for a in args]
    proc = invoke_cli(*args, env_extra=env)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert needle in (proc.stderr + proc.stdout) and "Traceback" not in proc.stderr


def test_bad_environment_setting_is_one_line(env):
    proc = invoke_cli("tag", str(SAMPLES / "coffee.jpg"), env_extra={**env, "OCULA_THREADS": "many"})
    assert proc.returncode == 2 and "threads" in proc.stderr and "Traceback" not in proc.stderr


def test_file_names_with_brackets_are_printed_as_they_are(env, tmp_path):
    import shutil

    (tmp_path / "d[").mkdir()
    shutil.copyfile(SAMPLES / "coffee.jpg", tmp_path / "d[" / "b].jpg")
    shutil.copyfile(SAMPLES / "coffee.jpg", tmp_path / "holiday [edited].jpg")
    proc = invoke_cli("tag", "-k", "1", str(tmp_path), str(tmp_path / "a[/b].jpg"), env_extra=env)
    assert proc.returncode == 1, proc.stderr
    assert "holiday [edited].jpg" in proc.stdout and "d[/b].jpg" in proc.stdout
    assert "a[/b].jpg: no such file" in proc.stderr and "Traceback" not in proc.stderr


def test_empty_folder_fails(env, tmp_path):
    (tmp_path / "nothing").mkdir()
    proc = invoke_cli("tag", str(tmp_path / "nothing"), env_extra=env)
    assert proc.returncode == 1 and "no images" in proc.stderr


def test_models_list_and_verify(env):
    proc = invoke_cli("models", "list", "--json", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    models = lines(proc.stdout)
    assert [m["name"] for m in models] == [
        "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2",
        "dlib_hog_face", "dlib_mmod_face", "dlib_landmarks_5", "dlib_landmarks_68", "dlib_resnet_face",
        "yunet_face", "sface_face", "sface_dlib_face", "blazeface_face", "blazeface_short_face",
    ]
    for m in models:
        assert {"name", "task", "backend", "source", "installed", "license"} <= set(m) and m["installed"] is True
    hog = next(m for m in models if m["name"] == "dlib_hog_face")
    assert hog["source"] == "built-in" and hog["files"] == [] and hog["backend"] == "dlib"
    fused = next(m for m in models if m["name"] == "sface_dlib_face")  # no file of its own: its parts'
    assert fused["source"] == "parts" and fused["files"] == [] and fused["task"] == "face-embed"
    proc = invoke_cli("models", "verify", "--json", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    assert {f["status"] for f in lines(proc.stdout)} == {"ok"}
    human = invoke_cli("models", "list", env_extra=env)
    assert human.returncode == 0 and "efficientnet_lite2" in human.stdout


def test_eval_imagenet_json(env):
    root = shared("imagenet/sample-334")
    proc = invoke_cli("eval", "imagenet", str(root), "--labels", str(root / "labels.csv"), "--limit", "20", "--json",
                   env_extra=env)
    assert proc.returncode == 0, proc.stderr
    (obj,) = lines(proc.stdout)
    assert set(obj) == {"n", "top1_error", "top5_error", "images_per_second", "preset", "models", "failures"}
    assert obj["n"] == 20 and obj["preset"] == "fast" and 0 <= obj["top1_error"] <= 1 and obj["images_per_second"] > 0


def test_eval_imagenet_bad_labels_exit_1(env, tmp_path):
    (tmp_path / "labels.csv").write_text("nope\n")
    proc = invoke_cli("eval", "imagenet", str(tmp_path), "--labels", str(tmp_path / "labels.csv"), env_extra=env)
    assert proc.returncode == 1 and "missing column" in proc.stderr and "Traceback" not in proc.stderr


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("ocula ")


def test_progress_bar_on_a_terminal_keeps_json_on_stdout(env, tmp_path):
    """With stderr on a terminal the bar is drawn there, and stdout still carries only JSON."""
    import os
    import pty
    import subprocess
    import sys
    import threading

    from ..conftest import REPO_ROOT

    images = shared("imagenet/sample-334/images")
    out = tmp_path / "out.jsonl"
    master, slave = pty.openpty()
    drawn = bytearray()

    def drain() -> None:  # read the terminal while the CLI runs, so it never blocks on it
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with out.open("w") as stdout:
        proc = subprocess.run([sys.executable, "-m", "ocula", "tag", "--json", "-k", "1", str(images)],
                              stdout=stdout, stderr=slave, env={**os.environ, **env, "COLUMNS": "100"},
                              cwd=REPO_ROOT, timeout=600)
    os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    assert proc.returncode == 0
    assert len(lines(out.read_text())) == 334  # every line valid JSON, none lost to the terminal
    assert b"tagging" in drawn and b"334/334" in drawn and b'"path"' not in bytes(drawn)
