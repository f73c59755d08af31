"""Choose the confidence floor below which ``ocula tag`` says "nothing recognised".

A photo counts as recognised when its best tag scores at least the floor. Two kinds of image
pull the floor in opposite directions:

- real photos of ImageNet classes (``imagenet/sample-334``): a floor above a correct top-1
  answer's score calls a right answer "nothing recognised" (a *lost* answer);
- images with nothing to recognise (uniform colours, gradients, noise): a floor below their
  best score presents a guess as an answer.

The face-free non-ImageNet photos at hand (UKBench objects from ``search/near-duplicates``, the
room with a pedestal table at the start of ``video/intel_sample_videos/
one-by-one-person-detection.mp4``) show real objects, some of them ImageNet-like: they are
reported for information (how often each floor calls them "nothing"), not used by the rule.

Every image set is split in two halves (alternate items in sorted order). The rule, fixed before
looking: on the tuning half, the highest candidate floor that loses at most 5% of the correct
top-1 answers. Both halves are reported, with the share of the nothing-to-recognise images
whose best score falls below the floor.

    python benchmarks/choose_recognised_floor.py ../shared/data [--preset fast]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ocula import Engine
from ocula.eval.imagenet import read_labels

CANDIDATES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
MAX_LOST_SHARE = 0.05  # of correct top-1 answers, on the tuning half


def synthetic_images(seed: int) -> dict[str, np.ndarray]:
    """Blank, uniform, gradient and noise images (480x640 RGB), two of each kind per seed."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for k in range(2):
        colour = rng.integers(0, 256, 3)
        out[f"uniform-{seed}-{k}"] = np.broadcast_to(colour, (480, 640, 3)).astype(np.uint8).copy()
        ramp = np.linspace(0, 1, 640)[None, :, None] * (rng.integers(0, 256, 3) - colour) + colour
        out[f"gradient-{seed}-{k}"] = np.broadcast_to(ramp, (480, 640, 3)).astype(np.uint8).copy()
        out[f"uniform-noise-{seed}-{k}"] = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        gauss = rng.normal(128, 40, (480, 640, 3))
        out[f"gaussian-noise-{seed}-{k}"] = np.clip(gauss, 0, 255).astype(np.uint8)
    out[f"black-{seed}"] = np.zeros((480, 640, 3), np.uint8)
    out[f"white-{seed}"] = np.full((480, 640, 3), 255, np.uint8)
    return out


def empty_room_frames(video: Path, seconds: tuple[float, ...]) -> dict[str, np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    frames = {}
    try:
        for t in seconds:
            cap.set(cv2.CAP_PROP_POS_MSEC, t * 1000)
            ok, bgr = cap.read()
            if ok:
                frames[f"empty-room-{t:g}s"] = np.ascontiguousarray(bgr[:, :, ::-1])
    finally:
        cap.release()
    return frames


def best_scores(engine: Engine, images: dict[str, object], preset: str) -> dict[str, tuple[int, float]]:
    """name -> (top-1 class, its probability)."""
    out = {}
    for name, (_, probs, error) in zip(
        images, engine.class_probabilities(images.values(), preset=preset), strict=False
    ):
        if error is None:
            assert probs is not None
            out[name] = (int(probs.argmax()), float(probs.max()))
    return out


def halves(names: list[str]) -> tuple[list[str], list[str]]:
    names = sorted(names)
    return names[0::2], names[1::2]


def report(title: str, photos: dict[str, tuple[int, float]], labels: dict[str, int],
           nothing: dict[str, tuple[int, float]], other: dict[str, tuple[int, float]]) -> list[float]:  # fmt: skip
    """Print the table of one half; returns each candidate's share of correct answers lost."""
    correct = np.array([s for n, (c, s) in photos.items() if c == labels[n]])
    blanks = np.array([s for _, s in nothing.values()])
    others = np.array([s for _, s in other.values()])
    assert len(correct) and len(blanks) and len(others)
    print(f"\n{title}: {len(photos)} ImageNet photos ({len(correct)} correct top-1), "
          f"{len(blanks)} images with nothing to recognise, {len(others)} other face-free photos")  # fmt: skip
    print("  floor | correct top-1 lost | ImageNet photos 'nothing' | blank/noise 'nothing' | other photos 'nothing'")
    lost = []
    for floor in CANDIDATES:
        lost.append(float(np.mean(correct < floor)))
        said_nothing = float(np.mean([s < floor for _, s in photos.values()]))
        print(f"  {floor:5.2f} | {lost[-1]:18.1%} | {said_nothing:25.1%} | {np.mean(blanks < floor):21.1%} | "
              f"{np.mean(others < floor):22.1%}")  # fmt: skip
    print(f"  best score of a blank/noise image: max {blanks.max():.3f}, median {np.median(blanks):.3f}")
    return lost


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path, help="the shared data folder (../shared/data)")
    ap.add_argument("--preset", default="fast")
    args = ap.parse_args()
    root = args.data / "imagenet" / "sample-334"
    rows = read_labels(root / "labels.csv", root)
    labels = {p.name: label for p, label in rows}
    blank_sources: dict[str, object] = {**synthetic_images(1), **synthetic_images(2)}
    other_sources: dict[str, object] = {
        p.name: p for p in sorted((args.data / "search" / "near-duplicates" / "base_images").glob("*.jpg"))
    }
    video = args.data / "video" / "intel_sample_videos" / "one-by-one-person-detection.mp4"
    other_sources.update(empty_room_frames(video, (0.5, 2.0)))

    with Engine() as engine:
        photos = best_scores(engine, {p.name: p for p, _ in rows}, args.preset)
        nothing = best_scores(engine, blank_sources, args.preset)
        other = best_scores(engine, other_sources, args.preset)
    print(f"preset {args.preset}")
    for name, (_, score) in sorted({**nothing, **other}.items()):
        print(f"  {name:32s} best {score:.3f}")
    split = [halves(list(group)) for group in (photos, nothing, other)]
    lost = []
    for half, title in enumerate(("tuning half", "held-out half")):
        groups = [
            {n: group[n] for n in names[half]} for group, names in zip((photos, nothing, other), split, strict=False)
        ]
        lost.append(report(title, groups[0], labels, groups[1], groups[2]))
    chosen = max(f for f, share in zip(CANDIDATES, lost[0], strict=False) if share <= MAX_LOST_SHARE)
    print(f"\nchosen on the tuning half: {chosen} (highest floor losing <= {MAX_LOST_SHARE:.0%} of correct answers)")


if __name__ == "__main__":
    main()
