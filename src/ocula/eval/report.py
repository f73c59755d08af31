"""``ocula eval report``: every evaluation ocula has data for, in one HTML page and one Markdown
file, with plots, model versions, data hashes and the command line.

The data root is searched for the layouts of ``../shared/data`` (see its README):
``imagenet/*/labels.csv`` (tagging), ``faces/*/pairs.csv`` with ``image_a`` (verification),
``faces/*/identities.csv`` (identification), a folder of photos for the built-in retrieval edits
(the ImageNet sample) and ``search/*/groundtruth.csv`` (near-duplicate groups), and
``video/face_recognition_hamilton`` (watchlist). A pairs file with a ``group`` column gets
per-group accuracy and the gap between groups; ImageNet is also broken down by WordNet branch.
A last section times each pipeline stage alone on a sample of the ImageNet and face photos
(:mod:`ocula.eval.stages`).
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._version import __version__
from ..errors import DatasetError
from ..hashing import file_sha256
from ..models.registry import get_model
from ..pipelines.search_embed import SEARCH_MODEL
from .imagenet import read_labels
from .metrics import topk_correct
from .pairs import read_pairs
from .verification import roc, tar_at_far

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["CatalogVectors", "Section", "build_report", "find_datasets", "pairs_by_group"]

#: ImageNet classes are grouped by the first of these WordNet concepts above them.
IMAGENET_GROUPS = ("animal", "artifact", "food", "natural object", "person")


@dataclass
class Section:
    title: str
    command: str  # how to reproduce this section alone
    data: str  # the data it used
    data_sha256: str
    rows: list[tuple[str, str]] = field(default_factory=list)  # (measure, value)
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)  # (caption, header, rows)
    plots: list[str] = field(default_factory=list)  # file names in the report folder
    numbers: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class CatalogVectors:
    """The search vectors of the photos one report run embeds, for that run only: build_report
    makes one and hands it to the sections that embed a catalog (the retrieval evaluation of the
    ImageNet sample and the speed section's collection are the same 334 photos, embedded once).
    :meth:`embed_all` answers as :meth:`Engine.embed_all`; a photo's vector does not depend on
    the batch it was embedded in."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._vectors: dict[str, np.ndarray] = {}
        self._failures: dict[str, tuple[str, Any]] = {}  # path -> (name, error), as embed_all gives them

    def embed_all(self, sources: Iterable[Path]) -> tuple[list[int], np.ndarray, list[tuple[str, Any]]]:
        paths = [str(p) for p in sources]
        missing = [p for p in dict.fromkeys(paths) if p not in self._vectors and p not in self._failures]
        if missing:
            kept, vectors, failed = self._engine.embed_all([Path(p) for p in missing])
            self._vectors |= {missing[i]: vectors[j] for j, i in enumerate(kept)}
            embedded = set(kept)
            refused = [p for i, p in enumerate(missing) if i not in embedded]
            self._failures |= dict(zip(refused, failed, strict=True))
        kept = [i for i, p in enumerate(paths) if p in self._vectors]
        failed = [self._failures[p] for p in paths if p in self._failures]
        if kept:
            return kept, np.stack([self._vectors[paths[i]] for i in kept]), failed
        recipe = get_model(SEARCH_MODEL).search
        assert recipe is not None  # the search model's registry entry holds its recipe
        return kept, np.zeros((0, recipe.dim), np.float32), failed


def data_hash(paths: list[Path], root: Path) -> str:
    """sha256 over the relative names and bytes of ``paths``: any changed file changes it."""
    digest = hashlib.sha256()
    for p in sorted(paths):
        digest.update(str(p.relative_to(root)).encode() + b"\0")
        digest.update(bytes.fromhex(file_sha256(p)))
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def find_datasets(root: Path) -> dict[str, list[Path]]:
    """What ``root`` holds, by evaluation."""
    return {
        "imagenet": sorted(p.parent for p in root.glob("imagenet/*/labels.csv")),
        "pairs": sorted(p for p in root.glob("faces/*/pairs.csv") if _both_kinds_of_pairs(p)),
        "identify": sorted(root.glob("faces/*/identities.csv")),
        "retrieval": sorted(p.parent for p in root.glob("imagenet/*/labels.csv"))
        + sorted(root.glob("search/*/groundtruth.csv")),
        "video": sorted(p for p in root.glob("video/face_recognition_hamilton") if p.is_dir()),
        "speed": [root] if any(root.glob("imagenet/*/labels.csv")) or any(root.glob("faces/*/identities.csv")) else [],
    }  # fmt: skip


def _both_kinds_of_pairs(path: Path) -> bool:
    """A pairs CSV that can measure verification: same- and different-person pairs (celeba-80's
    pairs.csv holds only same-person pairs; its identities.csv serves identification)."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not {"image_a", "image_b", "same"} <= set(reader.fieldnames or ()):
                return False
            return len({row["same"].strip().lower() in ("1", "true", "yes") for row in reader}) == 2
    except (OSError, UnicodeDecodeError, csv.Error):
        return False


def _pct(v: float | None) -> str:
    return "—" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{100 * v:.2f}%"


# -- sections -------------------------------------------------------------------------------------
def imagenet_section(engine: Engine, folder: Path, out: Path) -> Section:
    from .plots import plot_bars

    rows = read_labels(folder / "labels.csv", folder)
    tagger = engine.tagger("fast")
    tax = tagger.taxonomy
    list(engine.class_probabilities([rows[0][0]]))  # warm-up, not timed
    start = time.perf_counter()
    probs, labels = [], []
    for (_, p, _err), (_, y) in zip(engine.class_probabilities([r[0] for r in rows]), rows, strict=False):
        if p is not None:
            probs.append(p)
            labels.append(y)
    seconds = time.perf_counter() - start
    P, Y = np.stack(probs), np.array(labels)
    top1, top5 = topk_correct(P, Y, 1), topk_correct(P, Y, 5)
    pred = P.argmax(1)
    s = Section("ImageNet tagging (fast preset)", f"ocula eval imagenet {folder} --labels {folder / 'labels.csv'}",
                str(folder), data_hash(_files(folder), folder), seconds=seconds)  # fmt: skip
    s.rows += [("images", str(len(Y))), ("top-1 error", _pct(1 - top1.mean())), ("top-5 error", _pct(1 - top5.mean())),
               ("images/s (decode + network)", f"{len(Y) / seconds:.1f}"),
               ("models", ", ".join(tagger.preset.models))]  # fmt: skip
    group_of = []
    for y in Y:
        chain = tax.class_ancestors[y]
        group_of.append(next((g for g in chain if g in IMAGENET_GROUPS), "other"))
    group_of = np.array(group_of)
    per_group = []
    for g in sorted(set(group_of)):
        m = group_of == g
        per_group.append([g, str(int(m.sum())), _pct(1 - top1[m].mean()), _pct(1 - top5[m].mean())])
    errors = {g: 1 - top1[group_of == g].mean() for g in set(group_of) if (group_of == g).sum() >= 20}
    gap = max(errors.values()) - min(errors.values()) if len(errors) > 1 else 0.0
    s.tables.append((f"By WordNet branch (groups of 20+ images: top-1 error gap {_pct(gap)})",
                     ["branch", "images", "top-1 error", "top-5 error"], per_group))  # fmt: skip
    wrong = np.flatnonzero(pred != Y)
    confused = sorted(wrong, key=lambda i: -P[i, pred[i]])[:12]
    s.tables.append(("Most confident mistakes (true class → predicted)", ["true", "predicted", "score"],
                     [[tax.labels[Y[i]], tax.labels[pred[i]], f"{P[i, pred[i]]:.3f}"] for i in confused]))  # fmt: skip
    s.plots.append(plot_bars({r[0]: 1 - float(r[2].rstrip("%")) / 100 for r in per_group},
                             out / "imagenet_groups.png", ylabel="top-1 accuracy",
                             title="ImageNet top-1 accuracy by WordNet branch").name)  # fmt: skip
    s.numbers = {"n": len(Y), "failures": len(rows) - len(Y), "models": list(tagger.preset.models),
                 "top1_error": float(1 - top1.mean()), "top5_error": float(1 - top5.mean()),
                 "group_top1_error": {g: float(e) for g, e in errors.items()}, "group_gap": float(gap)}  # fmt: skip
    return s


def pairs_section(engine: Engine, csv_path: Path, out: Path) -> Section:
    from .pairs import evaluate_pairs
    from .plots import plot_roc_det

    root = _image_root(csv_path, "image_a")
    pairs = read_pairs(csv_path, root)
    cropped = "lfw" in csv_path.parent.name  # the shared LFW copy holds tight crops
    report = evaluate_pairs(engine, pairs, cropped=cropped)
    cmd = f"ocula eval pairs {csv_path} --root {root}" + (" --cropped" if cropped else "")
    name = csv_path.parent.name
    folder = csv_path.parent
    s = Section(
        f"Face verification: {name}", cmd, str(folder), data_hash(_files(folder), folder), seconds=report.seconds
    )
    s.rows += [("pairs (genuine / impostor)", f"{report.n_pairs} ({report.n_genuine} / {report.n_impostor})"),
               ("accuracy", f"{_pct(report.accuracy)} ± {_pct(report.accuracy_std)} ({report.folds} folds)"),
               ("AUC", f"{report.auc:.4f}"), ("EER", _pct(report.eer)),
               *[(f"TAR at FAR {k}", _pct(v)) for k, v in report.tar_at_far.items()],
               *[(f"ocula's FMR {k} threshold: achieved FMR / FNMR", f"{v['fmr']:.5f} / {_pct(v['fnmr'])}")
                 for k, v in report.calibrated.items()],
               ("failures to enrol", str(report.failures_to_enrol)),
               ("images/s", f"{report.images_per_second:.1f}")]  # fmt: skip
    s.plots.append(plot_roc_det({name: (report.scores, report.same)}, out / f"roc_{name}.png",
                                title=f"{name}: ROC and DET").name)  # fmt: skip
    # Every pair's score, in the CSV's order: any other threshold, curve or grouping of the pairs
    # can be computed from report.json without embedding the faces again.
    s.numbers = report.to_dict() | {"scores": report.scores.tolist(), "same": report.same.tolist()}
    groups = _pair_groups(csv_path, len(pairs))
    if groups is not None:
        table, spread = pairs_by_group(report.scores, report.same, groups)
        s.tables.append((f"By group (column 'group'): TAR at FAR 1e-2 gap {_pct(spread)}",
                         ["group", "pairs", "TAR at FAR 1e-2", "EER"], table))  # fmt: skip
        s.numbers["group_tar_gap"] = spread
    return s


def pairs_by_group(scores: np.ndarray, same: np.ndarray, groups: np.ndarray) -> tuple[list[list[str]], float]:
    """Each group's TAR at FAR 1e-2 and EER (rows: group, pairs, TAR, EER) and the gap between
    the highest and lowest TAR. ``scores`` may hold -inf (a failure to enrol): left out."""
    table, tars = [], []
    for g in sorted(set(groups)):
        m = groups == g
        finite = np.isfinite(scores) & m
        curve = roc(scores[finite], same[finite])
        t = tar_at_far(curve, 1e-2)
        # The EER of the section's own table (Roc.eer, interpolated), so a group of every pair
        # shows the section's EER.
        table.append([g, str(int(m.sum())), _pct(t), _pct(curve.eer)])
        tars.append(t if t is not None else np.nan)
    spread = float(np.nanmax(tars) - np.nanmin(tars)) if len(tars) > 1 else 0.0
    return table, spread


def _image_root(csv_path: Path, column: str) -> Path:
    """Where the CSV's image paths resolve: beside it, or in its ``images/`` folder."""
    with csv_path.open(newline="", encoding="utf-8") as fh:
        first = next(csv.DictReader(fh), {}).get(column, "")
    for root in (csv_path.parent, csv_path.parent / "images"):
        if first and (root / first).is_file():
            return root
    return csv_path.parent


def _pair_groups(csv_path: Path, n: int) -> np.ndarray | None:
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if "group" not in (reader.fieldnames or ()):
            return None
        groups = [row["group"] for row in reader]
    if len(groups) != n:
        raise DatasetError(f"{csv_path}: {len(groups)} group labels for {n} pairs")
    return np.array(groups)


def identify_section(engine: Engine, csv_path: Path, out: Path) -> Section:
    from .identify import evaluate_identify
    from .plots import plot_cmc_det

    root = _image_root(csv_path, "image_path")
    report = evaluate_identify(engine, csv_path, root)
    folder = csv_path.parent
    s = Section(f"Face identification (1:N, open set): {folder.name}", f"ocula eval identify {csv_path} --root {root}",
                str(folder), data_hash(_files(folder), folder), seconds=report.seconds)  # fmt: skip
    s.rows += [("gallery people (templates)", f"{report.gallery_people} ({report.gallery_templates})"),
               ("mated / non-mated probes", f"{report.mated_probes} / {report.nonmated_probes}"),
               ("rank-1", _pct(report.rank1)), ("CMC rank 5", _pct(report.cmc[min(4, len(report.cmc) - 1)])),
               *[(f"FNIR at FPIR {k}", _pct(v)) for k, v in report.fnir_at_fpir.items()],
               *[(f"ocula's FPIR {k} threshold: measured FPIR / FNIR", f"{_pct(v['fpir'])} / {_pct(v['fnir'])}")
                 for k, v in report.calibrated.items()],
               ("failures to enrol", str(report.failures_to_enrol))]  # fmt: skip
    s.plots.append(plot_cmc_det(report.cmc, report.mated_hit, report.mated_score, report.nonmated_score,
                                out / f"cmc_{folder.name}.png",
                                title=f"{folder.name}: CMC and FNIR against FPIR").name)  # fmt: skip
    s.numbers = report.to_dict()
    groups = _identity_groups(csv_path)
    if groups is not None:
        _identify_by_group(s, report, csv_path, root, groups)
    return s


def _identity_groups(csv_path: Path) -> dict[str, str] | None:
    """image_path -> group, when the identities CSV has a ``group`` column."""
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if "group" not in (reader.fieldnames or ()):
            return None
        return {row["image_path"]: row["group"] for row in reader}


def _identify_by_group(s: Section, report: Any, csv_path: Path, root: Path, groups: dict[str, str]) -> None:
    """Rank-1 and, at the one threshold that gives FPIR 0.01 over everyone, each group's FNIR
    and FPIR (a demographic differential, as NIST FRVT reports it)."""
    from .identify import read_identities, split_protocol

    images, ids = read_identities(csv_path, root)
    _, mated, nonmated = split_protocol(images, ids, 3)
    name = {str(p): str(p.relative_to(root)) for p in images}
    mg = np.array([groups[name[str(images[i])]] for i, _ in mated])
    ng = np.array([groups[name[str(images[i])]] for i in nonmated])
    t = report.thresholds["0.01"]
    table, fnirs = [], {}
    for g in sorted(set(mg) | set(ng)):
        m, n = mg == g, ng == g
        fnir = float(1 - np.mean(report.mated_hit[m] & (report.mated_score[m] >= t))) if m.any() else float("nan")
        fpir = float(np.mean(report.nonmated_score[n] >= t)) if n.any() else float("nan")
        rank1 = float(np.mean(report.mated_hit[m])) if m.any() else float("nan")
        fnirs[g] = fnir
        table.append([g, str(int(m.sum())), str(int(n.sum())), _pct(rank1), _pct(fnir), _pct(fpir)])
    finite = [v for v in fnirs.values() if np.isfinite(v)]
    gap = max(finite) - min(finite) if len(finite) > 1 else 0.0
    s.tables.append((f"By group (column 'group') at the threshold for FPIR 0.01 over everyone ({t:.3f}): FNIR gap "
        f"{_pct(gap)}",
                     ["group", "mated", "non-mated", "rank-1", "FNIR", "FPIR"], table))  # fmt: skip
    s.numbers["group_fnir"] = fnirs
    s.numbers["group_fnir_gap"] = gap


def retrieval_section(engine: Engine, source: Path, out: Path, *, catalog: CatalogVectors | None = None) -> Section:
    from .plots import plot_recall_at_k
    from .retrieval import REPORTED_KS, TRANSFORMS, evaluate_retrieval

    groups = source if source.suffix == ".csv" else None
    folder = source.parent if groups else source
    start = time.perf_counter()
    report = evaluate_retrieval(engine, folder, groups=groups, embed_all=catalog.embed_all if catalog else None)
    seconds = time.perf_counter() - start
    cmd = f"ocula eval retrieval {folder}" + (f" --groups {groups}" if groups else "")
    what = "near-duplicate groups" if groups else "edits and scenes" if report.has_scenes else "edits"
    s = Section(
        f"Visual search: {folder.name} ({what})", cmd, str(folder), data_hash(_files(folder), folder), seconds=seconds
    )
    s.rows += [("catalog / queries", f"{report.n_catalog} / {report.n_queries}"),
               *[(f"recall@{k}", _pct(report.recall_at(k))) for k in REPORTED_KS], ("mAP", f"{report.map:.4f}"),
               ("queries/s (one at a time)", f"{report.queries_per_second:.1f}"),
               ("unreadable files", str(len(report.failed)))]  # fmt: skip
    curves = {"all queries": report.first_rank}
    if report.per_transform:
        s.tables.append(("recall@k by kind of query", ["query", "queries", *[f"@{k}" for k in REPORTED_KS]],
                         [[t, str(int(np.sum(report.transform_of == t))),
                           *[_pct(report.recall_at(k, t)) for k in REPORTED_KS]]
                          for t in report.per_transform]))  # fmt: skip
        edits = np.isin(report.transform_of, TRANSFORMS)
        curves[f"the {len(TRANSFORMS)} edits"] = report.first_rank[edits]
        curves |= {t: report.first_rank[report.transform_of == t] for t in report.per_transform if t not in TRANSFORMS}
    s.plots.append(
        plot_recall_at_k(curves, out / f"recall_{folder.name}.png", title=f"{folder.name}: recall@k ({what})").name
    )
    # Every query's rank, so any other recall@k or curve can be drawn from report.json.
    s.numbers = report.to_dict() | {
        "first_rank": report.first_rank.tolist(),
        "query_kind": report.transform_of.tolist(),
    }
    return s


def video_section(engine: Engine, folder: Path, out: Path) -> Section:
    import tempfile

    from ..config import Settings
    from ..galleries import Gallery
    from ..video import analyze

    clip = folder / "short_hamilton_clip.mp4"
    s = Section("Video watchlist: Hamilton clip", f"ocula video {clip} --gallery G  (G: the two stills enrolled)",
                str(folder), data_hash(_files(folder), folder))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), cache_dir=engine.settings.cache_dir, vectors="faiss")  # stays in tmp
        with Gallery.open("hamilton", settings=settings, engine=engine, create=True) as g:
            g.enroll("Lin-Manuel Miranda", [folder / "lin-manuel-miranda.png"])
            g.enroll("Alex Lacamoire", [folder / "alex-lacamoire.png"])
            run = analyze(clip, gallery=g, engine=engine, settings=settings)
            report = run.run()
    spans = "; ".join(f"{p}: " + ", ".join(f"{a:.1f}–{b:.1f} s" for a, b in v) for p, v in report.people.items())
    s.rows += [("frames (analysed)", f"{report.frames} ({report.analysed_frames})"), ("people found", spans or "—"),
               ("unknown faces", str(report.unknown_tracks)),
               ("realtime factor", f"{report.realtime_factor:.2f}×")]  # fmt: skip
    s.seconds = report.duration / report.realtime_factor if report.realtime_factor else 0.0
    s.numbers = report.to_dict()
    return s


#: Photos per pipeline that ``speed_section`` times.
SPEED_SAMPLE = 32


def _spread(items: list[Path], n: int) -> list[Path]:
    """``n`` of ``items`` (all if fewer), evenly spaced from first to last (deterministic)."""
    if len(items) <= n:
        return list(items)
    return [items[round(i)] for i in np.linspace(0, len(items) - 1, n)]


def speed_section(engine: Engine, root: Path, out: Path, *, catalog: CatalogVectors | None = None) -> Section:
    from .identify import read_identities
    from .plots import plot_stage_times
    from .stages import time_face_stages, time_search_stages, time_tagging_stages

    start = time.perf_counter()
    tagging, faces, search, used = [], [], [], []
    labels = sorted(root.glob("imagenet/*/labels.csv"))
    if labels:
        folder = labels[0].parent
        photos = [r[0] for r in read_labels(labels[0], folder)]
        sample = _spread(photos, SPEED_SAMPLE)
        tagging = time_tagging_stages(engine, sample)
        search = time_search_stages(engine, sample, photos, embed_all=catalog.embed_all if catalog else None)
        used.append(folder)
    identities = sorted(root.glob("faces/*/identities.csv"))
    if identities:
        csv_path = identities[0]
        images, _ = read_identities(csv_path, _image_root(csv_path, "image_path"))
        faces = time_face_stages(engine, _spread(sorted(images), SPEED_SAMPLE))
        used.append(csv_path.parent)
    stages = tagging + faces + search
    files = [f for folder in used for f in _files(folder)]
    s = Section("Speed per stage", f"ocula eval report --data {root} --only speed", ", ".join(map(str, used)),
                data_hash(files, root), seconds=time.perf_counter() - start)  # fmt: skip
    s.rows += [("photos per pipeline", f"{SPEED_SAMPLE}, evenly spaced through the data"),
               ("threads / batch", f"{engine.settings.effective_threads} / {engine.settings.batch_size}"),
               ("how", "each step alone, in order, after one untimed call; total time / units")]  # fmt: skip
    s.tables.append(("Milliseconds per stage", ["pipeline", "stage", "ms", "per", "units timed"],
                     [[t.pipeline, t.stage, f"{t.ms:.2f}", t.per, str(t.units)] for t in stages]))  # fmt: skip
    threads = engine.settings.effective_threads
    s.plots.append(
        plot_stage_times(stages, out / "speed_stages.png", title=f"Milliseconds per stage ({threads} threads)").name
    )
    s.numbers = {"stages": [t.to_dict() for t in stages]}
    return s


SECTIONS: dict[str, Callable[..., Section]] = {
    "imagenet": imagenet_section,
    "pairs": pairs_section,
    "identify": identify_section,
    "retrieval": retrieval_section,
    "video": video_section,
    "speed": speed_section,
}


# -- the report -----------------------------------------------------------------------------------
def build_report(
    engine: Engine,
    root: Path,
    out: Path,
    *,
    command: str,
    only: tuple[str, ...] = (),
    progress: Callable[[str], None] | None = None,
) -> list[Section]:
    """Run every evaluation ``root`` has data for (or ``only`` those) and write ``out/index.html``,
    ``out/report.md`` and ``out/report.json``."""
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    out.mkdir(parents=True, exist_ok=True)
    found = find_datasets(root)
    catalog = CatalogVectors(engine)  # this run's, shared by the sections that embed a catalog
    sections = []
    for kind, sources in found.items():
        if only and kind not in only:
            continue
        shared = {"catalog": catalog} if kind in ("retrieval", "speed") else {}
        for source in sources:
            if progress:
                progress(f"{kind}: {source}")
            sections.append(SECTIONS[kind](engine, source, out, **shared))
    if not sections:
        raise DatasetError(f"{root}: no evaluation data found (see `ocula eval report --help`)")
    models = _models()
    meta = {
        "ocula": __version__,
        "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {_cpus()} CPUs, Python {platform.python_version()}",
        "command": command,
        "data_root": str(root),
    }
    (out / "report.json").write_text(json.dumps({"meta": meta, "models": models, "sections": [
        {"title": s.title, "command": s.command, "data": s.data, "data_sha256": s.data_sha256,
         "seconds": round(s.seconds, 2), "numbers": s.numbers}
        for s in sections]}, indent=2, default=float))  # fmt: skip
    (out / "report.md").write_text(_markdown(sections, meta, models))
    (out / "index.html").write_text(_html(sections, meta, models))
    return sections


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _models() -> list[dict[str, str]]:
    out = []
    for name in ("efficientnet_lite0", "dlib_hog_face", "dlib_mmod_face", "dlib_landmarks_5", "dlib_resnet_face"):
        spec = get_model(name)
        out += [{"model": spec.name, "file": f.filename, "sha256": f.sha256} for f in spec.files]
    return out


def _markdown(sections: list[Section], meta: dict, models: list[dict]) -> str:
    lines = ["# ocula evaluation report", "", f"ocula {meta['ocula']}, {meta['created']}, {meta['machine']}.", "",
             f"Made with `{meta['command']}` on `{meta['data_root']}`.", ""]  # fmt: skip
    for s in sections:
        lines += [
            f"## {s.title}",
            "",
            f"Reproduce: `{s.command}`  ",
            f"Data: `{s.data}` (sha256 `{s.data_sha256[:16]}…`)",
            "",
        ]
        lines += ["| measure | value |", "|---|---|", *[f"| {a} | {b} |" for a, b in s.rows], ""]
        for caption, header, rows in s.tables:
            lines += [f"**{caption}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
        lines += [f"![{s.title}]({p})" for p in s.plots] + [""]
    lines += ["## Time per evaluation", "", "Wall-clock seconds of each evaluation (decoding, models and scoring).", "",
              "| evaluation | seconds |", "|---|---|"]  # fmt: skip
    lines += [f"| {s.title} | {s.seconds:.1f} |" for s in sections] + [""]
    lines += ["## Models", "", "| model | file | sha256 |", "|---|---|---|"]
    lines += [f"| {m['model']} | {m['file']} | `{m['sha256'][:16]}…` |" for m in models]
    return "\n".join(lines) + "\n"


def _html(sections: list[Section], meta: dict, models: list[dict]) -> str:
    e = html.escape

    def table(header: list[str], rows: list[list[str]] | list[tuple[str, str]]) -> str:
        head = "".join(f"<th>{e(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    parts = [f"<section><h2>{e(s.title)}</h2><p class=meta>Reproduce: <code>{e(s.command)}</code><br>Data: "
             f"<code>{e(s.data)}</code>, sha256 <code>{e(s.data_sha256[:16])}…</code></p>"
             + table(["measure", "value"], s.rows)
             + "".join(f"<h3>{e(c)}</h3>" + table(h, r) for c, h, r in s.tables)
             + "".join(f'<img src="{e(p)}" alt="{e(s.title)}">' for p in s.plots) + "</section>"
             for s in sections]  # fmt: skip
    speed = table(["evaluation", "seconds"], [[s.title, f"{s.seconds:.1f}"] for s in sections])
    model_table = table(["model", "file", "sha256"], [[m["model"], m["file"], m["sha256"]] for m in models])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ocula evaluation report</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1d232a; }}
table {{ border-collapse: collapse; margin: .5rem 0 1rem; }}
td, th {{ border: 1px solid #d8dde2; padding: .25rem .6rem; text-align: left; }}
th {{ background: #f3f5f7; }} img {{ max-width: 100%; display: block; margin: .5rem 0; }} .meta {{ color: #5c6670; }}
section {{ border-top: 1px solid #d8dde2; margin-top: 1.5rem; }} code {{ font-size: 90%; }}
</style></head><body>
<h1>ocula evaluation report</h1>
<p class=meta>ocula {e(meta["ocula"])}, {e(meta["created"])}, {e(meta["machine"])}.<br>
Made with <code>{e(meta["command"])}</code> on <code>{e(meta["data_root"])}</code>.</p>
{"".join(parts)}
<section><h2>Time per evaluation</h2>{speed}</section>
<section><h2>Models</h2>{model_table}</section>
</body></html>
"""
