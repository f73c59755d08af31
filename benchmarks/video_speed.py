"""Video analysis speed: the realtime factor (video seconds per wall-clock second) of ``ocula
video`` for each option set, on the clips in ../shared/data/video, on this machine.

The peer in the same script is the same analysis on every frame (``every=0``), which is what a
per-frame loop over face_recognition or DeepFace does: the ratio shows what sampling by time buys.
A realtime factor of 2 means a 10-minute video takes 5 minutes; above 1, a live camera keeps up.

    python benchmarks/video_speed.py                 # about 4 minutes on 2 cores
    python benchmarks/video_speed.py --quick         # the Hamilton clip only
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ocula import Engine, Settings
from ocula.galleries import Gallery
from ocula.video import analyze

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "video"
HAMILTON = DATA / "face_recognition_hamilton"
INTEL = DATA / "intel_sample_videos" / "one-by-one-person-detection.mp4"


def run(engine: Engine, clip: Path, gallery, **options) -> tuple[float, int, float]:
    """(realtime factor, analysed frames, wall seconds) of one run."""
    start = time.perf_counter()
    analysis = analyze(clip, engine=engine, gallery=gallery, **options)
    report = analysis.run()
    return report.realtime_factor, report.analysed_frames, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the Hamilton clip only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Engine(Settings(data_dir=Path(tmp) / "data")) as engine:
        out = Path(tmp) / "annotated.mp4"
        with Gallery.open("watch", engine=engine, create=True) as gallery:
            gallery.enroll("Lin-Manuel Miranda", [HAMILTON / "lin-manuel-miranda.png"])
            gallery.enroll("Alex Lacamoire", [HAMILTON / "alex-lacamoire.png"])
            run(engine, HAMILTON / "short_hamilton_clip.mp4", gallery, max_seconds=1)  # load the models once
            sets = [
                ("faces, tracks (no gallery)", None, {}),
                ("watchlist (--gallery)", gallery, {}),
                ("watchlist, every frame (peer)", gallery, {"every": 0.0}),
                ("watchlist + --tags", gallery, {"tags": True}),
                ("watchlist + --count-people", gallery, {"count_people": True}),
                ("watchlist + --annotate --redact", gallery, {"annotate": out, "redact": True}),
                ("all of the above", gallery, {"tags": True, "count_people": True, "annotate": out, "redact": True}),
            ]
            clips = [("Hamilton 640x360, 9.2 s", HAMILTON / "short_hamilton_clip.mp4")]
            if not args.quick:
                clips.append(("one-by-one 768x432, 139 s", INTEL))
            for title, clip in clips:
                print(f"\n{title}: realtime factor (best of 2 for the short clip)")
                print(f"{'options':<34} {'realtime':>8} {'analysed':>8} {'wall s':>7} {'vs every frame':>14}")
                results = {}
                for name, g, opts in sets:
                    if clip == INTEL and "every frame" in name:
                        continue  # about 10 minutes; the short clip shows the ratio
                    tries = 2 if clip != INTEL else 1
                    results[name] = max((run(engine, clip, g, **opts) for _ in range(tries)), key=lambda r: r[0])
                peer = results.get("watchlist, every frame (peer)")
                for name, (rtf, frames, wall) in results.items():
                    ratio = f"{rtf / peer[0]:.1f}x" if peer else "-"
                    print(f"{name:<34} {rtf:8.2f} {frames:8d} {wall:7.1f} {ratio:>14}")


if __name__ == "__main__":
    main()
