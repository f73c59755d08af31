"""Faces end to end on the real dlib weights and shared photos."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

import ocula
from ocula import Faces, ImageDecodeError, ImageNotFound, InputError, NoFaceFound, UnknownName
from ocula.models.files import resolve_files
from ocula.models.registry import get_model

from ..conftest import SAMPLES, shared

pytestmark = pytest.mark.quick  # seconds on the shared engine: in the quick tier

EXAMPLES = "faces/face-recognition-examples/examples"
TEST_IMAGES = "faces/face-recognition-examples/tests/test_images"
GALLERY = f"{EXAMPLES}/knn_examples/train"


def test_two_people_are_two_faces_largest_first(engine):
    faces = engine.faces(shared(f"{EXAMPLES}/two_people.jpg"))
    assert len(faces) == 2
    assert faces.area[0] >= faces.area[1]
    # Obama on the right, Biden on the left (the photo's layout).
    assert faces.boxes[0, 0] > faces.boxes[1, 0]
    assert faces.embeddings.shape == (2, 256) and faces.landmarks.shape == (2, 5, 2)  # the default: sface+dlib
    assert np.all(faces.scores > 0) and faces.image_size == (1126, 661)
    for i in range(2):  # landmarks lie inside their face box
        x0, y0, x1, y1 = faces.boxes[i]
        lm = faces.landmarks[i]
        assert np.all((lm[:, 0] > x0) & (lm[:, 0] < x1) & (lm[:, 1] > y0) & (lm[:, 1] < y1))


@pytest.mark.parametrize("name", ["obama_partial_face.jpg", "obama_partial_face2.jpg"])
def test_partial_faces_are_found_at_the_edge_and_still_match(engine, name):
    full = engine.faces(shared(f"{TEST_IMAGES}/obama.jpg"), largest_only=True)
    partial = engine.faces(shared(f"{TEST_IMAGES}/{name}"))
    assert len(partial) == 1
    w, _ = partial.image_size
    x0, _, x1, _ = partial.boxes[0]
    assert x0 == 0 or x1 == w, "a face cut by the photo's edge has its box clipped to the photo"
    assert engine.verify(full, partial).same


def test_gallery_same_and_different_people(engine):
    root = shared(GALLERY)
    people = {p.name: sorted(p.iterdir()) for p in sorted(root.iterdir())}
    embeddings = {
        (person, path.name): engine.faces(path, largest_only=True).embeddings[0]
        for person, paths in people.items()
        for path in paths
    }
    threshold = engine.calibration().threshold_for(1e-3)
    pairs = list(itertools.combinations(embeddings.items(), 2))
    # 5 people, 9 photos: 36 pairs, 4 of them of one person (the loop alone would pass on none).
    assert len(embeddings) == 9 and len(pairs) == 36
    assert sum(ka[0] == kb[0] for (ka, _), (kb, _) in pairs) == 4
    for (ka, ea), (kb, eb) in pairs:
        same = bool(ocula.face_similarity(ea, eb) >= threshold)
        assert same == (ka[0] == kb[0]), (ka, kb)


def test_verify_reports_decision_threshold_and_fmr(engine):
    a, b = shared(f"{GALLERY}/obama/obama.jpg"), shared(f"{GALLERY}/obama/obama2.jpg")
    result = engine.verify(a, b, fmr=1e-3)
    assert result.same and result.fmr == 1e-3
    assert result.threshold == pytest.approx(engine.calibration().threshold_for(1e-3))
    assert result.similarity > result.threshold and result.fmr_at_similarity <= 1e-3
    other = engine.verify(a, shared(f"{GALLERY}/biden/biden.jpg"))
    assert not other.same and other.similarity < other.threshold and other.fmr_at_similarity > 1e-3
    # A stricter FMR raises the threshold.
    assert engine.verify(a, b, fmr=1e-5).threshold > engine.verify(a, b, fmr=1e-2).threshold
    assert set(result.to_dict()) == {
        "same", "similarity", "threshold", "fmr", "fmr_at_similarity", "usable", "face_a", "box_a", "face_b", "box_b"
    }  # fmt: skip
    assert result.usable == (True, True)


def test_verify_picks_faces_by_index(engine):
    two = shared(f"{EXAMPLES}/two_people.jpg")
    obama = shared(f"{GALLERY}/obama/obama.jpg")
    faces = engine.faces(two)
    # Which of the two is Obama is decided by the photo, not by the test's expectation of order.
    sims = [float(ocula.face_similarity(faces.embeddings[i], engine.faces(obama).embeddings[0])) for i in range(2)]
    obama_index = int(np.argmax(sims))
    assert engine.verify(two, obama, face_a=obama_index).same
    assert not engine.verify(two, obama, face_a=1 - obama_index).same
    with pytest.raises(InputError, match="face 5 asked for, but 2 found"):
        engine.verify(two, obama, face_a=5)


def test_verify_compares_the_face_detect_lists_first_and_says_which(engine):
    two = shared(f"{EXAMPLES}/two_people.jpg")
    listed = engine.faces(two)  # what `ocula faces detect` shows: face 0 is the largest box
    assert len(listed) == 2
    biden = shared(f"{EXAMPLES}/biden.jpg")
    sims = [float(ocula.face_similarity(listed.embeddings[i], engine.faces(biden).embeddings[0])) for i in range(2)]
    assert int(np.argmax(sims)) == 0  # in this photo, detect's face 0 is Biden
    result = engine.verify(two, biden)
    assert result.same and result.index_a == 0 and result.index_b == 0
    x0, y0, x1, y1 = result.box_a  # the compared box is detect's face 0 (measured at native scale)
    lx0, ly0, lx1, ly1 = listed.boxes[0]
    overlap = max(0, min(x1, lx1) - max(x0, lx0)) * max(0, min(y1, ly1) - max(y0, ly0))
    assert overlap > 0.5 * (x1 - x0) * (y1 - y0)
    picked = engine.verify(two, biden, face_a=-1)
    assert picked.index_a == 1 and not picked.same
    assert picked.box_a == [round(float(v), 1) for v in listed.boxes[1]]


def test_no_face_tiny_and_corrupt_inputs_give_typed_errors(engine, tmp_path):
    # A small grey image: faceless, without dlib's CNN fallback searching a full-size photo (~10 s).
    faceless = np.full((120, 160, 3), 128, np.uint8)
    with pytest.raises(NoFaceFound, match="no face found"):
        engine.verify(faceless, shared(f"{GALLERY}/obama/obama.jpg"))
    tiny = np.full((6, 6, 3), 128, np.uint8)
    assert len(engine.faces(tiny)) == 0
    with pytest.raises(NoFaceFound):
        engine.verify(tiny, tiny)
    with pytest.raises(ImageDecodeError):
        engine.faces(shared("search/near-duplicates/mixed_images/ukbench09268_corrupt.jpg"))
    with pytest.raises(ImageNotFound):
        engine.faces(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="outside the calibrated range"):
        engine.verify(tiny, tiny, fmr=1e-9)
    with pytest.raises(UnknownName, match="detector"):
        engine.faces(tiny, detector="yolo")


def test_stream_keeps_going_after_bad_inputs(engine, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    sources = [shared(f"{GALLERY}/obama/obama.jpg"), bad, SAMPLES / "rocket.jpg", shared(f"{EXAMPLES}/two_people.jpg")]
    results = list(engine.faces_many(sources, embed=False))
    assert [r.ok for r in results] == [True, False, True, True]
    assert [len(r.faces) for r in results if r.ok] == [1, 0, 2]
    assert isinstance(results[1].error, ImageDecodeError) and results[1].to_dict()["error_type"] == "ImageDecodeError"
    assert results[0].faces.embeddings is None


def test_rgba_gray_and_exif_rotated_photos(engine):
    rgba = shared(f"{TEST_IMAGES}/32bit.png")
    assert Image.open(rgba).mode == "RGBA"  # dlib alone refuses this
    reference = engine.faces(shared(f"{TEST_IMAGES}/obama2.jpg"), largest_only=True)
    faces = engine.faces(rgba, largest_only=True)
    assert len(faces) == 1 and float(ocula.face_similarity(faces.embeddings[0], reference.embeddings[0])) > 0.95

    photo = Image.open(shared(f"{GALLERY}/obama/obama.jpg"))
    upright = engine.faces(photo.convert("RGB"), largest_only=True)
    gray = engine.faces(np.asarray(photo.convert("L")), largest_only=True)
    assert len(gray) == 1 and engine.verify(gray, upright).same
    # Stored turned 90 degrees with an EXIF tag saying how to turn it back.
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    photo.convert("RGB").transpose(Image.Transpose.ROTATE_90).save(buf, "JPEG", quality=95, exif=exif)
    turned = engine.faces(buf.getvalue(), largest_only=True)
    assert len(turned) == 1 and turned.image_size == upright.image_size
    assert np.abs(turned.boxes[0] - upright.boxes[0]).max() < 12
    assert engine.verify(turned, upright).similarity > 0.97


def test_onnx_descriptor_equals_dlibs_on_the_same_chips(engine, settings):
    import dlib

    path = shared(f"{EXAMPLES}/two_people.jpg")
    image = ocula.load_image(path)
    faces = engine.faces(image, descriptor="dlib")
    chips = engine.face_chips(image, faces)
    assert chips.shape == (2, 150, 150, 3) and chips.dtype == np.uint8
    weights = resolve_files(get_model("dlib_resnet_face"), settings)["weights"]
    net = dlib.face_recognition_model_v1(str(weights))
    theirs = np.array(net.compute_face_descriptor(list(chips)))
    ours = engine.face_analyzer(descriptor="dlib").embedder.run({"chips": chips.astype(np.float32)})["descriptor"]
    assert np.abs(ours - theirs).max() < 1e-5


def test_landmarks68_and_quality(engine):
    faces = engine.faces(shared(f"{TEST_IMAGES}/obama.jpg"), landmarks68=True)
    assert faces.landmarks68.shape == (1, 68, 2)
    assert faces.frontal[0] > 0.8 and faces.size[0] > 80 and faces.usable()[0]
    # Blur the photo: the same face, much less sharp, and refused by the default gate.
    blurred = np.asarray(Image.open(shared(f"{TEST_IMAGES}/obama.jpg")).convert("RGB").reduce(8).resize((910, 1137)))
    soft = engine.faces(blurred, largest_only=True)
    assert len(soft) == 1 and soft.sharpness[0] < faces.sharpness[0] / 4 and not soft.usable()[0]


def test_cnn_detector_finds_the_small_face(engine):
    faces = engine.faces(shared(f"{EXAMPLES}/obama-240p.jpg"), detector="cnn", embed=False)
    assert len(faces) == 1 and faces.scores[0] > 0


def test_cropped_mode_uses_the_whole_image(engine):
    path = shared("faces/lfw-folds-1-2/images/Al_Sharpton/Al_Sharpton_0002.jpg")
    faces = engine.faces(path, cropped=True)
    assert len(faces) == 1 and np.isnan(faces.scores[0])
    assert faces.boxes[0].tolist() == [0, 0, 350, 350] and faces.to_dicts()[0]["score"] is None
    other = engine.faces(shared("faces/lfw-folds-1-2/images/Al_Sharpton/Al_Sharpton_0003.jpg"), cropped=True)
    assert engine.verify(faces, other).same


def test_verb_functions_with_a_shared_engine(engine):
    obama = shared(f"{GALLERY}/obama/obama.jpg")
    faces = ocula.faces(obama, engine=engine)
    assert isinstance(faces, Faces) and len(faces) == 1
    assert ocula.verify(obama, faces, engine=engine).same


@pytest.mark.parametrize("detector", ["hog", "cnn"])
@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 700, 3), (5, 5, 3), (39, 39, 3)])
def test_tiny_and_thin_images_find_no_face_with_either_detector(engine, shape, detector):
    # dlib's CNN corrupts the heap on images a few pixels wide; ocula never hands it one.
    assert len(engine.faces(np.zeros(shape, np.uint8), detector=detector)) == 0


def test_degenerate_crops_are_refused_or_flagged(engine):
    with pytest.raises(InputError, match="too small to be a face"):
        engine.faces(np.zeros((10, 10, 3), np.uint8), cropped=True)
    flat = engine.faces(np.full((200, 200, 3), 128, np.uint8), cropped=True)
    assert not flat.usable()[0]  # no detail: fails the quality gate, and verify says so
    result = engine.verify(np.full((200, 200, 3), 128, np.uint8), np.zeros((200, 200, 3), np.uint8), cropped=True)
    assert result.usable == (False, False) and result.to_dict()["usable"] == [False, False]


def test_face_index_and_calibration_arguments_are_checked(engine, tmp_path):
    obama = shared(f"{GALLERY}/obama/obama.jpg")
    for bad in (0.0, "0", True):
        with pytest.raises(InputError, match="face index must be an integer"):
            engine.verify(obama, obama, face_a=bad)
    assert engine.verify(obama, obama, face_a=np.int64(0)).same
    table = engine.calibration()
    table.save(tmp_path / "t.json")
    assert engine.verify(obama, obama, calibration=str(tmp_path / "t.json")).threshold == pytest.approx(
        table.threshold_for(1e-3), abs=1e-6
    )
