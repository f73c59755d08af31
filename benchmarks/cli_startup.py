"""How long ``ocula`` takes to start and to refuse a faceless photo (issue 17: a blank 1500x1500
and a blank 8000x5000 photo get "no face" in < 1 s and < 500 MB through ``ocula faces verify``).

Each command runs ``--repeat`` times in a fresh process; per command the best and the median
wall time, the user+sys CPU time of the run with the best wall time, and the largest peak RSS
(all from ``os.wait4``). CPU time is the figure to compare on a busy machine: wall time there
includes waiting for a core, CPU time does not (though it still grows somewhat with load). The
peers are the floor any Python CLI pays: ``python -c pass`` and ``python -c "import numpy"``
(ocula needs numpy, and numpy is about half of a quiet start).

    python benchmarks/cli_startup.py                  # about half a minute; ocula's default descriptor
    python benchmarks/cli_startup.py --repeat 9 --descriptor sface
    python benchmarks/cli_startup.py --src /path/to/other/checkout/src   # the same on other code

Start-up includes compiling ocula's modules when their bytecode is not cached (a source
checkout run with PYTHONDONTWRITEBYTECODE=1); an installed wheel has it cached. The script says
when it is missing; ``--compile`` writes it (``python -m compileall``) before measuring.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _child import run_child  # benchmarks/_child.py (the script's folder is on sys.path)

PHOTOS = {
    "blank 640x480 png": ((640, 480), "png"),
    "blank 1500x1500 png": ((1500, 1500), "png"),
    "blank 1500x1500 jpg": ((1500, 1500), "jpg"),
    "blank 8000x5000 png": ((8000, 5000), "png"),
    "blank 8000x5000 jpg": ((8000, 5000), "jpg"),
}


MAKE_PHOTO = r"""
import sys
from PIL import Image
w, h, fmt, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
Image.new("RGB", (w, h), "white").save(path, **({"quality": 90} if fmt == "jpg" else {}))
"""


def make_photos(folder: Path) -> dict[str, Path]:
    """The blank photos, each made in a child process: Linux keeps a process's peak RSS across
    fork and exec, so a parent that had held a 40 MP image would lend every child its peak."""
    paths = {}
    for name, ((w, h), fmt) in PHOTOS.items():
        path = folder / f"{w}x{h}.{fmt}"
        subprocess.run([sys.executable, "-c", MAKE_PHOTO, str(w), str(h), fmt, str(path)], check=True)
        paths[name] = path
    return paths


def measure(args: list[str], env: dict[str, str], repeat: int, timeout: float) -> dict[str, float]:
    runs = [run_child(args, env=env, timeout=timeout) for _ in range(repeat)]
    best = min(runs, key=lambda r: r.wall)
    return {
        "wall_best": best.wall,
        "wall_median": statistics.median(r.wall for r in runs),
        "cpu_of_best": best.cpu,
        "cpu_median": statistics.median(r.cpu for r in runs),
        "peak_mb": max(r.peak_mb for r in runs),
        "exit": best.code,
    }


def ocula_package(env: dict[str, str]) -> Path:
    """The folder of the ocula package the children import (PYTHONPATH included)."""
    code = "import ocula, os; print(os.path.dirname(ocula.__file__))"
    return Path(
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()
    )


def bytecode_cached(package: Path) -> bool:
    return all(Path(importlib.util.cache_from_source(str(p))).exists() for p in package.rglob("*.py"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--descriptor", default="default", help="--descriptor of faces verify (default: none given, ocula's own)"
    )
    parser.add_argument("--src", type=Path, help="put this folder first on PYTHONPATH (another checkout's src)")
    parser.add_argument("--compile", action="store_true", help="write ocula's bytecode first (compileall)")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join([str(args.src.resolve()), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    package = ocula_package(env)
    if args.compile:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], env=env, check=True)
    print(f"ocula from {package}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    if not bytecode_cached(package):
        print("note: ocula's bytecode is not cached: start-up below includes compiling it (--compile writes it)")

    commands: dict[str, list[str]] = {
        "python -c pass (peer)": [sys.executable, "-c", "pass"],
        "python -c 'import numpy' (peer)": [sys.executable, "-c", "import numpy"],
        "python -c 'import ocula'": [sys.executable, "-c", "import ocula"],
        "ocula --version": [sys.executable, "-m", "ocula", "--version"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in make_photos(Path(tmp)).items():
            chosen = [] if args.descriptor == "default" else ["--descriptor", args.descriptor]
            commands[f"faces verify {name}"] = [
                sys.executable, "-m", "ocula", "faces", "verify", str(path), str(path), *chosen,
            ]  # fmt: skip
        print(f"\n{'command':42} {'wall best':>9} {'median':>7} {'cpu':>6} {'cpu med':>7} {'peak MB':>8} exit")
        for name, argv in commands.items():
            row = measure(argv, env, args.repeat, args.timeout)
            print(
                f"{name:42} {row['wall_best']:9.2f} {row['wall_median']:7.2f} {row['cpu_of_best']:6.2f} "
                f"{row['cpu_median']:7.2f} {row['peak_mb']:8.0f} {row['exit']:4d}"
            )
    print("\nfaces verify of a blank photo exits 1 (no face found); every other command exits 0.")


if __name__ == "__main__":
    main()
