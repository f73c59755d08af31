"""The face pipeline: detect → 5-point landmarks → aligned chip → quality → descriptor.

One :class:`FaceAnalyzer` holds the loaded models of one configuration (detector, descriptor,
whether 68-point landmarks are wanted). Two generations of models can be chosen by name:

- dlib's: HOG and/or the MMOD CNN, dlib's 5-point shape predictor, the ResNet
  descriptor on 150 px chips (ONNX Runtime), compared by ``1 - |a-b|^2/2``;
- faces v2 (issue 17): the YuNet detector (ONNX Runtime, the photo fitted into 640x640, at
  most that cost whatever its size; its own five landmarks), and the SFace descriptor on
  ArcFace-aligned 112 px chips with a mirror pass (unit vectors: ``similarity`` is their cosine);
- the default, ``sface+dlib``: YuNet, then both descriptors of each face (SFace's as above,
  dlib's on its 150 px chip from its 5-point model on YuNet's box, each with its mirror pass,
  each unit-length), fused into one 256-D unit vector whose cosine is the registry's weighted
  sum of the two cosines (``models.registry.Fusion``).

Any detector goes with any descriptor: YuNet's boxes get dlib's 5 points when dlib describes
them, and dlib's detectors give SFace its five points from the 68-point model (eye centres,
nose tip, mouth corners).
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import InputError, NoFaceFound, UnknownName
from ..face_types import Faces
from ..models.backends.base import Runner
from ..models.backends.dlib import FaceDetectorModel, LazyShapePredictor, ShapePredictorModel, face_chips
from ..models.registry import FaceAlignment, Fusion, get_model
from .face_quality import chip_sharpness, eye_distance, frontal_score
from .sface import SFaceDescriptor
from .yunet import ANY_TURNED_FACE, EXPECTED_TURNED_FACE, DetectedFaces, YuNetDetector

__all__ = [
    "DEFAULT_DESCRIPTOR",
    "DEFAULT_DETECTORS",
    "DESCRIPTOR_MODELS",
    "DETECTOR_MODELS",
    "DETECT_DETECTORS",
    "EMBEDDER_MODEL",
    "FACE0_SCORE_MARGIN",
    "FACE_DESCRIPTORS",
    "FACE_DETECTORS",
    "Descriptor",
    "Detector",
    "FaceAnalyzer",
    "FaceDetector",
    "FaceOptions",
    "Found",
    "as_descriptor",
    "as_detector",
    "contenders",
    "detection_side",
    "face_at",
    "face_order",
    "fuse_descriptors",
    "similarity",
]


#: Progress of the detection (the slow CNN fallback starting), for a CLI to show.
log = logging.getLogger("ocula.faces")
#: How a detector kind is named in messages.
_SHOWN = {"hog": "HOG", "mmod": "CNN"}


class Detector(enum.StrEnum):
    HOG = "hog"  # fast default
    CNN = "cnn"  # dlib's MMOD CNN: turned and partly hidden faces, ~50x slower
    HOG_CNN = "hog+cnn"  # HOG, and the CNN only for photos where HOG finds no face
    YUNET = "yunet"  # faces v2: YuNet (ONNX), five landmarks of its own, a fixed cost per photo


class Descriptor(enum.StrEnum):
    DLIB = "dlib"  # dlib's ResNet, 150 px chips from dlib's 5 points
    SFACE = "sface"  # faces v2: SFace with a mirror pass, ArcFace-aligned 112 px chips
    FUSED = "sface+dlib"  # the default: both of the above on the same face, one 256-D unit vector


def as_detector(value: Detector | str) -> Detector:
    try:
        return Detector(getattr(value, "value", value))
    except ValueError:
        raise UnknownName("detector", str(value), [d.value for d in Detector]) from None


def as_descriptor(value: Descriptor | str) -> Descriptor:
    try:
        return Descriptor(getattr(value, "value", value))
    except ValueError:
        raise UnknownName("face descriptor", str(value), [d.value for d in Descriptor]) from None


# The registry models each choice runs, in order: the next runs only if the previous found nothing.
DETECTOR_MODELS = {
    Detector.HOG: ("dlib_hog_face",),
    Detector.CNN: ("dlib_mmod_face",),
    Detector.HOG_CNN: ("dlib_hog_face", "dlib_mmod_face"),
    Detector.YUNET: ("yunet_face",),
}
#: dlib's descriptor model (galleries made before descriptors were stamped used it).
EMBEDDER_MODEL = "dlib_resnet_face"
DESCRIPTOR_MODELS = {
    Descriptor.DLIB: "dlib_resnet_face",
    Descriptor.SFACE: "sface_face",
    Descriptor.FUSED: "sface_dlib_face",
}
#: The detector verification and galleries use with each descriptor unless told otherwise: the
#: one its calibration was measured with.
DEFAULT_DETECTORS = {
    Descriptor.DLIB: Detector.HOG_CNN,
    Descriptor.SFACE: Detector.YUNET,
    Descriptor.FUSED: Detector.YUNET,
}
#: The detector ``faces detect`` (``Engine.faces``) uses with each descriptor unless told
#: otherwise: dlib's fast HOG alone (its CNN only when asked), YuNet for SFace and the fusion.
DETECT_DETECTORS = {Descriptor.DLIB: Detector.HOG, Descriptor.SFACE: Detector.YUNET, Descriptor.FUSED: Detector.YUNET}
#: The descriptor used when none is named (faces, verify, new galleries, eval); existing
#: galleries keep the descriptor they were built with (their stamp), and ``descriptor="sface"``
#: / ``--descriptor dlib`` and the like stay.
DEFAULT_DESCRIPTOR = Descriptor.FUSED

# Face models by the names users give them (``Engine.face_detector``, ``Engine.face_descriptor``).
FACE_DETECTORS = {
    "hog": "dlib_hog_face",
    "cnn": "dlib_mmod_face",
    "yunet": "yunet_face",
    "blazeface": "blazeface_face",  # MediaPipe full-range
    "blazeface-short": "blazeface_short_face",
}
FACE_DESCRIPTORS = {"sface": "sface_face"}
# iBUG-300W indices giving SFace's five points from dlib's 68: the eye on the photo's left
# (mean of its six points), the other eye, the nose tip, the mouth corners (photo's left first).
_LEFT_EYE_68, _RIGHT_EYE_68, _NOSE_TIP_68, _MOUTH_68 = slice(36, 42), slice(42, 48), 30, (48, 54)
# Sharpness is measured on a chip of this size whatever the descriptor's (the quality gate's
# ``min_sharpness`` was chosen on dlib's 150 px chips; the Laplacian's variance depends on scale).
SHARPNESS_CHIP = 150
#: Faces described at once (chips, mirror images, network inputs): memory stays that of a batch
#: whatever the number of faces in a photo. Photos of up to this many faces are described as
#: before; beyond, dlib's chips (one image pyramid per call) may differ by a hair (one face of a
#: 396-face collage: cosine 0.99993 to its description in one batch).
DESCRIBE_BATCH = 32


class FaceDetector(Protocol):
    """What every face detector answers: boxes (n, 4) xyxy float32 and scores (n,) of an RGB
    uint8 photo, ``upsample`` times doubled (dlib) or at most doubled to fit (YuNet)."""

    kind: str

    def detect(self, image: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray]: ...

# Photos whose longer side is at most this are searched with one upsampling (faces down to
# ~40 px); larger photos at native scale (faces from ~80 px), which bounds the cost. The CNN is
# ~50x slower than HOG (benchmarks/face_speed.py), so its limit is lower.
UPSAMPLE_MAX_SIDE = {"hog": 1600, "mmod": 800}
# The most pixels a detector looks at in one call, after upsampling, when ocula chooses the
# upsampling: it upsamples only when the result fits, and searches photos larger than this on a
# copy shrunk to fit (boxes mapped back; landmarks and chips still use the full photo). dlib's
# CNN needs about 1 KB of memory and 10 us of CPU per pixel searched (a 1500x1500 photo
# upsampled once took 7 GB and 6 minutes), HOG about 10 bytes and 0.2 us. With these defaults
# every photo up to 1600 px (HOG) or 800x800 (CNN) is searched exactly as before the budget
# existed (the CNN's 2.56 MP is an 800x800 photo upsampled once, the most it ever searched for
# such a photo); photos up to 16 MP keep their native scale for HOG, up to 2.56 MP for the CNN.
# The CNN's budget is a parameter (``FaceAnalyzer(cnn_max_pixels=...)``,
# ``Engine.limit_cnn_pixels``): ``ocula serve`` uses a much tighter one (its
# ``cnn_max_pixels`` setting), so that one request cannot take gigabytes and minutes.
DETECT_MAX_PIXELS = {"hog": 16_000_000, "mmod": 2_560_000}
# Boxes of one face differ in size between scales (HOG's window pyramid): in two_people.jpg one
# face's box is 25% wider upsampled than at native scale. When verification's native-scale search
# finds two faces whose areas are within this factor, which one is the largest is decided by the
# full search (``faces detect``'s), so "the largest face" means the same everywhere. A clearly
# larger native face is kept without the extra search (its cost, and the measured figures of
# verification, stay as they were: celeba-80 has no photo within this factor).
NEAR_TIE = 1.25
# A face YuNet found on a reduced photo is searched again in a full-resolution crop of its box
# grown by this fraction of its longer side on each side (room for the face's box to differ),
# and the face found there replaces it when their boxes overlap by at least REFINE_MIN_IOU.
REFINE_MARGIN = 0.5
REFINE_MIN_IOU = 0.3
# YuNet's face 0 (the face verify compares, enrolment takes, identify and detect list first):
# the largest of the faces whose detector score is within this margin of the photo's best.
# The largest box alone picks a poster, a crowd face half out of focus or a false face on a
# shoulder where the photo's subject is smaller (5 of celeba-80's 47 photos with several faces);
# the most confident alone picks a small face over a big one where both are certain. Chosen on
# half of celeba-80's identities (benchmarks/yunet_face0.py, TAR at FAR 1e-4 then 1e-3): each
# half, tuned alone, is best for every margin from 0.01 to 0.08; 0.05 is that band's middle.
# On the other half (first -> second): TAR 0.9146 / 0.9463 at FAR 1e-4 / 1e-3, against 0.9122
# / 0.9434 for the largest box. dlib's detectors keep the largest box (their scores are not
# probabilities, and their calibration was measured that way).
FACE0_SCORE_MARGIN = 0.05
# Cropped inputs (a face already cut out tightly) get this much edge-replicated border on each
# side, as a fraction of the crop, so the aligned chip's context is not black.
CROPPED_BORDER = 0.25
# A crop smaller than this cannot hold a face the descriptor can tell apart (its chip is 150 px).
MIN_CROPPED_SIDE = 32


@dataclass(frozen=True)
class FaceOptions:
    """How to find faces in a photo.

    Attributes:
        detector: ``hog`` (fast), ``cnn`` (more recall, much slower), ``hog+cnn`` (the CNN
            only where HOG finds no face), or ``yunet`` (faces v2: fast, finds turned heads;
            the photo is fitted into 640x640, at most that cost, so no CNN and no pixel budget).
            None (the default): the descriptor's (``DETECT_DETECTORS``: yunet for sface+dlib and
            sface, hog for dlib); hog for a cropped input (no detection runs).
        descriptor: ``sface+dlib`` (the default: SFace and dlib's descriptor of the same face,
            fused into one 256-D vector), ``sface`` (faces v2) or ``dlib``. Descriptors of
            different models cannot be compared with each other.
        upsample: times the detector doubles the photo (finds smaller faces, 4x cost each;
            YuNet: the photo smaller than 640 px is enlarged at most this many times 2x, same
            cost); None chooses per photo (YuNet: never enlarged): once for photos up to 1600 px
            (HOG) or 800 px (CNN) when the upsampled photo stays within the detector's pixel budget
            (``DETECT_MAX_PIXELS``, the analyzer's ``cnn_max_pixels``), else not at all; photos over that budget are
            searched on a shrunk copy. An explicit value is used as given.
        largest_only: only the largest face is wanted (verification): the photo is searched at
            native scale first and upsampled only when nothing is found there.
        cropped: the input is already a face crop (e.g. LFW's tight crops); detection is
            skipped and the whole image is the face box.
        landmarks68: also compute the 68-point landmarks.
        embed: compute descriptors (False: detection, landmarks and quality only).
        turned: YuNet only, off by default: when the upright photo has no face, search it
            turned a quarter either way and upside down (``yunet.TURNS``; up to 3 more
            searches, only on photos with no upright face). It finds steeply tilted or lying
            heads (celeba-80's one YuNet miss) but also false faces: on the 277 ImageNet
            sample photos with no upright face, 28 got one (dogs, a dumbbell, a pizza), so it
            is for photos known to hold a face (enrolment from an ID photo set, a dataset).
        face_expected: the caller asserts the photo shows a face (enrolment, verification,
            identify's probe, the evaluations). YuNet then searches a photo with no upright face
            turned a quarter either way, and keeps a turned face only when it is confident and
            its landmarks sit in a face's order (``yunet.EXPECTED_TURNED_FACE``: 0.57 false
            faces per 100 held-out face-free photos in benchmarks/turned_search.py, where
            ``turned`` gives 7.5). ``turned`` searches more widely and wins when both are set.
        square: YuNet only: the photo, fitted into 640x640, is padded to that whole square (the
            default: every face figure and calibration of ocula was measured so), or with False
            only to the next multiple of 32 plus a margin (``pipelines.yunet.EDGE_MARGIN``): a
            16:9 video frame then has 70% of its pixels, and the same faces on the clips measured;
            faces by the bottom or right edge of a small photo can move a few pixels. The video
            pipeline's choice.
    """

    detector: Detector | None = None
    descriptor: Descriptor = DEFAULT_DESCRIPTOR
    upsample: int | None = None
    largest_only: bool = False
    cropped: bool = False
    landmarks68: bool = False
    embed: bool = True
    turned: bool = False
    face_expected: bool = False
    square: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "descriptor", as_descriptor(self.descriptor))
        detector = self.detector
        if detector is None:
            detector = Detector.HOG if self.cropped else DETECT_DETECTORS[self.descriptor]
        object.__setattr__(self, "detector", as_detector(detector))
        if self.cropped and self.detector is Detector.YUNET:
            # A crop skips detection, and YuNet's landmarks come with its detections.
            raise InputError("cropped inputs skip detection and take dlib's landmarks: use detector hog, not yunet")
        if self.upsample is not None and (not isinstance(self.upsample, int) or not 0 <= self.upsample <= 3):
            raise InputError("upsample must be an integer from 0 to 3")


@dataclass(frozen=True)
class Found:
    """What :meth:`FaceAnalyzer.find` found in a photo, largest first: ``boxes`` (n, 4) xyxy
    float32, ``scores`` (n,) and, from YuNet, its five ``landmarks`` (n, 5, 2) (None from
    dlib's detectors, whose landmarks come later from dlib's shape predictor)."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None

    def __len__(self) -> int:
        return len(self.boxes)

    def scaled(self, factor: float, size: tuple[int, int]) -> Found:
        """These faces in a photo ``factor`` times larger, of ``size`` (width, height): found
        on a reduced copy, described on the full-resolution photo."""
        w, h = size
        boxes = np.clip(self.boxes * factor, 0, [w, h, w, h]).astype(np.float32)
        points = None if self.landmarks is None else (self.landmarks * factor).astype(np.float32)
        return Found(boxes, self.scores, points)


def detection_side(detector: Detector | str) -> int | None:
    """:attr:`FaceAnalyzer.detection_side` of an analyzer with ``detector``, from the registry,
    without loading a model: YuNet's input side, None for dlib's detectors."""
    if as_detector(detector) is not Detector.YUNET:
        return None
    (model,) = DETECTOR_MODELS[Detector.YUNET]
    pre = get_model(model).preprocess
    return None if pre is None else pre.input_size


def _yunet_search(detector: YuNetDetector, image: np.ndarray, options: FaceOptions) -> DetectedFaces:
    """YuNet's faces in ``image``: upright, or also turned as ``options`` ask."""
    upsample, square = options.upsample or 0, options.square
    if options.turned:
        return detector.detect_faces_turned(image, upsample, ANY_TURNED_FACE, square=square)
    if options.face_expected:
        return detector.detect_faces_turned(image, upsample, EXPECTED_TURNED_FACE, square=square)
    return detector.detect_faces(image, upsample, square=square)


class FaceAnalyzer:
    """Loaded face models plus the steps that use them."""

    def __init__(
        self,
        detectors: tuple[FaceDetectorModel | YuNetDetector, ...],
        landmarks5: ShapePredictorModel | LazyShapePredictor | None,
        embedder: Runner | None,
        alignment: FaceAlignment,
        *,
        landmarks68: ShapePredictorModel | None = None,
        flip: bool = True,
        cnn_max_pixels: int | None = None,
        sface: SFaceDescriptor | None = None,
        fusion: Fusion | None = None,
    ):
        """``cnn_max_pixels``: the CNN's pixel budget (``DETECT_MAX_PIXELS``'s by default).
        ``sface``: describe faces with SFace instead of ``embedder`` (dlib's); with dlib's
        detectors its five points come from ``landmarks68``. ``landmarks5`` may be None only
        when YuNet detects and SFace describes. ``fusion`` (the registry's, of SFace and dlib's
        ResNet): describe each face with both ``sface`` and ``embedder`` and fuse them."""
        if cnn_max_pixels is not None and cnn_max_pixels < 1:
            raise InputError("cnn_max_pixels must be at least 1")
        if fusion is not None and (sface is None or embedder is None or landmarks5 is None):
            raise ValueError("a fused descriptor needs SFace, dlib's embedder and dlib's 5-point model")
        if fusion is not None and fusion.parts != (DESCRIPTOR_MODELS[Descriptor.SFACE], EMBEDDER_MODEL):
            raise ValueError(f"this analyzer fuses SFace and dlib's ResNet, not {fusion.parts}")
        self.max_pixels = {**DETECT_MAX_PIXELS, **({"mmod": cnn_max_pixels} if cnn_max_pixels else {})}
        self.detectors = detectors
        self.landmarks5 = landmarks5
        self.landmarks68 = landmarks68
        self.embedder = embedder
        self.alignment = alignment
        self.flip = flip
        self.sface = sface
        self.fusion = fusion

    @property
    def descriptor(self) -> Descriptor:
        """The descriptor this analyzer computes."""
        if self.fusion is not None:
            return Descriptor.FUSED
        return Descriptor.SFACE if self.sface is not None else Descriptor.DLIB

    @property
    def descriptor_model(self) -> str:
        """The registry name of the model whose descriptors this analyzer computes."""
        return DESCRIPTOR_MODELS[self.descriptor]

    # -- steps ----------------------------------------------------------------------------
    def detect(
        self, image: np.ndarray, options: FaceOptions, *, name: str = "the photo"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (n, 4) and scores (n,), largest first. ``name``: the photo, in log messages."""
        found = self.find(image, options, name=name)
        return found.boxes, found.scores

    @property
    def detection_side(self) -> int | None:
        """The longer side a photo needs to be decoded at for this analyzer's detector to see
        all it can: YuNet's fixed input (it fits the photo into that square anyway), None for
        dlib's detectors (their search scale depends on the photo's own size)."""
        if len(self.detectors) == 1 and isinstance(self.detectors[0], YuNetDetector):
            return self.detectors[0].preprocess.input_size
        return None

    def find(self, image: np.ndarray, options: FaceOptions, *, name: str = "the photo") -> Found:
        """The faces' boxes, scores and, from YuNet, its five landmarks, largest first."""
        h, w = image.shape[:2]
        if options.cropped:
            if min(h, w) < MIN_CROPPED_SIDE:
                raise InputError(f"a {w}x{h} crop is too small to be a face (at least {MIN_CROPPED_SIDE} px a side)")
            return Found(np.array([[0, 0, w, h]], np.float32), np.array([np.nan], np.float32), None)
        if not self.detectors:
            raise RuntimeError("this FaceAnalyzer has no detector")
        for n, detector in enumerate(self.detectors):  # the next detector runs only if this one found nothing
            if n:  # the fallback can take 10-30 s: say so (the CLI shows this on stderr)
                log.info(
                    "no face found by %s in %s; trying the slower %s detector...",
                    _SHOWN.get(self.detectors[n - 1].kind, self.detectors[n - 1].kind),
                    name,
                    _SHOWN.get(detector.kind, detector.kind),
                )
            points = None
            if isinstance(detector, YuNetDetector):
                # At most a 640x640 search whatever the photo's size: no upsampling policy or
                # pixel budget; enlarged only when ``upsample`` asks.
                found = _yunet_search(detector, image, options)
                boxes, scores, points = found.boxes, found.scores, found.landmarks
            else:
                boxes, scores = self._detect_with(detector, image, options)
            if len(boxes):
                break
        boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        keep = area > 0
        boxes, scores = boxes[keep], scores[keep]
        order = face_order(area[keep], scores, score_aware=points is not None)
        if options.largest_only:
            order = order[:1]
        return Found(boxes[order], scores[order], None if points is None else points[keep][order])

    def refine(self, image: np.ndarray, found: Found) -> Found:
        """``found`` (by YuNet on a reduced copy, scaled back to ``image``'s pixels) with each
        face's box, landmarks and score from YuNet run again on a full-resolution crop around
        it: landmarks found on a face a few pixels wide would misalign its chip (an 8000 px photo
        is searched at 1/12 scale). A face not found again in its crop keeps what was found."""
        if found.landmarks is None or len(found) == 0:
            return found
        detector = self.detectors[0]
        assert isinstance(detector, YuNetDetector)
        h, w = image.shape[:2]
        boxes, points, scores = found.boxes.copy(), found.landmarks.copy(), found.scores.copy()
        for n, box in enumerate(found.boxes):
            margin = REFINE_MARGIN * max(box[2] - box[0], box[3] - box[1])
            x0, y0 = int(max(0, box[0] - margin)), int(max(0, box[1] - margin))
            x1, y1 = int(min(w, box[2] + margin + 1)), int(min(h, box[3] + margin + 1))
            again = detector.detect_faces(np.ascontiguousarray(image[y0:y1, x0:x1]), 0)
            if len(again) == 0:
                continue
            offset = np.array([x0, y0], np.float32)
            overlap = _iou(again.boxes + np.tile(offset, 2), box)
            best = int(np.argmax(overlap))
            if overlap[best] < REFINE_MIN_IOU:
                continue
            boxes[n] = np.clip(again.boxes[best] + np.tile(offset, 2), 0, [w, h, w, h])
            points[n] = again.landmarks[best] + offset
            scores[n] = again.scores[best]
        return Found(boxes, scores, points)

    def _detect_with(
        self, detector: FaceDetectorModel, image: np.ndarray, options: FaceOptions
    ) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        max_side = UPSAMPLE_MAX_SIDE[detector.kind]
        budget = self.max_pixels[detector.kind]
        if options.upsample is not None:
            return detector.detect(image, options.upsample)
        can_upsample = w * h * 4 <= budget
        if options.largest_only:
            # A face big enough to be the largest is found at native scale; upsampling (4x the
            # cost) only runs when nothing is found there.
            boxes, scores = _detect_within_budget(detector, image, budget)
            if len(boxes) == 0 and max(h, w) <= 2 * max_side and can_upsample:
                boxes, scores = detector.detect(image, 1)
            elif _near_tie(boxes):
                boxes, scores = self._largest_as_full_search(detector, image, boxes, scores)
            return boxes, scores
        if max(h, w) <= max_side and can_upsample:
            return detector.detect(image, 1)
        return _detect_within_budget(detector, image, budget)

    def _largest_as_full_search(
        self, detector: FaceDetectorModel, image: np.ndarray, boxes: np.ndarray, scores: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Of several faces found at native scale, the one that the full search (``faces
        detect``'s) lists first, alone: one definition of "the largest face" for every command.
        Box sizes differ between scales (the same face can be 25% larger upsampled), so the
        largest native box is not always detect's face 0. The native box is kept (verification
        and its calibration were measured on native boxes); if no native box overlaps the full
        search's largest, the full search's box is used."""
        h, w = image.shape[:2]
        full_boxes, full_scores = self._detect_with(detector, image, FaceOptions())
        if len(full_boxes) == 0:
            return boxes, scores
        # Ranked as detect() ranks: by the area of the box clipped to the photo, first of equals.
        largest = int(np.argmax(_areas(np.clip(full_boxes, 0, [w, h, w, h]))))
        overlap = _iou(boxes, full_boxes[largest])
        if overlap.max() <= 0:
            return full_boxes[largest : largest + 1], full_scores[largest : largest + 1]
        best = int(np.argmax(overlap))
        return boxes[best : best + 1], scores[best : best + 1]

    def analyze(self, image: np.ndarray, options: FaceOptions = FaceOptions(), *, name: str = "the photo") -> Faces:
        """Find the faces in ``image`` and measure and describe them."""
        return self.describe(image, self.find(image, options, name=name), options)

    def describe(self, image: np.ndarray, found: Found, options: FaceOptions = FaceOptions()) -> Faces:
        """Landmarks, quality and descriptors of the faces ``found`` in ``image`` (by
        :meth:`find`, on this photo or a reduced copy of it, scaled back to its pixels)."""
        h, w = image.shape[:2]
        boxes, scores, points = found.boxes, found.scores, found.landmarks
        layout = "dlib5" if points is None else "yunet5"
        dim = self.embedding_dim if options.embed else None
        if len(boxes) == 0:
            return Faces.empty((w, h), embedding_dim=dim, landmark_layout=layout, descriptor=self.descriptor_model)
        work, offset = image, np.zeros(2, np.float32)
        if options.cropped:
            work, offset = _with_border(image, CROPPED_BORDER)
        at = boxes + np.tile(offset, 2)  # the boxes in ``work``
        shapes = None  # dlib's 5-point shapes: its chips are cut from them
        # The fusion needs them only to describe (2.7 ms a face: the video finds faces on every
        # analysed frame and describes them only where a track needs it).
        if points is None or self.sface is None or (self.fusion is not None and options.embed):
            dlib_points, shapes = self._landmarks5().predict(work, at)
            landmarks = points if points is not None else dlib_points - offset
        else:
            landmarks = points
        lm68 = None
        if options.landmarks68 or (self.sface is not None and points is None):
            if self.landmarks68 is None:
                raise RuntimeError("this FaceAnalyzer was built without the 68-point model")
            lm68 = self.landmarks68.predict(work, at)[0] - offset
        five = None if self.sface is None else (points if points is not None else _five_from_68(lm68)) + offset
        sharpness = np.empty(len(boxes), np.float32)
        embeddings = np.empty((len(boxes), self.embedding_dim), np.float32) if options.embed else None
        # A batch of faces at a time: a crowd photo's chips, their mirror images and the networks'
        # activations for all of its faces at once took 3.1 GB for 882 faces.
        for start in range(0, len(boxes), DESCRIBE_BATCH):
            part = slice(start, start + DESCRIBE_BATCH)
            if five is not None and self.sface is not None:
                chips = self.sface.chips(work, five[part])
                sharpness[part] = chip_sharpness(self.sface.chips(work, five[part], SHARPNESS_CHIP))
            else:
                chips = face_chips(work, shapes[part], size=self.alignment.chip_size, padding=self.alignment.padding)
                sharpness[part] = chip_sharpness(chips)
            if embeddings is not None and self.fusion is not None and self.sface is not None:
                dlib_chips = face_chips(
                    work, shapes[part], size=self.alignment.chip_size, padding=self.alignment.padding
                )
                embeddings[part] = self.fuse(self.sface.embed(chips), self.dlib_embed(dlib_chips))
            elif embeddings is not None:
                embeddings[part] = self.embed(chips)
        return Faces(
            boxes=boxes,
            scores=scores,
            landmarks=landmarks.astype(np.float32),
            size=eye_distance(landmarks, layout),
            sharpness=sharpness,
            frontal=frontal_score(landmarks, layout),
            embeddings=embeddings,
            landmarks68=None if lm68 is None or not options.landmarks68 else lm68.astype(np.float32),
            image_size=(w, h),
            landmark_layout=layout,
            descriptor=self.descriptor_model if options.embed else None,
        )

    def _landmarks5(self) -> ShapePredictorModel | LazyShapePredictor:
        if self.landmarks5 is None:
            raise RuntimeError("this FaceAnalyzer was built without dlib's 5-point model")
        return self.landmarks5

    def chips(self, image: np.ndarray, faces: Faces, *, cropped: bool = False) -> np.ndarray:
        """Aligned chips (n, size, size, 3) uint8 of ``faces`` in ``image``, as this analyzer's
        descriptor sees them (SFace: from YuNet's landmarks; the fusion: SFace's chips, its
        first part's)."""
        if self.sface is not None:
            if faces.landmark_layout != "yunet5":
                raise InputError("SFace chips are cut from YuNet's landmarks: find the faces with detector yunet")
            return self.sface.chips(image, faces.landmarks)
        return self.dlib_chips(image, faces.boxes, cropped=cropped)

    def dlib_chips(self, image: np.ndarray, boxes: np.ndarray, *, cropped: bool = False) -> np.ndarray:
        """dlib's 150 px chips of the faces in ``boxes``, from its 5-point model on them."""
        work, offset = _with_border(image, CROPPED_BORDER) if cropped else (image, np.zeros(2, np.float32))
        _, shapes = self._landmarks5().predict(work, boxes + np.tile(offset, 2))
        return face_chips(work, shapes, size=self.alignment.chip_size, padding=self.alignment.padding)

    def descriptors(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        """Descriptors (n, dim) of ``faces`` found in ``image`` (with YuNet for SFace and the
        fusion), as :meth:`describe` computes them."""
        if self.fusion is not None:
            assert self.sface is not None
            sface = self.sface.embed(self.chips(image, faces))
            return self.fuse(sface, self.dlib_embed(self.dlib_chips(image, faces.boxes)))
        return self.embed(self.chips(image, faces))

    def fuse(self, sface: np.ndarray, dlib: np.ndarray) -> np.ndarray:
        """The fused descriptors (n, 256) of faces' SFace (n, 128) and dlib (n, 128) descriptors."""
        assert self.fusion is not None
        return fuse_descriptors((sface, dlib), self.fusion.weights)

    @property
    def embedding_dim(self) -> int:
        return int(get_model(self.descriptor_model).architecture["dim"])

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors of aligned chips; with ``flip`` the mean of the chip's and its mirror
        image's descriptors (test-time augmentation). dlib's are not L2-normalised (see
        :func:`similarity`); SFace's are. A fused descriptor needs two chips of each face: use
        :meth:`descriptors`."""
        if self.fusion is not None:
            raise RuntimeError("a fused descriptor describes two chips of each face: use descriptors()")
        if self.sface is not None:
            return self.sface.embed(chips)
        return self.dlib_embed(chips)

    def dlib_embed(self, chips: np.ndarray, *, flip: bool | None = None) -> np.ndarray:
        """dlib's descriptors of its chips, as the network gives them; with ``flip`` (default:
        this analyzer's) the mean of the chip's and its mirror image's."""
        flip = self.flip if flip is None else flip
        if self.embedder is None:
            raise RuntimeError("this FaceAnalyzer has no embedder")
        if len(chips) == 0:
            return np.zeros((0, int(get_model(EMBEDDER_MODEL).architecture["dim"])), np.float32)
        x = chips.astype(np.float32)
        if flip:
            x = np.concatenate([x, x[:, :, ::-1]])
        raw = self.embedder.run({"chips": x})["descriptor"]
        if flip:
            raw = (raw[: len(chips)] + raw[len(chips) :]) / 2
        return raw.astype(np.float32)

    def dlib_mirrored(self, single: np.ndarray, chips: np.ndarray) -> np.ndarray:
        """The descriptors ``dlib_embed(chips, flip=True)`` gives, from the chips' single-pass
        descriptors ``single`` (``dlib_embed(chips, flip=False)``): only the mirror pass runs."""
        mirror = self.dlib_embed(chips[:, :, ::-1], flip=False)  # the mirror image dlib_embed makes
        return ((single + mirror) / 2).astype(np.float32)


def fuse_descriptors(parts: tuple[np.ndarray, ...], weights: tuple[float, ...]) -> np.ndarray:
    """Descriptors of the same faces by several models, fused: each part (n, d_i) made
    unit-length and scaled by the square root of its weight, then concatenated. With weights
    summing to 1 the result is unit-length and the dot product of two fused descriptors is the
    weighted sum of the parts' cosines."""
    scaled = [
        np.sqrt(w) * p / np.linalg.norm(p, axis=1, keepdims=True).clip(min=1e-12)
        for p, w in zip(parts, weights, strict=True)
    ]
    return np.concatenate(scaled, axis=1).astype(np.float32)


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Similarity of descriptors (rows of ``a`` with the matching rows of ``b``, broadcasting):
    ``1 - |a - b|^2 / 2``, which is the cosine similarity for unit-length vectors.

    Why not the cosine: dlib's network was trained with a Euclidean metric loss, and the length
    of its descriptors carries information. On celeba-80 (558,096 pairs, flip TTA) TAR at
    FAR 1e-3 is 0.8905 by Euclidean distance and 0.8601 by cosine of normalised descriptors
    (``benchmarks/face_choices.py``).
    """
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return 1.0 - 0.5 * np.einsum("...i,...i->...", d, d)


def face_at(faces: Faces, index: int | None, name: str) -> int:
    """The position among ``faces`` (of the photo ``name``) of face ``index`` (None: face 0;
    negative: from the end, as in Python): :class:`~ocula.errors.NoFaceFound` when the photo
    has none, :class:`~ocula.errors.InputError` when the index is out of range."""
    if len(faces) == 0:
        raise NoFaceFound(name)
    i = 0 if index is None else index
    if not -len(faces) <= i < len(faces):
        raise InputError(f"{name}: face {i} asked for, but {len(faces)} found")
    return i % len(faces)


def contenders(scores: np.ndarray, *, score_aware: bool) -> np.ndarray:
    """Which faces could be face 0 (bool per face): every face, or with ``score_aware``
    (YuNet, whose scores are probabilities) those scoring within ``FACE0_SCORE_MARGIN`` of the
    best. Enrolment asks for a face index only when several usable contenders remain."""
    scores = np.asarray(scores, np.float64)
    if not score_aware or len(scores) == 0:
        return np.ones(len(scores), bool)
    return scores >= scores.max() - FACE0_SCORE_MARGIN


def face_order(areas: np.ndarray, scores: np.ndarray, *, score_aware: bool) -> np.ndarray:
    """The order faces are listed in: face 0 first, then the others largest first (ties in
    the detector's order). Face 0 is the largest of the :func:`contenders`: the largest face,
    or (``score_aware``) the largest of those scoring within ``FACE0_SCORE_MARGIN`` of the best."""
    order = np.argsort(-areas, kind="stable")
    if len(order) < 2:
        return order
    first = order[int(np.argmax(contenders(scores, score_aware=score_aware)[order]))]
    return np.r_[first, order[order != first]]


def _five_from_68(lm68: np.ndarray) -> np.ndarray:
    """SFace's five points (n, 5, 2) in YuNet's layout from dlib's 68 (n, 68, 2)."""
    return np.stack(
        [
            lm68[:, _LEFT_EYE_68].mean(axis=1),
            lm68[:, _RIGHT_EYE_68].mean(axis=1),
            lm68[:, _NOSE_TIP_68],
            lm68[:, _MOUTH_68[0]],
            lm68[:, _MOUTH_68[1]],
        ],
        axis=1,
    )


def _detect_within_budget(detector: FaceDetectorModel, image: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """``detector`` at native scale, or on a copy shrunk to ``budget`` pixels (boxes mapped back
    to ``image``): the detector's memory and time stay bounded whatever the photo's size."""
    h, w = image.shape[:2]
    if w * h <= budget:
        return detector.detect(image, 0)
    scale = math.sqrt(budget / (w * h))
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    import cv2  # here, not at import: `import ocula` stays light

    shrunk = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    boxes, scores = detector.detect(shrunk, 0)
    back = np.array([w / size[0], h / size[1]] * 2, np.float32)
    return boxes * back, scores


def _near_tie(boxes: np.ndarray) -> bool:
    """Whether the two largest of these boxes are too close in area to tell which face is the
    larger at this one scale (within ``NEAR_TIE``), so the full search must decide."""
    if len(boxes) < 2:
        return False
    second, first = np.sort(_areas(boxes))[-2:]
    return bool(second * NEAR_TIE >= first)


def _areas(boxes: np.ndarray) -> np.ndarray:
    return np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)


def _iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Intersection over union of each of ``boxes`` with ``box``."""
    x0, y0 = np.maximum(boxes[:, 0], box[0]), np.maximum(boxes[:, 1], box[1])
    x1, y1 = np.minimum(boxes[:, 2], box[2]), np.minimum(boxes[:, 3], box[3])
    inter = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    return inter / (_areas(boxes) + _areas(box[None])[0] - inter)


def _with_border(image: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    py, px = round(h * fraction), round(w * fraction)
    padded = np.pad(image, ((py, py), (px, px), (0, 0)), mode="edge")
    return padded, np.array([px, py], np.float32)
