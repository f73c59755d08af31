"""Every face detector ocula has, side by side: faces found, false faces, turned heads, speed.

For each detector in ``DETECTORS`` (one entry per detector; a new detector is one more entry),
on photos from ``../shared/data``:

- **celeba-80**: share of photos where at least one face is found (every photo shows a face);
- **lfw-folds-1-2**: the same on LFW's grayscale 350x350 *tight crops* (faces fill the image, so
  this says little about real photos: crops are not what detectors were made for);
- **Hamilton clip**: every ``--hamilton-stride``-th frame of ``short_hamilton_clip.mp4`` (640x360,
  stage and audience, heads turned): share of frames with a face and faces per frame. There are
  no hand-marked boxes here: a rough measure (more faces is not proof of more *true* faces);
- **face-free**: false faces per 100 photos of ``benchmarks/data/face_free.txt`` (photos without a
  human face, chosen and checked by eye), and how many of those photos got any;
- **face-like**: photos of ``benchmarks/data/face_like.txt`` (drawn, painted, sculpted or toy
  faces) with a face found: neither right nor wrong, shown apart;
- **ms per photo**, median and p90, on the celeba photos and on the face-free photos (where a
  fallback to the CNN costs most), one inference thread: the script sets ``OCULA_THREADS=1`` (ONNX
  Runtime intra-op threads 1) and ``OMP_NUM_THREADS=1`` before ocula loads.

The dlib CNN costs ~8 s a photo here (ocula upsamples photos up to 800 px once), so slow detectors see
every ``every``-th photo of each set (a fixed stride, the same photos each run); the photo counts are printed
beside each figure. Every face found on a face-free photo is listed at the end, to be checked by eye.

    python benchmarks/face_detectors.py                 # ~15 min on 2 loaded cores
    python benchmarks/face_detectors.py --quick         # a few photos per set, a smoke run
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data").resolve()
LISTS = Path(__file__).resolve().parent / "data"
HAMILTON = "video/face_recognition_hamilton/short_hamilton_clip.mp4"
# A line of a photo list naming a video frame: ``path/to/clip.mp4#frame=N``.
FRAME_MARK = "#frame="
SETS = ("celeba", "lfw", "hamilton", "face-free", "face-like")
# ImageNet-1k's class indices 0-397 are animals (sorted-wnid order).
LAST_ANIMAL_CLASS = 397

# (boxes, scores) of an RGB uint8 photo, as every ocula detector answers.
Detect = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class DetectorEntry:
    """One detector as the benchmark runs it. ``build`` loads it from an Engine; ``every``: it
    sees every n-th photo of each set (slow detectors); ``available``: whether it can run here."""

    name: str
    build: Callable[[object], Detect]
    every: int = 1
    available: Callable[[], bool] = field(default=lambda: True)


def _dlib(name: str, upsample: int) -> Callable[[object], Detect]:
    def build(engine) -> Detect:
        detector = engine.face_detector(name)
        return lambda image: detector.detect(image, upsample)

    return build


def _as_ocula(detector: str) -> Callable[[object], Detect]:
    """The detector as ``ocula faces detect --detector D`` runs it (ocula's upsampling policy,
    fallbacks and pixel budgets)."""

    def build(engine) -> Detect:
        from ocula.pipelines.faces import FaceOptions

        analyzer = engine.face_analyzer(detector)
        options = FaceOptions(detector=detector, embed=False)
        return lambda image: analyzer.detect(image, options)

    return build


def _blazeface(name: str) -> Callable[[object], Detect]:
    """BlazeFace (``Engine.face_detector("blazeface" | "blazeface-short")``), where it exists."""

    def build(engine) -> Detect:
        detector = engine.face_detector(name)
        return lambda image: detector.detect(image, 0)

    return build


def _has_blazeface() -> bool:
    return importlib.util.find_spec("ocula.pipelines.blazeface") is not None


DETECTORS = (
    DetectorEntry("hog, upsample 0", _dlib("hog", 0)),
    DetectorEntry("hog, upsample 1", _dlib("hog", 1)),
    DetectorEntry("hog+cnn (ocula's default)", _as_ocula("hog+cnn"), every=10),
    DetectorEntry("cnn (ocula's policy)", _as_ocula("cnn"), every=25),
    DetectorEntry("yunet", _as_ocula("yunet")),
    DetectorEntry("blazeface (full-range)", _blazeface("blazeface"), available=_has_blazeface),
    DetectorEntry("blazeface-short", _blazeface("blazeface-short"), available=_has_blazeface),
)


@dataclass
class Tally:
    """What one detector did on one set of photos."""

    photos: int = 0
    with_face: int = 0
    faces: int = 0
    ms: list[float] = field(default_factory=list)
    found: list[tuple[str, int, np.ndarray, np.ndarray]] = field(default_factory=list)

    def add(self, name: str, boxes: np.ndarray, scores: np.ndarray, ms: float) -> None:
        self.photos += 1
        self.with_face += bool(len(boxes))
        self.faces += len(boxes)
        self.ms.append(ms)
        if len(boxes):
            self.found.append((name, len(boxes), np.asarray(boxes), np.asarray(scores)))

    def share(self) -> str:
        return f"{100 * self.with_face / self.photos:.1f}% ({self.photos})" if self.photos else "-"

    def per_100(self) -> str:
        if not self.photos:
            return "-"
        return f"{100 * self.faces / self.photos:.1f} ({self.with_face}/{self.photos})"

    def per_frame(self) -> str:
        if not self.photos:
            return "-"
        return f"{100 * self.with_face / self.photos:.0f}%, {self.faces / self.photos:.2f}/fr ({self.photos})"

    def timing(self) -> str:
        if not self.ms:
            return "-"
        p90 = float(np.percentile(self.ms, 90))
        return f"{statistics.median(self.ms):.0f} / {p90:.0f}"


# -- photo sets --------------------------------------------------------------------------------
def read_list(path: Path) -> list[str]:
    """Entries of a photo list: one per line; blank lines and ``#`` comments skipped."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def load_entry(entry: str) -> np.ndarray:
    """An RGB uint8 photo: a file under ``DATA``, or ``clip.mp4#frame=N``."""
    if FRAME_MARK in entry:
        clip, frame = entry.split(FRAME_MARK)
        return read_frames(DATA / clip, [int(frame)])[0]
    from PIL import Image

    with Image.open(DATA / entry) as image:
        return np.asarray(image.convert("RGB"))


def read_frames(clip: Path, frames: list[int]) -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(clip))
    try:
        out = []
        for frame in frames:
            capture.set(cv2.CAP_PROP_POS_FRAMES, frame)
            ok, bgr = capture.read()
            if not ok:
                raise SystemExit(f"cannot read frame {frame} of {clip}")
            out.append(np.ascontiguousarray(bgr[:, :, ::-1]))
        return out
    finally:
        capture.release()


def frame_count(clip: Path) -> int:
    import cv2

    capture = cv2.VideoCapture(str(clip))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()


def photo_sets(args: argparse.Namespace) -> dict[str, list[str]]:
    """Each set's entries (strided as asked), in a fixed order."""
    celeba = sorted(str(p.relative_to(DATA)) for p in (DATA / "faces/celeba-80/images").glob("*/*.jpg"))
    lfw = sorted(str(p.relative_to(DATA)) for p in (DATA / "faces/lfw-folds-1-2/images").glob("*/*.jpg"))
    frames = range(0, frame_count(DATA / HAMILTON), args.hamilton_stride)
    return {
        "celeba": celeba[:: args.celeba_stride],
        "lfw": lfw[:: args.lfw_stride],
        "hamilton": [f"{HAMILTON}{FRAME_MARK}{n}" for n in frames],
        "face-free": read_list(LISTS / "face_free.txt"),
        "face-like": read_list(LISTS / "face_like.txt"),
    }


def animal_photos() -> set[str]:
    """Entries of ImageNet's sample that show animals (class indices 0-397): YuNet takes many
    animal faces for human ones, so its false faces are split by this."""
    labels = DATA / "imagenet/sample-334/labels.csv"
    rows = (line.split(",") for line in labels.read_text().splitlines()[1:] if line)
    return {f"imagenet/sample-334/{row[0]}" for row in rows if int(row[1]) <= LAST_ANIMAL_CLASS}


def photos(entries: list[str], limit: int | None) -> Iterator[tuple[str, np.ndarray]]:
    for entry in entries[:limit]:
        yield entry, load_entry(entry)


# -- running -------------------------------------------------------------------------------------
def run(entries_by_set: dict[str, list[str]], detectors: list[DetectorEntry], limit: int | None):
    from ocula import Engine

    tallies = {(d.name, s): Tally() for d in detectors for s in SETS}
    with Engine() as engine:
        built = [(d, d.build(engine)) for d in detectors]
        for set_name, entries in entries_by_set.items():
            started = time.perf_counter()
            for index, (entry, image) in enumerate(photos(entries, limit)):
                for entry_, detect in built:
                    if index % entry_.every:
                        continue
                    if index == 0:
                        detect(image)  # the first call loads the model: not timed
                    t = time.perf_counter()
                    boxes, scores = detect(image)
                    tallies[(entry_.name, set_name)].add(entry, boxes, scores, (time.perf_counter() - t) * 1000)
            print(f"  {set_name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return tallies


def per_frame(tallies: dict, detectors: list[DetectorEntry], frames: list[str]) -> str:
    """Faces each detector found on each Hamilton frame ("." where it did not run)."""
    counts = {d.name: {e: n for e, n, _, _ in tallies[(d.name, "hamilton")].found} for d in detectors}
    ran = {d.name: set(frames[:: d.every]) for d in detectors}
    rows = ["| frame | " + " | ".join(d.name for d in detectors) + " |", "|" + "---|" * (len(detectors) + 1)]
    for frame in frames:
        cells = [str(counts[d.name].get(frame, 0)) if frame in ran[d.name] else "." for d in detectors]
        rows.append(f"| {frame.split(FRAME_MARK)[1]} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def on_animals(tally: Tally, animals: set[str]) -> str:
    """Of a face-free tally's false faces, how many were on photos of animals."""
    return str(sum(n for entry, n, _, _ in tally.found if entry in animals))


def table(tallies: dict, detectors: list[DetectorEntry], animals: set[str]) -> str:
    head = (
        "| detector | celeba-80: photos with a face | LFW crops: with a face | Hamilton frames: with a face, "
        "faces/frame | false faces per 100 face-free photos (photos hit) | of those faces, on animals "
        "| face-like photos with a face | ms/photo celeba median / p90 | ms/photo face-free median / p90 |"
    )
    rows = [head, "|" + "---|" * 9]
    for d in detectors:
        t = {s: tallies[(d.name, s)] for s in ("celeba", "lfw", "hamilton", "face-free", "face-like")}
        rows.append(
            f"| {d.name} | {t['celeba'].share()} | {t['lfw'].share()} | {t['hamilton'].per_frame()} | "
            f"{t['face-free'].per_100()} | {on_animals(t['face-free'], animals)} | "
            f"{t['face-like'].with_face}/{t['face-like'].photos} | "
            f"{t['celeba'].timing()} | {t['face-free'].timing()} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--celeba-stride", type=int, default=3, help="use every n-th celeba-80 photo (default 3)")
    parser.add_argument("--lfw-stride", type=int, default=10, help="use every n-th LFW crop (default 10)")
    parser.add_argument("--hamilton-stride", type=int, default=10, help="use every n-th clip frame (default 10)")
    parser.add_argument("--quick", action="store_true", help="at most 4 photos per set (a smoke run)")
    parser.add_argument("--only", nargs="*", metavar="DETECTOR", help="run only these detectors (names as printed)")
    parser.add_argument("--sets", nargs="*", choices=SETS, help="run only these photo sets (default: all)")
    parser.add_argument("--no-skip", action="store_true", help="slow detectors see every photo too (much longer)")
    args = parser.parse_args(argv)
    # One inference thread, set before ocula (and ONNX Runtime, dlib's BLAS) load.
    os.environ["OCULA_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    if not DATA.is_dir():
        raise SystemExit(f"shared data not found at {DATA}")
    detectors = [d for d in DETECTORS if d.available() and (not args.only or d.name in args.only)]
    skipped = [d.name for d in DETECTORS if not d.available()]
    if args.no_skip:
        detectors = [replace(d, every=1) for d in detectors]
    entries = {name: listed for name, listed in photo_sets(args).items() if not args.sets or name in args.sets}
    limit = 4 if args.quick else None
    print(
        f"sets: celeba-80 1 photo in {args.celeba_stride}, LFW 1 crop in {args.lfw_stride}, Hamilton 1 frame in "
        f"{args.hamilton_stride}, {len(entries.get('face-free', []))} face-free and "
        f"{len(entries.get('face-like', []))} face-like photos; 1 thread",
        flush=True,
    )
    for d in detectors:
        if d.every > 1:
            print(f"{d.name}: 1 photo in {d.every} of each set (slow)")
    if skipped:
        print(f"not available here: {', '.join(skipped)}")
    tallies = run(entries, detectors, limit)
    animals = animal_photos()
    in_set = sum(entry in animals for entry in entries.get("face-free", [])[:limit])
    print(f"face-free photos of animals: {in_set}")
    print(table(tallies, detectors, animals))
    if entries.get("hamilton"):
        print("\nfaces found per Hamilton frame (frames 20-80 and 220-270 show turned heads):")
        print(per_frame(tallies, detectors, entries["hamilton"][:limit]))
    print("\nfaces found on face-free photos (check each by eye):")
    for d in detectors:
        for entry, n, boxes, scores in tallies[(d.name, "face-free")].found:
            shown = ", ".join(
                f"[{' '.join(str(int(v)) for v in b)}] {s:.2f}" for b, s in zip(boxes, scores, strict=False)
            )
            print(f"  {d.name}: {entry}: {n} ({shown})")


if __name__ == "__main__":
    main()
