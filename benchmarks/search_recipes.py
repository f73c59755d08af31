"""Research: which search-embedding recipe finds harder edits and photographed-in-a-scene copies?

ocula's search vector was (recipe ``gap-l2-v1``) EfficientNet-Lite0's global-average-pooled last
feature map (1280 x 7 x 7 at 224 px, after a 256-px resize and centre crop), L2-normalised; this
script is why it is now ``gem3-288-l2-v2`` (``cc288/gem3`` below) and why a query also searches
with 3x3 half-size windows. The old recipe already finds every one of ``ocula eval retrieval``'s
seven built-in edits (recall@1 = 1.0 on ImageNet sample-334), so this script measures on harder
queries:

1. Pooling, input view and whitening. 100 photos of the catalog (every third, like ``ocula eval
   retrieval``) get seven deterministic hard edits: an off-centre crop keeping 35-50 % of the
   area; a 25-40 degree rotation; a strong perspective warp + downscale + hue shift; an
   off-centre crop + mirror + colour + blur; crop + 15-25 degrees + colour + JPEG q30; a 35-50 %
   crop rotated 25-40 degrees; perspective of a 45-60 % crop + colour + JPEG q50. The catalog is
   all 334 originals. Compared on one network pass per view (the pre-pool map, graph output
   ``head``): GAP, GeM (p = 2, 3, 4), MAC, R-MAC (3 scales of regions on the map); centre crop at
   224 / 256 / 288 vs the whole image squashed to 224 or 288, letterboxed to 224 or resized
   keeping its aspect ratio; two-view averages; PCA-whitening learned on the catalog plus two
   generic augmented views per photo, its dimension and eigenvalue shrinkage chosen on a separate
   ``val`` set (the same edits, another seed, of 100 other photos), and the same whitening learned
   only on the other half of the catalog (2 folds: no query's original was seen). A re-test runs
   the hard edits of all 334 photos with a new seed (2,338 queries, paired sign test).
2. "Photograph it, find it". The same 100 photos pasted at 30-55 % of the width, off-centre, into
   a 640 x 480 scene (another catalog photo, a blurred one, or a 4 x 3 mosaic of others), JPEG
   q75. Policies (a catalog item scores the maximum of its similarities to the parts used): the
   whole query; an automatic subject crop from the network's own map (channel sum of the whole
   image's map squashed to 224, upsampled 4x, thresholded at its mean, bounding box of the
   connected component with the most activation, 10 % margin, re-embedded); that crop only when
   its box is under half the image; max of whole and crop; whole + a 2x2 grid of 60 % windows;
   whole + a 3x3 grid of 50 % windows; the true pasted box (oracle, upper bound). Every policy
   is also run on the plain queries (built-in and hard edits) to show what it costs there.

Reported: recall@1, recall@10 and mAP (one right answer per query, so AP = 1/rank); indexing
ms/image (preprocess + network + pooling, batches of 16, image decoded) and, for question 2, ms
per query alone. Timings are best-of-3 but vary with other load on the machine. The near-duplicate
set (UKBench, groups of 2 and 6) is a sanity column. Everything is seeded: two runs print the same
numbers except the timings. About 8-10 minutes on 2 cores.

    python benchmarks/search_recipes.py
    python benchmarks/search_recipes.py --catalog ../shared/data/imagenet/sample-334/images --n-queries 100
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from PIL import Image, ImageEnhance, ImageFilter

from ocula import Engine
from ocula.errors import OculaError
from ocula.eval.retrieval import SCENES, TRANSFORMS, paste_into_scene, transform
from ocula.io import iter_image_paths, load_image
from ocula.models.loading import onnx_graph
from ocula.models.registry import Resample, get_model
from ocula.pipelines.preprocess import resize_center_crop, to_tensor
from ocula.pipelines.search_embed import SEARCH_MODEL

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BATCH = 16
SEED = 20240611
HARD_EDITS = ("crop", "rotate", "perspective", "crop-flip-colour", "combo", "crop-rotate", "persp-crop")
BACKGROUNDS = SCENES  # what a composite's item is pasted into
POOLS = ("gap", "gem2", "gem3", "gem4", "mac", "rmac")
GREY = (128, 128, 128)  # 0 after the (x - 0.5) / 0.5 normalisation: "nothing there" for the network


def l2n(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


# -- the network, with its pre-pool map exposed ------------------------------------------------
class FeatureNet:
    """EfficientNet-Lite0 as ocula converts it, with the input of node ``pool`` as an extra output."""

    def __init__(self, engine: Engine):
        from ocula.models.backends.onnx import onnxruntime_module

        ort = onnxruntime_module()  # its telemetry off, as ocula imports it
        self.spec = get_model(SEARCH_MODEL)
        self.pre = self.spec.preprocess
        model = onnx.load(str(onnx_graph(self.spec, engine.settings)))
        pool = next(n for n in model.graph.node if n.name == "pool")
        self.map_name = pool.input[0]
        if self.map_name not in {o.name for o in model.graph.output}:  # converter v2 already outputs it ("head")
            model.graph.output.append(onnx.helper.make_tensor_value_info(self.map_name, onnx.TensorProto.FLOAT, None))
        options = ort.SessionOptions()  # as ocula's OnnxRunner sets them
        options.intra_op_num_threads = engine.settings.effective_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def maps(self, crops: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, 1280, H/32, W/32) ReLU6 activations of ``_conv_head``."""
        return self.session.run([self.map_name], {"input": to_tensor(crops, self.pre)})[0]


# -- input views ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class View:
    name: str
    prepare: Callable[[np.ndarray], np.ndarray]
    batched: bool = True
    note: str = ""


def centre_crop(size: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda im: resize_center_crop(im, size, 0.875, Resample.BICUBIC)


def squash(size: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda im: np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BICUBIC))


def letterbox(size: int) -> Callable[[np.ndarray], np.ndarray]:
    def prepare(im: np.ndarray) -> np.ndarray:
        h, w = im.shape[:2]
        s = size / max(h, w)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        canvas = Image.new("RGB", (size, size), GREY)
        canvas.paste(
            Image.fromarray(im).resize((nw, nh), Image.Resampling.BICUBIC), ((size - nw) // 2, (size - nh) // 2)
        )
        return np.asarray(canvas)

    return prepare


def keep_aspect(short: int, max_ratio: float = 2.0) -> Callable[[np.ndarray], np.ndarray]:
    def prepare(im: np.ndarray) -> np.ndarray:
        h, w = im.shape[:2]
        s = short / min(h, w)
        nw, nh = min(round(w * s), int(short * max_ratio)), min(round(h * s), int(short * max_ratio))
        nw, nh = max(32, nw // 32 * 32), max(32, nh // 32 * 32)  # whole 32-px cells, no padding
        return np.asarray(Image.fromarray(im).resize((nw, nh), Image.Resampling.BICUBIC))

    return prepare


VIEWS = {
    v.name: v
    for v in (
        View("cc224", centre_crop(224), note="gap-l2-v1: short side 256, centre 224"),
        View("cc256", centre_crop(256), note="short side 292, centre 256"),
        View("cc288", centre_crop(288), note="short side 329, centre 288"),
        View("full224", squash(224), note="whole image squashed to 224x224"),
        View("full288", squash(288), note="whole image squashed to 288x288"),
        View("pad224", letterbox(224), note="whole image, long side 224, grey padding"),
        View("aspect224", keep_aspect(224), batched=False, note="short side 224, aspect kept, batch 1"),
    )
}
BOX_VIEW = "full224"  # the subject box is found on the whole image


# -- pooling -------------------------------------------------------------------------------------
def rmac_regions(h: int, w: int, levels: int = 3) -> list[tuple[int, int, int]]:
    """Square regions (top, left, side) of R-MAC (Tolias et al. 2016) on an h x w map."""
    side, long = min(h, w), max(h, w)
    steps = np.arange(2, 8)
    b = (long - side) / (steps - 1)
    extra = int(np.argmin(np.abs((side**2 - side * b) / side**2 - 0.4))) + 1 if long > side else 0
    wd, hd = (extra, 0) if w > h else (0, extra)
    regions = []
    for level in range(1, levels + 1):
        wl = int(2 * side / (level + 1))
        wl2 = int(wl / 2 - 1)
        bw = (w - wl) / (level + wd - 1) if level + wd > 1 else 0
        bh = (h - wl) / (level + hd - 1) if level + hd > 1 else 0
        xs = np.floor(wl2 + np.arange(level + wd) * bw) - wl2
        ys = np.floor(wl2 + np.arange(level + hd) * bh) - wl2
        regions += [(int(y), int(x), wl) for y in ys for x in xs]
    return regions


def pool(fmap: np.ndarray, how: str) -> np.ndarray:
    """(N, C, h, w) -> (N, C) L2-normalised descriptor."""
    if how == "gap":
        return l2n(fmap.mean(axis=(2, 3)))
    if how.startswith("gem"):
        p = float(how[3:])
        return l2n(np.power(np.power(np.maximum(fmap, 1e-6), p).mean(axis=(2, 3)), 1.0 / p))
    if how == "mac":
        return l2n(fmap.max(axis=(2, 3)))
    if how == "rmac":
        out = np.zeros(fmap.shape[:2], np.float32)
        for y, x, s in rmac_regions(*fmap.shape[2:]):
            out += l2n(fmap[:, :, y : y + s, x : x + s].max(axis=(2, 3)))
        return l2n(out)
    raise ValueError(how)


# -- automatic subject box -----------------------------------------------------------------------
def _components(mask: np.ndarray) -> list[np.ndarray]:
    """4-connected components of a small boolean grid, as lists of (y, x)."""
    seen = np.zeros_like(mask)
    comps = []
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        stack, cells = [(y0, x0)], []
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            cells.append((y, x))
            for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= yy < mask.shape[0] and 0 <= xx < mask.shape[1] and mask[yy, xx] and not seen[yy, xx]:
                    seen[yy, xx] = True
                    stack.append((yy, xx))
        comps.append(np.array(cells))
    return comps


def subject_box(activation: np.ndarray, upsample: int = 4, margin: float = 0.10) -> tuple[float, float, float, float]:
    """Subject box, as fractions (x0, y0, x1, y1) of the image, from a channel-summed map.

    ``activation`` is the (h, w) sum over channels of the last feature map of the whole image
    (squashed, so map and image share fractional coordinates). Upsampled bilinearly, thresholded
    at its mean; the 4-connected component holding the most activation wins; its bounding box
    grows by ``margin`` of its size on each side. SCDA-style (Wei et al. 2017), no training.
    """
    h, w = activation.shape
    up = np.asarray(
        Image.fromarray(activation.astype(np.float32), mode="F").resize(
            (w * upsample, h * upsample), Image.Resampling.BILINEAR
        )
    )
    comps = _components(up > up.mean())
    if not comps:
        return 0.0, 0.0, 1.0, 1.0
    best = max(comps, key=lambda c: up[c[:, 0], c[:, 1]].sum())
    y0, x0 = best.min(axis=0)
    y1, x1 = best.max(axis=0) + 1
    H, W = up.shape
    my, mx = margin * (y1 - y0), margin * (x1 - x0)
    return max(0.0, (x0 - mx) / W), max(0.0, (y0 - my) / H), min(1.0, (x1 + mx) / W), min(1.0, (y1 + my) / H)


def crop_fraction(image: np.ndarray, box: Sequence[float]) -> np.ndarray:
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    left, t = int(np.floor(x0 * w)), int(np.floor(y0 * h))
    r, b = max(left + 1, int(np.ceil(x1 * w))), max(t + 1, int(np.ceil(y1 * h)))
    return image[t:b, left:r]


def box_area(box: Sequence[float]) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


# -- query sets ----------------------------------------------------------------------------------
def _offcentre_crop(pil: Image.Image, rng: np.random.Generator, lo: float, hi: float) -> Image.Image:
    """A crop keeping lo..hi of the area, its centre pushed towards a random side or corner."""
    w, h = pil.size
    area, aspect = rng.uniform(lo, hi), np.exp(rng.uniform(np.log(0.75), np.log(1.33)))
    cw, ch = min(w, round(w * np.sqrt(area * aspect))), min(h, round(h * np.sqrt(area / aspect)))
    fx = rng.choice([rng.uniform(0.0, 0.2), rng.uniform(0.8, 1.0)])
    fy = rng.uniform(0.0, 1.0)
    if rng.random() < 0.5:
        fx, fy = fy, fx
    left, top = round((w - cw) * fx), round((h - ch) * fy)
    return pil.crop((left, top, left + cw, top + ch))


def _colour(pil: Image.Image, rng: np.random.Generator, hue: float) -> Image.Image:
    hsv = np.asarray(pil.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(int) + int(np.round(rng.choice([-1, 1]) * hue * 255))) % 256
    out = Image.fromarray(hsv, "HSV").convert("RGB")
    out = ImageEnhance.Color(out).enhance(rng.uniform(0.6, 1.4))
    out = ImageEnhance.Brightness(out).enhance(rng.uniform(0.7, 1.3))
    return ImageEnhance.Contrast(out).enhance(rng.uniform(0.7, 1.3))


def _jpeg(pil: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _perspective(pil: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """The photo seen at an angle: its corners moved inwards by up to ``strength`` of the size."""
    w, h = pil.size
    src = np.array([(0, 0), (w, 0), (w, h), (0, h)], float)
    jitter = rng.uniform(0, strength, (4, 2)) * (w, h)
    dst = np.abs(src - jitter * np.sign(src - (w / 2, h / 2)))
    a = []  # coefficients mapping output (dst) points to input (src) points
    for (x, y), (u, v) in zip(dst, src, strict=False):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coeffs = np.linalg.solve(np.array(a), src.reshape(8))
    return pil.transform(
        (w, h), Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BILINEAR, fillcolor=(235, 235, 230)
    )


def hard_edit(image: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    pil = Image.fromarray(image)
    sign = rng.choice([-1, 1])
    if name == "crop":
        out = _offcentre_crop(pil, rng, 0.35, 0.50)
    elif name == "rotate":
        out = pil.rotate(sign * rng.uniform(25, 40), Image.Resampling.BILINEAR, expand=True, fillcolor=(255, 255, 255))
    elif name == "perspective":
        out = _perspective(pil, rng, 0.25)
        s = rng.uniform(0.4, 0.6)
        out = _colour(
            out.resize((max(1, round(out.width * s)), max(1, round(out.height * s))), Image.Resampling.BILINEAR),
            rng,
            0.08,
        )
    elif name == "crop-flip-colour":
        out = _offcentre_crop(pil, rng, 0.45, 0.60).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out = _colour(out, rng, 0.05).filter(ImageFilter.GaussianBlur(1.5))
    elif name == "combo":
        out = _offcentre_crop(pil, rng, 0.50, 0.65)
        out = out.rotate(sign * rng.uniform(15, 25), Image.Resampling.BILINEAR, expand=True, fillcolor=(255, 255, 255))
        out = _jpeg(_colour(out, rng, 0.05), 30)
    elif name == "crop-rotate":
        out = _offcentre_crop(pil, rng, 0.35, 0.50)
        out = out.rotate(sign * rng.uniform(25, 40), Image.Resampling.BILINEAR, expand=True, fillcolor=(255, 255, 255))
    elif name == "persp-crop":
        out = _perspective(_offcentre_crop(pil, rng, 0.45, 0.60), rng, 0.20)
        out = _jpeg(_colour(out, rng, 0.05), 50)
    else:
        raise ValueError(name)
    return np.asarray(out.convert("RGB"))


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A generic augmented view of a catalog photo (for learning whitening; never a query)."""
    pil = _offcentre_crop(Image.fromarray(image), rng, 0.5, 1.0)
    if rng.random() < 0.5:
        pil = pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    pil = pil.rotate(rng.uniform(-15, 15), Image.Resampling.BILINEAR, expand=True, fillcolor=(255, 255, 255))
    return np.asarray(_colour(pil, rng, 0.03))


@dataclass
class QuerySet:
    images: list[np.ndarray]
    source: np.ndarray  # catalog index of the right answer
    tag: list[str]  # edit or background
    box: list[tuple[float, float, float, float] | None]  # oracle subject box (composites)
    background: np.ndarray  # catalog index of the background photo (composites on a photo), else -1


def _query_set(items: list[tuple]) -> QuerySet:
    images, source, tag, box, background = map(list, zip(*items, strict=False))
    return QuerySet(images, np.array(source), tag, box, np.array(background))


def build_sets(
    catalog: list[np.ndarray], n_queries: int, ukb: tuple[list[np.ndarray], list[str]]
) -> dict[str, QuerySet]:
    """Query sets (all deterministic) plus the catalog, its augmented views and the UKBench set.

    ``builtin``/``hard``/``composite`` are made from every third catalog photo; ``val`` (hard edits
    with another seed, of the photos right after those) is only used to choose whitening settings.
    """
    n = len(catalog)
    step = max(1, n // n_queries)
    sources = list(range(0, n, step))[:n_queries]
    val_sources = [min(s + 1, n - 1) for s in sources]
    sets = {"builtin": _query_set([(transform(catalog[s], t), s, t, None, -1) for s in sources for t in TRANSFORMS])}
    for name, seed, srcs in (("hard", 1, sources), ("val", 4, val_sources)):
        sets[name] = _query_set(
            [
                (hard_edit(catalog[s], t, np.random.default_rng([SEED, seed, s, k])), s, t, None, -1)
                for s in srcs
                for k, t in enumerate(HARD_EDITS)
            ]
        )
    items = []
    for s in sources:
        for k, bg in enumerate(BACKGROUNDS):
            rng = np.random.default_rng([SEED, 2, s, k])
            others = [int(o) for o in rng.permutation(np.delete(np.arange(n), s))[:12]]
            scene, box = paste_into_scene(catalog[s], [catalog[o] for o in others], bg, rng)
            items.append((scene, s, bg, box, others[0] if bg == "photo" else -1))
    sets["composite"] = _query_set(items)
    sets["aug"] = _query_set(
        [
            (augment(catalog[i], np.random.default_rng([SEED, 3, i, k])), i, "aug", None, -1)
            for i in range(n)
            for k in range(2)
        ]
    )
    sets["catalog"] = _query_set([(im, i, "original", None, -1) for i, im in enumerate(catalog)])
    if ukb[0]:
        sets["ukb"] = _query_set([(im, -1, g, None, -1) for im, g in zip(*ukb, strict=False)])
    return sets


# -- embedding -----------------------------------------------------------------------------------
@dataclass
class Embedded:
    vec: dict[str, np.ndarray]  # pooling -> (N, 1280)
    activation: list[np.ndarray]  # per image: (h, w) channel sum of the map


def embed(net: FeatureNet, images: Sequence[np.ndarray], view: View, pools: Sequence[str] = POOLS) -> Embedded:
    out: dict[str, list[np.ndarray]] = {p: [] for p in pools}
    activation: list[np.ndarray] = []
    size = BATCH if view.batched else 1
    for i in range(0, len(images), size):
        fmap = net.maps(np.stack([view.prepare(im) for im in images[i : i + size]]))
        for p in pools:
            out[p].append(pool(fmap, p))
        activation.extend(fmap.sum(axis=1))
    return Embedded(
        {p: np.concatenate(v) if v else np.zeros((0, 1280), np.float32) for p, v in out.items()}, activation
    )


def ms_per_image(net: FeatureNet, images: Sequence[np.ndarray], view: View, how: str, repeats: int = 3) -> float:
    """Indexing cost: preprocess + network + pooling, batches of 16 (1 if not batched); best of ``repeats``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        embed(net, images, view, (how,))
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(images)


# -- whitening -----------------------------------------------------------------------------------
Whitening = tuple[np.ndarray, np.ndarray]  # mean (D,), projection (D, dim)


def learn_pca_whitening(x: np.ndarray, dim: int, shrink: float = 0.0) -> Whitening:
    """Mean and projection (D, dim) that PCA-whiten L2-normalised descriptors ``x`` (N, D).

    ``shrink`` x the mean kept eigenvalue is added to every eigenvalue before the inverse square
    root: 0 is full whitening, larger values whiten less, so that directions the (small)
    training set barely spans are not blown up.
    """
    mean = x.mean(axis=0)
    xc = (x - mean).astype(np.float64)
    eigval, eigvec = np.linalg.eigh(xc.T @ xc / len(x))
    order = np.argsort(eigval)[::-1][:dim]
    eigval, eigvec = np.maximum(eigval[order], 0), eigvec[:, order]
    scale = 1.0 / np.sqrt(eigval + shrink * eigval.mean() + 1e-12)
    return mean.astype(np.float32), (eigvec * scale).astype(np.float32)


def apply_whitening(x: np.ndarray, whitening: Whitening | None) -> np.ndarray:
    if whitening is None:
        return x
    mean, proj = whitening
    return l2n((x - mean) @ proj)


# -- query policies ("photograph it, find it") ------------------------------------------------------
def grid_boxes(side: float, steps: int) -> list[tuple[float, float, float, float]]:
    """``steps`` x ``steps`` windows, each ``side`` of the image's width and height, evenly spread."""
    at = [(1 - side) * i / (steps - 1) for i in range(steps)] if steps > 1 else [(1 - side) / 2]
    return [(x, y, x + side, y + side) for y in at for x in at]


@dataclass(frozen=True)
class Recipe:
    """How one image becomes one vector: a view, a pooling, an optional whitening."""

    name: str
    view: str
    how: str
    whitening: Whitening | None = None

    def vectors(self, net: FeatureNet, images: Sequence[np.ndarray]) -> np.ndarray:
        return apply_whitening(embed(net, images, VIEWS[self.view], (self.how,)).vec[self.how], self.whitening)


GRIDS = {"grid4": (0.6, 2), "grid9": (0.5, 3)}  # name -> (window side, steps)


def query_vectors(net: FeatureNet, recipe: Recipe, image: np.ndarray, parts: Sequence[str]) -> dict[str, np.ndarray]:
    """The vectors one search query is made of, one network batch per part.

    ``whole``: the query as is. ``subject``: the crop :func:`subject_box` finds on the map of the
    whole image (one extra pass of the ``full224`` view, then the crop). ``grid4``/``grid9``: the
    query's 2x2 windows of 60 % / 3x3 windows of 50 % of its width and height. A policy scores a
    catalog vector by the maximum of its similarities to the parts it uses.
    """
    out: dict[str, np.ndarray] = {}
    for part in parts:
        if part == "whole":
            out[part] = recipe.vectors(net, [image])
        elif part == "subject":
            activation = embed(net, [image], VIEWS[BOX_VIEW], ()).activation[0]
            out[part] = recipe.vectors(net, [crop_fraction(image, subject_box(activation))])
        else:
            out[part] = recipe.vectors(net, [crop_fraction(image, b) for b in grid_boxes(*GRIDS[part])])
    return out


POLICIES: dict[str, tuple[str, ...]] = {  # policy -> the parts whose similarities are maxed
    "whole (--whole)": ("whole",),
    "subject crop": ("subject",),
    "subject crop if box < 50%": ("whole", "subject"),  # special-cased below
    "max(whole, subject)": ("whole", "subject"),
    "max(whole, 4 windows 60%)": ("whole", "grid4"),
    "max(whole, 9 windows 50%)": ("whole", "grid9"),
    "max(whole, subject, 9 windows)": ("whole", "subject", "grid9"),
}


# -- evaluation ----------------------------------------------------------------------------------
def ranks_from_scores(scores: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """1-based rank of each query's single right answer (ties count against it)."""
    right = scores[np.arange(len(scores)), answer]
    return 1 + (scores > right[:, None]).sum(axis=1)


def sign_test(gained: int, lost: int) -> float:
    """Two-sided exact sign test (McNemar) p-value for paired found/lost counts."""
    n, k = gained + lost, min(gained, lost)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def metrics(ranks: np.ndarray) -> tuple[float, float, float]:
    """recall@1, recall@10, mAP (one right answer: AP = 1 / rank)."""
    return float(np.mean(ranks == 1)), float(np.mean(ranks <= 10)), float(np.mean(1.0 / ranks))


def fmt(m: tuple[float, float, float]) -> str:
    return f"{m[0]:.3f} {m[1]:.3f} {m[2]:.3f}"


def group_metrics(vecs: np.ndarray, groups: list[str]) -> tuple[float, float]:
    """Near-duplicate set: each photo of a group of >= 2 queries all the others; (recall@1, mAP)."""
    labels = np.array(groups)
    hits, aps = [], []
    for i in range(len(vecs)):
        others = np.flatnonzero(np.arange(len(vecs)) != i)
        relevant = (labels[others] == labels[i])[np.argsort(-(vecs[others] @ vecs[i]), kind="stable")]
        if relevant.any():
            positions = np.flatnonzero(relevant) + 1
            hits.append(relevant[0])
            aps.append(np.mean(np.arange(1, len(positions) + 1) / positions))
    return float(np.mean(hits)), float(np.mean(aps))


@dataclass
class Variant:
    name: str
    vecs: Callable[[str, int | None], np.ndarray]  # (set, fold or None) -> descriptors
    ms: float  # indexing ms per image
    folded: bool = False  # whitening learned on one half of the catalog, evaluated on the other


def variant_ranks(variant: Variant, sets: dict[str, QuerySet], name: str) -> np.ndarray:
    answer = sets[name].source
    if not variant.folded:
        return ranks_from_scores(variant.vecs(name, None) @ variant.vecs("catalog", None).T, answer)
    ranks = np.zeros(len(answer), int)
    for fold in (0, 1):
        mask = answer % 2 == fold
        ranks[mask] = ranks_from_scores(variant.vecs(name, fold)[mask] @ variant.vecs("catalog", fold).T, answer[mask])
    return ranks


# -- data ----------------------------------------------------------------------------------------
def load_catalog(folder: Path, engine: Engine) -> list[np.ndarray]:
    images = []
    for path in sorted(iter_image_paths([folder])):
        try:
            images.append(load_image(path, settings=engine.settings))
        except OculaError as exc:
            print(f"skipped {path.name}: {exc}")
    return images


def load_near_duplicates(folder: Path, engine: Engine) -> tuple[list[np.ndarray], list[str]]:
    images, groups = [], []
    if not (folder / "groundtruth.csv").is_file():
        return images, groups
    with open(folder / "groundtruth.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                images.append(load_image(folder / row["image"], settings=engine.settings))
                groups.append(row["duplicate_group"])
            except OculaError:
                pass  # the deliberately corrupt file
    return images, groups


# -- main ----------------------------------------------------------------------------------------
RETEST_VIEWS = ("cc224", "cc288")
WHITEN_BASES = (("cc224", "gap"), ("cc288", "gem3"))
WHITEN_GRID = ((128, 0.0), (128, 0.3), (256, 0.0), (256, 0.3), (256, 1.0), (512, 0.3), (512, 1.0), (512, 3.0))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, default=DATA / "imagenet" / "sample-334" / "images")
    parser.add_argument("--near-duplicates", type=Path, default=DATA / "search" / "near-duplicates")
    parser.add_argument("--n-queries", type=int, default=100, help="catalog photos turned into queries")
    return parser.parse_args()


def print_sets(args: argparse.Namespace, catalog: list, sets: dict[str, QuerySet], ukb: tuple, check: float) -> None:
    n_src = len(set(sets["hard"].source.tolist()))
    print(
        f"catalog: {len(catalog)} photos in {args.catalog}; query sources: {n_src} photos (one in "
        f"{len(catalog) // n_src})"
    )
    print(
        f"queries: builtin {len(sets['builtin'].images)} ({', '.join(TRANSFORMS)}); hard {len(sets['hard'].images)} "
        f"({', '.join(HARD_EDITS)}); composite {len(sets['composite'].images)} (pasted into: "
        f"{', '.join(BACKGROUNDS)}); "
        f"val {len(sets['val'].images)} (hard edits of {n_src} other photos, only for choosing whitening); "
        f"near-duplicates (ukb): {len(ukb[0])} photos"
    )
    print(f"check: cc288/gem3 here vs ocula's ImageEmbedder (gem3-288-l2-v2), max |difference| = {check:.1e}")
    print()


def embed_every_view(
    net: FeatureNet, catalog: list, sets: dict[str, QuerySet]
) -> tuple[dict[tuple[str, str], Embedded], dict[tuple[str, str], float]]:
    """Question 1's vectors (every view over every set; all poolings from the same pass) and the
    milliseconds per image of each view x pooling."""
    emb: dict[tuple[str, str], Embedded] = {}
    ms: dict[tuple[str, str], float] = {}
    timing = catalog[:96]
    net.maps(np.stack([VIEWS["cc224"].prepare(catalog[0])] * BATCH))  # warm-up
    whiten_views = {v for v, _ in WHITEN_BASES}
    for vname, view in VIEWS.items():
        for sname, qs in sets.items():
            if sname != "aug" or vname in whiten_views:
                emb[vname, sname] = embed(net, qs.images, view)
    # Timing: views interleaved, best of 3, so load from other processes hits them alike.
    for _ in range(3):
        for vname, view in VIEWS.items():
            t = ms_per_image(net, timing, view, "gap", repeats=1)
            ms[vname, "gap"] = min(ms.get((vname, "gap"), t), t)
    for vname, view in VIEWS.items():
        fmap = net.maps(np.stack([view.prepare(im) for im in timing[:BATCH]])) if view.batched else None
        for how in POOLS[1:]:  # pooling on top of GAP's cost, timed on one batch of maps
            ms[vname, how] = ms[vname, "gap"] + pooling_ms(fmap, how)
    return emb, ms


def pooling_ms(fmap: np.ndarray | None, how: str) -> float:
    """Milliseconds per image that pooling ``how`` adds to GAP, on one batch of maps."""
    if fmap is None:
        return 0.0
    start = time.perf_counter()
    pool(fmap, how), pool(fmap, how)
    mid = time.perf_counter()
    pool(fmap, "gap"), pool(fmap, "gap")
    return max(0.0, (mid - start) - (time.perf_counter() - mid)) * 1000 / (2 * BATCH)


class Variants:
    """The variants compared, built on the embedded sets and their timings."""

    def __init__(self, emb: dict[tuple[str, str], Embedded], ms: dict[tuple[str, str], float], sets: dict):
        self.emb, self.ms, self.sets = emb, ms, sets

    def simple(self, view: str, how: str) -> Variant:
        emb = self.emb
        return Variant(f"{view}/{how}", lambda s, f: emb[view, s].vec[how], self.ms[view, how])

    def multiscale(self, views: Sequence[str], how: str) -> Variant:
        emb = self.emb
        return Variant(
            f"{'+'.join(views)}/{how}",
            lambda s, f: l2n(sum(emb[v, s].vec[how] for v in views)),
            sum(self.ms[v, how] for v in views),
        )

    def whitened(self, base: Variant, dim: int, shrink: float, folded: bool = False) -> tuple[Variant, Callable]:
        cache: dict[int | None, Whitening] = {}
        sets = self.sets

        def learned(fold: int | None) -> Whitening:
            if fold not in cache:
                train = np.concatenate([base.vecs("catalog", None), base.vecs("aug", None)])
                origin = np.concatenate([sets["catalog"].source, sets["aug"].source])
                cache[fold] = learn_pca_whitening(train if fold is None else train[origin % 2 != fold], dim, shrink)
            return cache[fold]

        name = f"{base.name}+pcaw{dim}/{shrink:g}{'-half' if folded else ''}"
        return Variant(name, lambda s, f: apply_whitening(base.vecs(s, None), learned(f)), base.ms, folded), learned


def q1a_views_by_pooling(build: Variants, sets: dict[str, QuerySet]) -> None:
    print("Q1a. recall@1: hard edits | composites (whole query), per view x pooling (one network pass per view)")
    print(f"{'view':<10} {'ms/img':>6}  " + "  ".join(f"{p:>11}" for p in POOLS) + "   view")
    for v, view in VIEWS.items():
        cells = []
        for p in POOLS:
            var = build.simple(v, p)
            cells.append(
                f"{metrics(variant_ranks(var, sets, 'hard'))[0]:.3f}|"
                f"{metrics(variant_ranks(var, sets, 'composite'))[0]:.3f}"
            )
        print(f"{v:<10} {build.ms[v, 'gap']:6.2f}  " + "  ".join(f"{c:>11}" for c in cells) + f"   {view.note}")
    print()


def q1b_choose_whitening(build: Variants, sets: dict[str, QuerySet]) -> dict[str, tuple[int, float]]:
    print("Q1b. PCA-whitening, learned on the 334 catalog photos + 2 augmented views each (1002 vectors);")
    print("     dim / shrink chosen by recall@1 (then mAP) on the val set only. val R@1 (mAP):")
    chosen: dict[str, tuple[int, float]] = {}
    print(f"{'base':<12} " + " ".join(f"{f'{d}/{s:g}':>13}" for d, s in WHITEN_GRID) + "   none")
    for v, p in WHITEN_BASES:
        base = build.simple(v, p)
        cells, scores = [], []
        for d, s in WHITEN_GRID:
            m = metrics(variant_ranks(build.whitened(base, d, s)[0], sets, "val"))
            cells.append(f"{m[0]:.3f} ({m[2]:.3f})")
            scores.append((m[0], m[2]))
        chosen[base.name] = WHITEN_GRID[max(range(len(scores)), key=lambda i: scores[i])]
        m = metrics(variant_ranks(base, sets, "val"))
        print(f"{base.name:<12} " + " ".join(f"{c:>13}" for c in cells) + f"   {m[0]:.3f} ({m[2]:.3f})")
    print()
    return chosen


def q1c_variants(build: Variants, chosen: dict[str, tuple[int, float]]) -> tuple[list[Variant], list[str]]:
    """Every variant of Q1c (the current recipe first), and the names of the chosen whitenings."""
    variants = [build.simple("cc224", "gap")] + [
        build.simple(v, p)
        for v, p in (
            ("cc224", "gem3"),
            ("cc224", "mac"),
            ("cc224", "rmac"),
            ("cc256", "gap"),
            ("cc256", "gem3"),
            ("cc288", "gap"),
            ("cc288", "gem3"),
            ("full224", "gap"),
            ("pad224", "gap"),
            ("aspect224", "gap"),
            ("full288", "gap"),
        )
    ]
    variants += [build.multiscale(("cc224", "full224"), "gap"), build.multiscale(("cc224", "cc288"), "gem3")]
    learned: dict[str, Callable] = {}
    learned_names: list[str] = []
    for v, p in WHITEN_BASES:
        base = build.simple(v, p)
        d, s = chosen[base.name]
        var, learned[base.name] = build.whitened(base, d, s)
        learned_names.append(var.name)
        variants += [var, build.whitened(base, d, s, folded=True)[0], build.whitened(base, 256, 0.0)[0]]
    return variants, learned_names


def q1c_compare(variants: list[Variant], sets: dict[str, QuerySet], ukb: tuple) -> None:
    current = variants[0]
    print("Q1c. variants: R@1 R@10 mAP; +/- p = hard queries found / lost at rank 1 vs gap-l2-v1, sign-test p;")
    print("     -half = whitening learned on the other half of the catalog only (2 folds); ukb = near-duplicate")
    print("     set R@1/mAP; ms/img = preprocess + network + pooling, batches of 16, image already decoded")
    print(
        f"{'variant':<34} {'hard R@1 R@10 mAP':>17} {'+/- p':>12}  {'val R@1':>7}  {'builtin R@1 mAP':>15}  "
        f"{'composite R@1 R@10 mAP':>22}  {'ukb':>9}  {'ms/img':>6}"
    )
    base_hard = variant_ranks(current, sets, "hard") == 1
    for var in variants:
        r = {s: variant_ranks(var, sets, s) for s in ("hard", "val", "builtin", "composite")}
        hit = r["hard"] == 1
        gained, lost = int((hit & ~base_hard).sum()), int((~hit & base_hard).sum())
        gain = f"+{gained}/-{lost} {sign_test(gained, lost):4.2f}"
        u = group_metrics(var.vecs("ukb", 0 if var.folded else None), ukb[1]) if "ukb" in sets else (float("nan"),) * 2
        b = metrics(r["builtin"])
        print(
            f"{var.name:<34} {fmt(metrics(r['hard'])):>17} {gain:>12}  {metrics(r['val'])[0]:7.3f}  {b[0]:.3f} "
            f"{b[2]:.3f}  "
            f"{fmt(metrics(r['composite'])):>22}  {u[0]:.2f}/{u[1]:.2f}  {var.ms:6.2f}"
        )
    print()


def q1d_by_hard_edit(variants: list[Variant], learned_names: list[str], sets: dict[str, QuerySet]) -> None:
    names = ("cc224/gap", "cc224/gem3", "cc288/gem3", "full224/gap", *learned_names)
    shown = [v for v in variants if v.name in names]
    tags = np.array(sets["hard"].tag)
    print("Q1d. recall@1 by hard edit")
    print(f"{'variant':<34} " + " ".join(f"{t:>11}" for t in HARD_EDITS))
    for var in shown:
        r = variant_ranks(var, sets, "hard")
        print(f"{var.name:<34} " + " ".join(f"{np.mean(r[tags == t] == 1):11.3f}" for t in HARD_EDITS))
    print()


def q1e_retest(net: FeatureNet, catalog: list, emb: dict[tuple[str, str], Embedded]) -> None:
    """A re-test on more queries: the hard edits of every catalog photo with a new seed."""
    retest = [
        (hard_edit(im, t, np.random.default_rng([SEED, 5, i, k])), i)
        for i, im in enumerate(catalog)
        for k, t in enumerate(HARD_EDITS)
    ]
    answer = np.array([i for _, i in retest])
    found = {}
    for v in RETEST_VIEWS:
        q = embed(net, [im for im, _ in retest], VIEWS[v], ("gap", "gem3")).vec
        for how in ("gap", "gem3"):
            found[f"{v}/{how}"] = ranks_from_scores(q[how] @ emb[v, "catalog"].vec[how].T, answer) == 1
    print(
        f"Q1e. re-test: the {len(HARD_EDITS)} hard edits of all {len(catalog)} photos, new seed ({len(retest)} queries)"
    )
    print(f"{'variant':<34} {'R@1':>6} {'+/-':>8} {'sign-test p':>11}")
    for name, hit in found.items():
        gained, lost = int((hit & ~found["cc224/gap"]).sum()), int((~hit & found["cc224/gap"]).sum())
        print(f"{name:<34} {hit.mean():6.4f} {f'+{gained}/-{lost}':>8} {sign_test(gained, lost):11.3f}")
    print()


def q2_query_policies(net: FeatureNet, sets: dict[str, QuerySet], emb: dict[tuple[str, str], Embedded]) -> None:
    print("Q2. 'photograph it, find it': composite R@1 R@10 mAP and R@1 per background; bg@1 = the background")
    print("    photo ranked first (photo backgrounds); builtin / hard = plain queries through the same policy;")
    print("    query ms = one query alone (batch = its crops), image decoded, ranking excluded; '-' under builtin:")
    print("    windows not run for the second recipe (saves ~2 minutes; the first recipe's row shows their effect)")
    recipes = [
        Recipe("cc224/gap (gap-l2-v1)", "cc224", "gap"),
        Recipe("cc288/gem3 (gem3-288-l2-v2)", "cc288", "gem3"),
    ]
    for ri, recipe in enumerate(recipes):
        q2_recipe(net, sets, emb, recipe, first=ri == 0)


def q2_recipe(
    net: FeatureNet, sets: dict[str, QuerySet], emb: dict[tuple[str, str], Embedded], recipe: Recipe, first: bool
) -> None:
    parts = ("whole", "subject", "grid4", "grid9") if first else ("whole", "subject", "grid9")
    policies = {k: v for k, v in dict(POLICIES).items() if set(v) <= set(parts)}
    cat = apply_whitening(emb[recipe.view, "catalog"].vec[recipe.how], recipe.whitening)
    table: dict[str, dict[str, np.ndarray]] = {p: {} for p in [*policies, "oracle crop"]}
    small_share = {}
    bg = sets["composite"].background
    for sname in ("composite", "builtin", "hard"):
        qs = sets[sname]
        # The second recipe skips the windows on the built-in edits (saves ~2 minutes; see the first).
        grids = [g for g in parts[2:] if first or sname != "builtin"]
        sims, small = query_similarities(net, emb, recipe, sname, qs, grids, cat)
        small_share[sname] = small.mean()
        rank_policies(table, policies, sims, small, qs, sname, bg)
        if sname == "composite":
            oracle = (
                recipe.vectors(net, [crop_fraction(im, b) for im, b in zip(qs.images, qs.box, strict=False)])
                @ cat.T
            )
            table["oracle crop"][sname] = ranks_from_scores(oracle, qs.source)
            table["oracle crop"]["bg"] = np.array([np.mean(np.argmax(oracle, 1)[bg >= 0] == bg[bg >= 0])])
    latency = query_latency(net, recipe, sets["composite"].images[:16], parts)
    print_policies(recipe, table, policies, small_share, latency, np.array(sets["composite"].tag))


def query_similarities(
    net: FeatureNet,
    emb: dict[tuple[str, str], Embedded],
    recipe: Recipe,
    sname: str,
    qs: QuerySet,
    grids: list[str],
    cat: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each query part's similarities to the catalog, and which queries have a small subject box."""
    sims = {"whole": apply_whitening(emb[recipe.view, sname].vec[recipe.how], recipe.whitening) @ cat.T}
    boxes = [subject_box(a) for a in emb[BOX_VIEW, sname].activation]
    small = np.array([box_area(b) < 0.5 for b in boxes])
    sims["subject"] = (
        recipe.vectors(net, [crop_fraction(im, b) for im, b in zip(qs.images, boxes, strict=False)]) @ cat.T
    )
    for g in grids:
        windows = grid_boxes(*GRIDS[g])
        v = recipe.vectors(net, [crop_fraction(im, b) for im in qs.images for b in windows])
        sims[g] = (v.reshape(len(qs.images), len(windows), -1) @ cat.T).max(axis=1)
    return sims, small


def rank_policies(
    table: dict[str, dict[str, np.ndarray]],
    policies: dict,
    sims: dict[str, np.ndarray],
    small: np.ndarray,
    qs: QuerySet,
    sname: str,
    bg: np.ndarray,
) -> None:
    """The ranks each query policy gives the set ``sname`` (and, on composites, bg@1) into ``table``."""
    for name, used in policies.items():
        if not set(used) <= set(sims):
            continue
        if name == "subject crop if box < 50%":
            scores = np.where(small[:, None], sims["subject"], sims["whole"])
        else:
            scores = np.max([sims[u] for u in used], axis=0)
        table[name][sname] = ranks_from_scores(scores, qs.source)
        if sname == "composite":
            top = np.argmax(scores, axis=1)
            table[name]["bg"] = np.array([np.mean(top[bg >= 0] == bg[bg >= 0])])


def query_latency(net: FeatureNet, recipe: Recipe, some: list, parts: Sequence[str]) -> dict[str, float]:
    """Milliseconds of one query part alone; parts interleaved, best of 3."""
    latency: dict[str, float] = {}
    for _ in range(3):
        for part in parts:
            start = time.perf_counter()
            for im in some:
                query_vectors(net, recipe, im, (part,))
            t = 1000 * (time.perf_counter() - start) / len(some)
            latency[part] = min(latency.get(part, t), t)
    return latency


def print_policies(
    recipe: Recipe,
    table: dict[str, dict[str, np.ndarray]],
    policies: dict,
    small_share: dict[str, float],
    latency: dict[str, float],
    comp_tags: np.ndarray,
) -> None:
    print(
        f"recipe {recipe.name}: subject box < 50% of the image for {small_share['composite']:.2f} of composites, "
        f"{small_share['builtin']:.2f} builtin, {small_share['hard']:.2f} hard"
    )
    print(
        f"  {'policy':<31} {'composite R@1 R@10 mAP':>22} "
        + " ".join(f"{b:>7}" for b in BACKGROUNDS)
        + f" {'bg@1':>5}  {'builtin':>7} {'hard':>6}  {'query ms':>8}"
    )
    for name, row in table.items():
        comp = row["composite"]
        per_bg = " ".join(f"{np.mean(comp[comp_tags == b] == 1):7.3f}" for b in BACKGROUNDS)
        plain = " ".join(f"{metrics(row[s])[0]:7.3f}" if s in row else f"{'-':>7}" for s in ("builtin", "hard"))
        cost = f"{sum(latency[u] for u in policies[name]):8.1f}" if name in policies else f"{'-':>8}"
        print(f"  {name:<31} {fmt(metrics(comp)):>22} {per_bg} {row['bg'][0]:5.2f}  {plain}  {cost}")
    print()


def main() -> None:
    args = parse_args()
    t0 = time.perf_counter()

    with Engine() as engine:
        net = FeatureNet(engine)
        catalog = load_catalog(args.catalog, engine)
        ukb = load_near_duplicates(args.near_duplicates, engine)
        sets = build_sets(catalog, args.n_queries, ukb)
        embedder = engine.image_embedder()  # sanity: cc288 + GeM 3 here is exactly ocula's ImageEmbedder
        reference = embedder.embed([embedder.prepare(im) for im in catalog[:16]])
        check = float(np.abs(reference - embed(net, catalog[:16], VIEWS["cc288"], ("gem3",)).vec["gem3"]).max())
    print_sets(args, catalog, sets, ukb, check)

    emb, ms = embed_every_view(net, catalog, sets)
    build = Variants(emb, ms, sets)
    q1a_views_by_pooling(build, sets)
    chosen = q1b_choose_whitening(build, sets)
    variants, learned_names = q1c_variants(build, chosen)
    q1c_compare(variants, sets, ukb)
    q1d_by_hard_edit(variants, learned_names, sets)
    q1e_retest(net, catalog, emb)
    q2_query_policies(net, sets, emb)
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
