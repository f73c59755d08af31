"""``ocula faces detect|verify`` and ``ocula eval pairs`` as a user runs them: JSON and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ocula.eval.pairs import evaluate_pairs, read_pairs
from ocula.pipelines.calibration import CalibrationTable

from ..conftest import SAMPLES, invoke_cli, run_cli, shared

EXAMPLES = "faces/face-recognition-examples/examples"
GALLERY = f"{EXAMPLES}/knn_examples/train"


@pytest.fixture
def env(cache_dir, tmp_path):
    return {"OCULA_CACHE_DIR": str(cache_dir), "OCULA_DATA_DIR": str(tmp_path / "data")}


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_detect_json_and_annotations(env, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 nope")
    out = tmp_path / "drawn"
    proc = run_cli(
        "faces",
        "detect",
        str(shared(f"{EXAMPLES}/two_people.jpg")),
        str(bad),
        str(SAMPLES / "rocket.jpg"),
        "--json",
        "--annotate",
        str(out),
        env_extra=env,
    )
    assert proc.returncode == 1  # one input failed; the others were still processed
    two, broken, rocket = lines(proc.stdout)
    assert set(two) == {"path", "width", "height", "faces", "annotated"} and len(two["faces"]) == 2
    face = two["faces"][0]
    assert set(face) == {"box", "score", "landmarks", "landmark_layout", "quality"} and len(face["box"]) == 4
    assert set(face["quality"]) == {"size", "sharpness", "frontal"}
    assert broken["error_type"] == "ImageDecodeError" and "broken.jpg" in broken["path"]
    assert rocket["faces"] == []
    assert Image.open(two["annotated"]).size == (1126, 661)
    assert sorted(p.name for p in out.iterdir()) == ["rocket.jpg", "two_people.jpg"]


def test_detect_embeddings_and_table(env):
    proc = run_cli(
        "faces", "detect", str(shared(f"{GALLERY}/obama/obama.jpg")), "--json", "--embeddings", env_extra=env
    )
    assert proc.returncode == 0, proc.stderr
    (record,) = lines(proc.stdout)
    assert len(record["faces"][0]["embedding"]) == 256  # the default descriptor: sface+dlib
    human = invoke_cli("faces", "detect", str(shared(f"{GALLERY}/obama/obama.jpg")), env_extra=env)
    assert human.returncode == 0 and "1 face(s)" in human.stdout and "usable" in human.stdout


def test_verify_json_schema_and_exit_codes(env, tmp_path):
    # A small grey image has no face: the same refusal as a faceless photo, without running
    # dlib's CNN fallback on 640x427 pixels twice (10 s of CPU each).
    faceless = tmp_path / "grey.png"
    Image.new("RGB", (160, 120), "grey").save(faceless)
    a, b = str(shared(f"{GALLERY}/obama/obama.jpg")), str(shared(f"{GALLERY}/obama/obama2.jpg"))
    # A process, where the contract is the process's: exit 0 and nothing on stdout but one JSON line.
    proc = run_cli("faces", "verify", a, b, "--json", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    (result,) = lines(proc.stdout)
    assert set(result) == {
        "same", "similarity", "threshold", "fmr", "fmr_at_similarity", "usable", "face_a", "box_a", "face_b", "box_b"
    }  # fmt: skip
    assert result["usable"] == [True, True] and result["face_a"] == 0 and result["face_b"] == 0
    assert len(result["box_a"]) == 4 and len(result["box_b"]) == 4
    assert result["same"] is True and result["fmr"] == 0.001 and result["similarity"] > result["threshold"]
    # The other answers from the same command run in this process (no Python start-up each).
    different = invoke_cli(
        "faces", "verify", a, str(shared(f"{GALLERY}/biden/biden.jpg")), "--fmr", "1e-2", "--json", env_extra=env
    )
    assert different.returncode == 0 and lines(different.stdout)[0]["same"] is False
    human = invoke_cli("faces", "verify", a, b, env_extra=env)
    assert human.returncode == 0 and "same person" in human.stdout
    assert f"compared face 0 of {a} (box " in " ".join(human.stdout.split())
    no_face = invoke_cli("faces", "verify", a, str(faceless), env_extra=env)
    assert no_face.returncode == 1 and "no face found" in no_face.stderr and "Traceback" not in no_face.stderr
    no_face_json = invoke_cli("faces", "verify", a, str(faceless), "--json", env_extra=env)
    assert no_face_json.returncode == 1 and lines(no_face_json.stdout)[0]["error_type"] == "NoFaceFound"
    negative = invoke_cli("faces", "verify", a, b, "--face-a", "-1", env_extra=env)
    assert negative.returncode == 2
    bad_fmr = invoke_cli("faces", "verify", a, b, "--fmr", "1e-9", env_extra=env)
    assert bad_fmr.returncode == 1 and "outside the calibrated range" in bad_fmr.stderr
    missing = invoke_cli("faces", "verify", a, "/nonexistent/x.jpg", env_extra=env)
    assert missing.returncode == 1 and "x.jpg" in missing.stderr and "Traceback" not in missing.stderr
    usage = invoke_cli("faces", "verify", a, b, "--detector", "yolo", env_extra=env)
    assert usage.returncode == 2


def test_verify_two_people_against_biden_compares_detects_face_0(env):
    two = str(shared("faces/face-recognition-examples/examples/two_people.jpg"))
    biden = str(shared("faces/face-recognition-examples/examples/biden.jpg"))
    detected = invoke_cli("faces", "detect", two, "--json", env_extra=env)
    assert detected.returncode == 0, detected.stderr
    face0 = lines(detected.stdout)[0]["faces"][0]["box"]
    proc = run_cli("faces", "verify", two, biden, "--json", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    (result,) = lines(proc.stdout)
    assert result["same"] is True and result["face_a"] == 0
    # The compared box (native scale) and detect's face 0 (upsampled) are the same face.
    x0, y0, x1, y1 = result["box_a"]
    assert x0 < face0[2] and face0[0] < x1 and y0 < face0[3] and face0[1] < y1


#: LFW pairs per fold and kind (genuine, impostor) for the CLI run: both kinds in each fold, so the
#: cross-validated threshold is chosen on one fold and scored on the other.
LFW_PAIRS_PER_FOLD_AND_KIND = 5


def _rounded(value: object) -> object:
    """``value`` with every float rounded to 6 places, in nested dicts and lists: two runs of the
    same embeddings agree to that, whatever the summation order of a thread count."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def test_eval_pairs_cli_on_lfw_crops(env, tmp_path, engine):
    """The command's output and plot on a few LFW pairs of each fold, and its agreement with
    ``evaluate_pairs`` on the same pairs. The README's figures on all 1,115 pairs are checked on
    the session's report, which evaluates them once (tests/browser/test_report.py); the
    calibration table is written in test_eval_pairs_identities_subset_and_bad_files (enough
    impostor pairs there)."""
    root = shared("faces/lfw-folds-1-2")
    header, *rows = (root / "pairs.csv").read_text().splitlines()
    fold, same = header.split(",").index("fold"), header.split(",").index("same")
    chosen = [
        row
        for f in ("1", "2")
        for kind in ("1", "0")
        for row in [r for r in rows if r.split(",")[fold] == f and r.split(",")[same] == kind][
            :LFW_PAIRS_PER_FOLD_AND_KIND
        ]
    ]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("\n".join([header, *chosen]) + "\n")
    plot = tmp_path / "roc.png"
    command = ("eval", "pairs", str(pairs), "--root", str(root / "images"), "--cropped", "--plot", str(plot), "--json")
    proc = run_cli(*command, env_extra=env)
    assert proc.returncode == 0, proc.stderr
    (report,) = lines(proc.stdout)
    timing = {"pairs_per_second", "images_per_second"}
    assert set(report) == timing | {
        "descriptor",
        "detector",
        "n_pairs",
        "n_genuine",
        "n_impostor",
        "n_images",
        "failures_to_enrol",
        "accuracy",
        "accuracy_std",
        "folds",
        "auc",
        "eer",
        "tar_at_far",
        "calibrated",
    }
    n = 2 * LFW_PAIRS_PER_FOLD_AND_KIND
    assert report["n_pairs"] == 2 * n and report["n_genuine"] == report["n_impostor"] == n
    assert report["folds"] == 2 and report["failures_to_enrol"] == 0
    assert report["detector"] == "given (cropped)" and report["descriptor"] in ("dlib", "sface", "sface+dlib")
    assert set(report["tar_at_far"]) == {"0.0001", "0.001", "0.01"}
    assert Image.open(plot).format == "PNG"
    # The command reports what evaluate_pairs measures on the same pairs (the report's LFW
    # section runs evaluate_pairs on all of them).
    measured = evaluate_pairs(engine, read_pairs(pairs, root / "images"), cropped=True).to_dict()
    expected = json.loads(json.dumps({k: v for k, v in measured.items() if k not in timing}))
    assert _rounded({k: v for k, v in report.items() if k not in timing}) == _rounded(expected)


def test_eval_pairs_identities_subset_and_bad_files(env, tmp_path):
    root = shared("faces/celeba-80")
    subset = tmp_path / "ids.csv"
    subset.write_text("".join((root / "identities.csv").read_text().splitlines(keepends=True)[:61]))
    plot, table = tmp_path / "roc.png", tmp_path / "calibration.json"
    proc = run_cli(
        "eval", "pairs", str(subset), "--root", str(root), "--plot", str(plot), "--calibration", str(table), "--json",
        env_extra=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (report,) = lines(proc.stdout)
    assert report["n_images"] == 60 and report["n_pairs"] == 60 * 59 // 2 and report["folds"] == 2
    assert Image.open(plot).format == "PNG"
    # The FMR -> threshold table from the impostor pairs (1,700 of them: every row can be calibrated).
    rows = json.loads(table.read_text())["rows"]
    assert len(rows) >= 2 and [r["fmr"] for r in rows] == sorted((r["fmr"] for r in rows), reverse=True)
    # ocula's own thresholds: the FMR achieved on these pairs next to the one asked for
    assert {v["fmr_asked"] for v in report["calibrated"].values()} == {1e-4, 1e-3, 1e-2}
    assert all(0 <= v["fmr"] <= 1 for v in report["calibrated"].values())
    same_only = invoke_cli("eval", "pairs", str(root / "pairs.csv"), "--root", str(root), env_extra=env)
    assert same_only.returncode == 1 and "different-person" in same_only.stderr
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    bad = invoke_cli("eval", "pairs", str(tmp_path / "bad.csv"), "--root", str(root), env_extra=env)
    assert bad.returncode == 1 and "expected columns" in bad.stderr and "Traceback" not in bad.stderr


def test_verify_with_a_users_calibration_table(env, tmp_path):
    table = CalibrationTable(np.array([1e-1, 1e-3]), np.array([0.99, 0.999]), np.full(2, np.nan), {"data": "strict"})
    table.save(tmp_path / "strict.json")
    a, b = str(shared(f"{GALLERY}/obama/obama.jpg")), str(shared(f"{GALLERY}/obama/obama2.jpg"))
    proc = run_cli("faces", "verify", a, b, "--calibration", str(tmp_path / "strict.json"), "--json", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    result = lines(proc.stdout)[0]
    assert result["threshold"] > 0.99 and result["same"] is False
    (tmp_path / "broken.json").write_text("{}")
    broken = invoke_cli("faces", "verify", a, b, "--calibration", str(tmp_path / "broken.json"), env_extra=env)
    assert broken.returncode == 1 and "calibration" in broken.stderr


def test_faces_v2_options(env):
    """``--detector yunet`` and ``--descriptor`` as a user types them; a missing SFace table
    and a reindex naming both a collection and a gallery are one-line errors."""
    two = str(shared(f"{EXAMPLES}/two_people.jpg"))
    proc = run_cli("faces", "detect", two, "--detector", "yunet", "--descriptor", "sface", "--embeddings", "--json",
                   env_extra=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (record,) = lines(proc.stdout)
    assert len(record["faces"]) == 2 and {f["landmark_layout"] for f in record["faces"]} == {"yunet5"}
    assert all(abs(np.linalg.norm(f["embedding"]) - 1) < 1e-3 for f in record["faces"])  # SFace's unit vectors
    if not (SAMPLES.parent / "calibration_sface_face.json").is_file():
        proc = invoke_cli("faces", "verify", two, two, "--descriptor", "sface", env_extra=env)
        assert proc.returncode == 1 and "calibration_sface_face.json is missing" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    both = invoke_cli("reindex", "--collection", "c", "--gallery", "g", env_extra=env)
    assert both.returncode == 1 and "one of --collection or --gallery" in both.stderr
    # Review of issue 17: a gallery without --descriptor was an "internal error" with no JSON line.
    bare = invoke_cli("reindex", "--gallery", "g", "--json", env_extra=env)
    assert bare.returncode == 1 and "internal error" not in bare.stderr and "needs --descriptor" in bare.stderr
    assert json.loads(bare.stdout.splitlines()[-1])["error_type"] == "InputError"
