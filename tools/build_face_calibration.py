"""Measure the shipped face calibration table (FMR -> similarity threshold).

Runs the same pipeline as ``ocula.verify`` (HOG detector with the CNN where HOG finds no face,
largest face, 5-point alignment, flip TTA) on every pair of ../shared/data/faces/celeba-80/identities.csv and writes
src/ocula/data/calibration_dlib_resnet_face.json:

    python tools/build_face_calibration.py
"""

from __future__ import annotations

import datetime
from pathlib import Path

from ocula import Engine, __version__
from ocula.eval.pairs import evaluate_pairs, read_pairs
from ocula.pipelines.calibration import CalibrationTable
from ocula.pipelines.faces import EMBEDDER_MODEL

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "faces" / "celeba-80"
OUT = REPO / "src" / "ocula" / "data" / f"calibration_{EMBEDDER_MODEL}.json"


def main() -> None:
    pairs = read_pairs(DATA / "identities.csv", DATA)
    with Engine() as engine:
        report = evaluate_pairs(engine, pairs)
    table = CalibrationTable.from_scores(
        report.scores[~report.same],
        report.scores[report.same],
        meta={
            "model": EMBEDDER_MODEL,
            "similarity": "1 - |a - b|^2 / 2 of flip-averaged dlib descriptors",
            "pipeline": "HOG detector (CNN where HOG finds no face), largest face, 5-point alignment "
            "(150 px chip, padding 0.25), flip TTA",
            "data": "shared/data/faces/celeba-80/identities.csv: every pair of 1,057 in-the-wild CelebA photos "
            "of 80 people (CelebA: non-commercial research use)",
            "pairs_note": "impostor pairs share photos, so they are not independent; pairs with a failure to "
            f"enrol ({report.failures_to_enrol} photos) are left out of both columns",
            "measured": datetime.date.today().isoformat(),
            "ocula": __version__,
            "command": "python tools/build_face_calibration.py",
        },
    )
    table.save(OUT)
    print(
        f"{OUT}: {len(table.fmr)} rows, {table.meta['n_impostor']:,} impostor / {table.meta['n_genuine']:,} genuine pairs"
    )


if __name__ == "__main__":
    main()
