"""Open-set 1:N identification on an identities CSV (``image_path,identity``), FRVT style.

Protocol (deterministic): identities sorted by name; every second one (the 2nd, 4th, ...) is not
enrolled and its photos are non-mated probes. Each enrolled identity's first ``enroll`` photos,
sorted by path, are its gallery photos (through :meth:`Gallery.enroll`, so the quality gate
applies and refusals count as failures to enrol); its other photos are mated probes.

Measures (largest face per probe):

- rank-k: share of mated probes whose mate is among the k best candidates (CMC), no threshold.
- FNIR at FPIR: the threshold is set on the non-mated probes' best scores so that a share of at
  most FPIR of them name anyone; FNIR is the share of mated probes whose mate is not the rank-1
  candidate at or above it. A probe without a found face is a miss when mated and a correct
  "unknown" when non-mated.
- The calibrated operating point: the threshold ocula itself would use for the gallery's size
  (:meth:`Gallery.threshold`), with the FPIR achieved at it next to the one asked for (and the
  one the calibration expects, larger when the threshold is capped at the table's end), and
  the FNIR at it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DatasetError
from .pairs import _open_csv

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["FPIRS", "IdentifyReport", "evaluate_identify", "fnir_at_fpir", "read_identities", "split_protocol"]

FPIRS = (0.01, 0.1)
MAX_RANK = 10


def read_identities(path: Path, root: Path) -> tuple[list[Path], list[str]]:
    """Images and their identities from ``image_path,identity``; every image must exist."""
    path, root = Path(path), Path(root)
    columns, rows = _open_csv(path)
    if not {"image_path", "identity"} <= set(columns):
        raise DatasetError(f"{path}: expected columns image_path,identity, found {','.join(columns)}")
    images, ids = [], []
    for line, row in enumerate(rows, start=2):
        rel, identity = row.get("image_path") or "", row.get("identity") or ""
        if not rel or not identity:
            raise DatasetError(f"{path}:{line}: empty image_path or identity")
        images.append(root / rel)
        ids.append(identity)
    if len(set(images)) != len(images):
        raise DatasetError(f"{path}: an image is listed twice")
    missing = [str(p) for p in images if not p.is_file()]
    if missing:
        raise DatasetError(f"{len(missing)} images of {path} are missing under {root}: {', '.join(missing[:3])}")
    if len(set(ids)) < 2:
        raise DatasetError(f"{path}: needs at least two identities")
    return images, ids


def split_protocol(
    images: list[Path], ids: list[str], enroll: int
) -> tuple[dict[str, list[int]], list[tuple[int, str]], list[int]]:
    """(gallery: identity → image indices, mated probes: (index, identity), non-mated: indices)."""
    if enroll < 1:
        raise DatasetError("--enroll must be at least 1")
    by_id: dict[str, list[int]] = {}
    for i, identity in enumerate(ids):
        by_id.setdefault(identity, []).append(i)
    gallery, mated, nonmated = {}, [], []
    for n, identity in enumerate(sorted(by_id)):
        members = sorted(by_id[identity], key=lambda i: str(images[i]))
        if n % 2 == 1:
            nonmated += members
        else:
            gallery[identity] = members[:enroll]
            mated += [(i, identity) for i in members[enroll:]]
    return gallery, mated, nonmated


def fnir_at_fpir(
    mated_hit: np.ndarray, mated_score: np.ndarray, nonmated_score: np.ndarray, fpir: float
) -> tuple[float, float]:
    """(FNIR, threshold) with at most ``fpir`` of non-mated best scores at or above the threshold.

    ``mated_hit``: the mate is the rank-1 candidate; ``mated_score``: that candidate's score.
    Probes without a face carry -inf."""
    ranked = np.sort(nonmated_score)[::-1]
    allowed = int(np.floor(fpir * len(ranked)))
    threshold = float(np.nextafter(ranked[allowed], np.inf)) if allowed < len(ranked) else -np.inf
    found = mated_hit & (mated_score >= threshold)
    return float(1 - found.mean()) if len(found) else float("nan"), threshold


@dataclass
class IdentifyReport:
    gallery_people: int
    gallery_templates: int
    mated_probes: int
    nonmated_probes: int
    rank1: float
    cmc: list[float]  # rank 1..MAX_RANK
    fnir_at_fpir: dict[str, float]
    thresholds: dict[str, float]
    calibrated: dict[str, dict[str, float]]
    failures_to_enrol: int
    probes_without_face: int
    seconds: float
    mated_hit: np.ndarray
    mated_score: np.ndarray
    nonmated_score: np.ndarray
    descriptor: str = "dlib"  # the face descriptor the gallery and probes were described with
    detector: str = "hog+cnn"

    def to_dict(self) -> dict[str, Any]:
        return {
            "descriptor": self.descriptor,
            "detector": self.detector,
            "gallery_people": self.gallery_people,
            "gallery_templates": self.gallery_templates,
            "mated_probes": self.mated_probes,
            "nonmated_probes": self.nonmated_probes,
            "rank1": round(self.rank1, 4),
            "cmc": [round(v, 4) for v in self.cmc],
            "fnir_at_fpir": {k: round(v, 4) for k, v in self.fnir_at_fpir.items()},
            "thresholds": {k: round(v, 4) for k, v in self.thresholds.items()},
            "calibrated": {k: {m: round(x, 4) for m, x in v.items()} for k, v in self.calibrated.items()},
            "failures_to_enrol": self.failures_to_enrol,
            "probes_without_face": self.probes_without_face,
            "seconds": round(self.seconds, 1),
        }


def evaluate_identify(
    engine: Engine,
    csv_path: Path,
    root: Path,
    *,
    enroll: int = 3,
    detector: str | None = None,
    descriptor: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IdentifyReport:
    """Run the protocol above with ``engine``; the gallery lives in a temporary data dir and is
    built with ``descriptor``; ``detector`` defaults to the descriptor's own."""
    from ..galleries import Gallery
    from ..pipelines.faces import DEFAULT_DESCRIPTOR, DEFAULT_DETECTORS, as_descriptor, as_detector

    chosen = as_descriptor(descriptor) if descriptor is not None else DEFAULT_DESCRIPTOR
    detector = (as_detector(detector) if detector is not None else DEFAULT_DETECTORS[chosen]).value

    start = time.perf_counter()
    images, ids = read_identities(csv_path, root)
    gallery_ix, mated, nonmated = split_protocol(images, ids, enroll)
    if not mated or not nonmated:
        raise DatasetError(
            f"{csv_path}: the protocol leaves {len(mated)} mated and {len(nonmated)} non-mated probes; "
            f"enrolled identities need more than {enroll} photos (--enroll) and there must be at least two identities"
        )
    faces: list[Any] = [None] * len(images)
    for i, result in enumerate(
        engine.faces_many(images, largest_only=True, face_expected=True, detector=detector, descriptor=chosen.value)
    ):
        if result.ok and len(result.faces):
            faces[i] = result.faces[:1]
        if progress:
            progress(i + 1, len(images))
    with tempfile.TemporaryDirectory(prefix="ocula-eval-identify-") as tmp:
        settings = engine.settings.replace(data_dir=Path(tmp), vectors="faiss")
        with Gallery.open("eval", settings=settings, engine=engine, create=True, descriptor=chosen) as gallery:
            fte = 0
            for identity, members in gallery_ix.items():
                photos = [faces[i] for i in members if faces[i] is not None]
                fte += len(members) - len(photos)
                if photos:
                    fte += len(gallery.enroll(identity, photos).refused)
            templates = int(gallery.info()["templates"])

            def search(indices: list[int]) -> list[list[Any]]:
                out = []
                for i in indices:
                    out.append([] if faces[i] is None else gallery.identify_faces(faces[i], k=MAX_RANK)[0].candidates)
                return out

            mated_found = search([i for i, _ in mated])
            nonmated_found = search(nonmated)
            calibrated = {}
            for fpir in FPIRS:
                limit = gallery.threshold(fpir)
                calibrated[str(fpir)] = {"threshold": limit.threshold, "fpir_asked": fpir,
                                         "fpir_expected": limit.fpir_expected}
            people = len(gallery)
    ranks = np.array(
        [
            next((r for r, c in enumerate(cands) if c.person == mate), MAX_RANK)
            for cands, (_, mate) in zip(mated_found, mated, strict=False)
        ]
    )
    cmc = [float(np.mean(ranks < r)) for r in range(1, MAX_RANK + 1)]
    hit = ranks == 0
    top = np.array([c[0].similarity if c else -np.inf for c in mated_found])
    nonmated_top = np.array([c[0].similarity if c else -np.inf for c in nonmated_found])
    fnir, thresholds = {}, {}
    for fpir in FPIRS:
        fnir[str(fpir)], thresholds[str(fpir)] = fnir_at_fpir(hit, top, nonmated_top, fpir)
    for point in calibrated.values():
        t = point["threshold"]
        point["fpir"] = float(np.mean(nonmated_top >= t))
        point["fnir"] = float(1 - np.mean(hit & (top >= t)))
    return IdentifyReport(
        gallery_people=people,
        gallery_templates=templates,
        mated_probes=len(mated),
        nonmated_probes=len(nonmated),
        rank1=cmc[0],
        cmc=cmc,
        fnir_at_fpir=fnir,
        thresholds=thresholds,
        calibrated=calibrated,
        failures_to_enrol=fte,
        probes_without_face=sum(faces[i] is None for i in [*(i for i, _ in mated), *nonmated]),
        seconds=time.perf_counter() - start,
        mated_hit=hit,
        mated_score=top,
        nonmated_score=nonmated_top,
        descriptor=chosen.value,
        detector=detector,
    )
