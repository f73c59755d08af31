"""``ocula index`` photos/s in-process against ``--ray local`` (Ray Data actors), in one script.

The same folder is indexed into a fresh collection (a new temporary data dir per run; one shared
cache dir, so the ONNX graph is converted once, by a warm-up embedding before any timing):

- local: ``Engine.index_folder(..., ray=None)``, ocula's default threads;
- Ray cold: ``ray="local"``, as ``ocula index --ray local`` runs it: the wall time includes
  starting Ray (with this machine's CPUs) and shutting it down;
- Ray warm: this script calls ``ray.init`` itself with the options ocula uses, then indexes with
  ``ray="auto"`` (ocula joins a running Ray and leaves it up) several times in one session: the
  first call still starts Ray Data's workers and actors, the later ones show what a long-lived
  cluster costs per run.

Printed for each (the fastest of ``--repeat`` runs, with the range of the wall times): wall
time and photos/s; the time to the first result (start-up: Ray, actors, model loads); and the
rate from the first result to the last, after the first batch (the steady state a large folder
tends to; it flatters Ray a little, whose actors work ahead of the first result the caller
sees). Then the ratios Ray/local, and the largest difference between the vectors the Ray and
local runs stored, per item. With ``--milvus`` the local and Ray warm runs are repeated with
``vectors="milvus-lite:..."``, and the store writes alone (the same vectors, added in ocula's
commits of 32) are timed for FAISS and Milvus Lite.

    python benchmarks/index_ray.py                          # sample-334, best of 3, ~1 min on 2 cores
    python benchmarks/index_ray.py --milvus                 # and Milvus Lite (~1.5 min)
    python benchmarks/index_ray.py --repeat 1               # a quick look (~30 s)
    python benchmarks/index_ray.py --folder ~/Pictures
"""

# On a 2-core machine Ray cannot be faster than local: both runs use the same two CPUs, and Ray
# adds process start-up, actor model loads, serialisation and scheduling on top, so a Ray run
# never finishes sooner. (Its first-to-last rate can still match local's: the caller writes to
# the collection while the actors embed, where a local run does one after the other.) What this
# measures is the overhead ratio; the Ray path's point is that it scales with the CPUs of a
# cluster (one actor per CPU), which a single process cannot.

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ocula import Collection, Engine, Settings
from ocula.collections import NewItem
from ocula.config import available_cpus
from ocula.engine.search import COMMIT_EVERY
from ocula.io import iter_image_paths

NAME = "bench"
FOLDER = "/work/shared/data/imagenet/sample-334"


class Run:
    """One timed ``index_folder``: wall time and the time of every result."""

    def __init__(self, label: str, data_dir: Path, wall: float, stamps: list[float], failed: int):
        self.label, self.data_dir, self.wall, self.stamps, self.failed = label, data_dir, wall, stamps, failed

    @property
    def rate(self) -> float:
        return len(self.stamps) / self.wall

    def steady(self, first_batch: int) -> float:
        """Photos/s from the first result to the last: the first batch arrives at once, so
        the photos after it over the time after it."""
        if len(self.stamps) <= first_batch:
            return float("nan")
        return (len(self.stamps) - first_batch) / (self.stamps[-1] - self.stamps[0])


class Mode:
    """A way of indexing, run ``repeat`` times."""

    def __init__(self, label: str, ray: str | None, vectors: str | None = None):
        self.label, self.ray, self.vectors = label, ray, vectors
        self.runs: list[Run] = []

    def run(self, folder: Path, root: Path, cache_dir: Path) -> Run:
        data_dir = Path(tempfile.mkdtemp(prefix=f"{self.label.replace(' ', '-')}-", dir=root))
        vectors = f"milvus-lite:{data_dir / 'vectors.db'}" if self.vectors == "milvus-lite" else self.vectors
        stamps: list[float] = []
        start = time.perf_counter()
        with Engine(Settings(data_dir=data_dir, cache_dir=cache_dir)) as engine:
            # faces=False: Ray embeds; the faces `ocula index` stores by default are found in the
            # calling process whatever the mode, so they would only add the same cost to every row.
            report = engine.index_folder(
                folder,
                NAME,
                ray=self.ray,
                vectors=vectors,
                faces=False,
                progress=lambda d, t: stamps.append(time.perf_counter()),
            )
        wall = time.perf_counter() - start
        return Run(self.label, data_dir, wall, [s - start for s in stamps], len(report.failed))

    def measure(self, folder: Path, root: Path, cache_dir: Path, repeat: int) -> Mode:
        self.runs += [self.run(folder, root, cache_dir) for _ in range(repeat)]
        return self

    @property
    def best(self) -> Run:
        return min(self.runs, key=lambda r: r.wall)

    def describe(self, first_batch: int, note: str = "") -> str:
        run = self.best
        walls = [r.wall for r in self.runs]
        spread = f" ({min(walls):.1f}-{max(walls):.1f})" if len(walls) > 1 else " " * 10
        failed = f", {run.failed} FAILED" if run.failed else ""
        return (
            f"  {self.label:<21} {run.wall:4.1f} s{spread} {run.rate:5.0f} photos/s | first result "
            f"{run.stamps[0]:4.1f} s | first-to-last {run.steady(first_batch):4.0f} photos/s{failed}{note}"
        )


def busy_cpus(seconds: float = 1.0) -> float:
    """CPUs kept busy by anything over ``seconds`` (from /proc/stat; NaN elsewhere): other work on
    the machine makes the runs incomparable."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as fh:
            ticks = [int(t) for t in fh.readline().split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]  # all, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, IndexError, ValueError):
        return float("nan")
    return (1 - (idle1 - idle0) / max(1, total1 - total0)) * available_cpus()


def stored_vectors(run: Run) -> dict[str, np.ndarray]:
    with Collection.open(NAME, settings=Settings(data_dir=run.data_dir)) as coll:
        return {item.id: coll.vectors(item.id) for item in coll.items()}


def compare(reference: dict[str, np.ndarray], run: Run) -> str:
    other = stored_vectors(run)
    if set(other) != set(reference):
        return f"  {run.label:<21} DIFFERENT ITEMS: {len(set(reference) ^ set(other))} ids in one run only"
    d = np.array(
        [
            float(np.max(np.abs(v - other[i]))) if v.shape == other[i].shape else float("inf")
            for i, v in reference.items()
        ]
    )
    return (
        f"  {run.label:<21} {len(d)} items, max |difference| per item: largest {d.max():.2e}, "
        f"median {np.median(d):.2e}, identical {int((d == 0).sum())}/{len(d)}"
    )


def write_only(root: Path, reference: dict[str, np.ndarray], vectors: str) -> float:
    """Seconds to add ``reference``'s vectors to a new collection in commits of COMMIT_EVERY."""
    data_dir = Path(tempfile.mkdtemp(prefix="write-", dir=root))
    store = f"milvus-lite:{data_dir / 'vectors.db'}" if vectors == "milvus-lite" else vectors
    items = [NewItem(i, v, path=i, content_sha256="0" * 64, source="bench") for i, v in reference.items()]
    dim = next(iter(reference.values())).shape[1]
    start = time.perf_counter()
    with Collection.open(
        NAME, settings=Settings(data_dir=data_dir), embedder="bench", dim=dim, create=True, vectors=store
    ) as coll:
        for s in range(0, len(items), COMMIT_EVERY):
            coll.add(items[s : s + COMMIT_EVERY])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=Path(FOLDER))
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; the fastest is reported")
    parser.add_argument("--milvus", action="store_true", help="also index into Milvus Lite files")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="converted ONNX graphs (default: ocula's cache dir)"
    )
    args = parser.parse_args()
    import ray

    folder = args.folder.expanduser().resolve()
    paths = sorted(iter_image_paths([folder]))
    if not paths:
        raise SystemExit(f"no images under {folder}")
    cache_dir = args.cache_dir or Settings().cache_dir
    root = Path(tempfile.mkdtemp(prefix="ocula-index-ray-"))
    try:
        # Warm-up, untimed: convert (or find) the ONNX graph, and read every photo once so that
        # no run pays for the disk.
        settings = Settings(data_dir=root / "warmup", cache_dir=cache_dir)
        first_batch = settings.batch_size
        for p in paths:
            p.read_bytes()
        with Engine(settings) as engine:
            list(engine.embed_images(paths[:first_batch]))
        busy_before = busy_cpus()
        print(
            f"{len(paths)} photos under {folder}, {available_cpus()} CPUs ({settings.effective_threads} ocula "
            f"threads), Ray {ray.__version__}; fastest of {args.repeat} run(s) per mode"
        )
        measure = {"folder": folder, "root": root, "cache_dir": cache_dir, "repeat": args.repeat}

        local = Mode("local", None).measure(**measure)
        cold = Mode("ray local (cold)", "local").measure(**measure)
        # A Ray session of our own, started as ocula's _connect starts it for "local"; ocula
        # joins it for "auto" and leaves it running.
        start = time.perf_counter()
        ray.init(
            num_cpus=settings.effective_threads,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
        ray_start = time.perf_counter() - start
        try:
            first = Mode("ray auto (1st call)", "auto").measure(**(measure | {"repeat": 1}))
            warm = Mode("ray auto (warm)", "auto").measure(**measure)
            milvus_warm = Mode("ray auto, milvus-lite", "auto", "milvus-lite")
            if args.milvus:
                milvus_warm.measure(**measure)
        finally:
            start = time.perf_counter()
            ray.shutdown()
            ray_stop = time.perf_counter() - start
        milvus_local = Mode("local, milvus-lite", None, "milvus-lite")
        if args.milvus:
            milvus_local.measure(**measure)
        busy_after = busy_cpus()

        if max(busy_before, busy_after) > 0.2:
            print(
                f"WARNING: other processes kept {busy_before:.1f} CPUs busy before the runs and {busy_after:.1f} "
                "after: these numbers are not this machine's"
            )
        print("into a new FAISS collection (wall: fastest (range)):")
        print(local.describe(first_batch))
        print(cold.describe(first_batch, "  (wall incl. Ray start-up and shutdown)"))
        print(first.describe(first_batch, "  (wall incl. Ray Data's workers and actors)"))
        print(warm.describe(first_batch))
        print(f"  (ray.init by this script: {ray_start:.1f} s; ray.shutdown: {ray_stop:.1f} s)")
        rate, steady = local.best.rate, local.best.steady(first_batch)
        print(
            f"ratio Ray/local photos/s, whole run: cold {cold.best.rate / rate:.2f}x, 1st call in a session "
            f"{first.best.rate / rate:.2f}x, warm {warm.best.rate / rate:.2f}x; first-to-last: cold "
            f"{cold.best.steady(first_batch) / steady:.2f}x, warm {warm.best.steady(first_batch) / steady:.2f}x"
        )
        if args.milvus:
            print("into a new Milvus Lite collection:")
            print(milvus_local.describe(first_batch))
            print(milvus_warm.describe(first_batch))
            print(
                f"ratio Milvus Lite/FAISS photos/s, whole run: local {milvus_local.best.rate / rate:.2f}x, "
                f"Ray warm {milvus_warm.best.rate / warm.best.rate:.2f}x; first-to-last: local "
                f"{milvus_local.best.steady(first_batch) / steady:.2f}x, Ray warm "
                f"{milvus_warm.best.steady(first_batch) / warm.best.steady(first_batch):.2f}x"
            )

        reference = stored_vectors(local.best)
        print("stored vectors against the local run's:")
        others = [cold, first, warm] + ([milvus_local, milvus_warm] if args.milvus else [])
        for mode in others:
            print(compare(reference, mode.best))

        if args.milvus:
            faiss_s = statistics.median(write_only(root, reference, "faiss") for _ in range(3))
            lite_s = statistics.median(write_only(root, reference, "milvus-lite") for _ in range(3))
            n = len(reference)
            print(f"store writes alone ({n} vectors in commits of {COMMIT_EVERY}, median of 3):")
            print(f"  faiss        {faiss_s:5.2f} s {n / faiss_s:7.0f} items/s")
            print(f"  milvus-lite  {lite_s:5.2f} s {n / lite_s:7.0f} items/s ({lite_s / faiss_s:.1f}x the time)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
