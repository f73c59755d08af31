"""The evaluation plots, each written as one PNG (matplotlib, no display): ROC/DET for verification,
CMC and FNIR/FPIR for identification, recall@k for retrieval, milliseconds per pipeline stage, and bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .verification import roc

__all__ = ["plot_bars", "plot_cmc_det", "plot_recall_at_k", "plot_roc_det", "plot_stage_times"]


def plot_roc_det(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, *, title: str = "") -> Path:
    """Save ROC (TAR against FAR, log FAR) and DET (FNMR against FMR, log-log) side by side.

    ``curves`` maps a label to ``(scores, same)``.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only; never a window
    import matplotlib.pyplot as plt

    fig, (ax_roc, ax_det) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=110)
    floor = fnmr_floor = 1.0
    for label, (scores, same) in curves.items():
        c = roc(scores, same)
        floor = min(floor, 1.0 / c.n_impostor)
        fnmr_floor = min(fnmr_floor, 1.0 / c.n_genuine)
        ok = c.far > 0
        ax_roc.plot(c.far[ok], c.tar[ok], label=f"{label} (AUC {c.auc:.4f})")
        fnmr = 1 - c.tar
        both = ok & (fnmr > 0)
        ax_det.plot(c.far[both], fnmr[both], label=f"{label} (EER {c.eer:.2%})")
    ax_roc.set(
        xscale="log",
        xlim=(floor, 1),
        ylim=(0, 1.005),
        xlabel="false accept rate (FAR)",
        ylabel="true accept rate (TAR)",
        title="ROC",
    )
    ax_det.set(
        xscale="log",
        yscale="log",
        xlim=(floor, 1),
        # Set, not autoscaled: a small, perfectly separated set has no point on log-log axes.
        ylim=(fnmr_floor / 2, 1),
        xlabel="false match rate (FMR)",
        ylabel="false non-match rate (FNMR)",
        title="DET",
    )
    for ax in (ax_roc, ax_det):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right" if ax is ax_roc else "upper right", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_cmc_det(
    cmc: list[float],
    mated_hit: np.ndarray,
    mated_score: np.ndarray,
    nonmated_score: np.ndarray,
    path: Path,
    *,
    title: str = "",
) -> Path:
    """Save the CMC (rank-k identification rate) and the identification DET (FNIR against FPIR,
    log FPIR) of an open-set run side by side."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, (ax_cmc, ax_det) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=110)
    ranks = np.arange(1, len(cmc) + 1)
    ax_cmc.plot(ranks, cmc, marker="o")
    ax_cmc.set(xlabel="rank", ylabel="identification rate", title="CMC", xticks=ranks, ylim=(min(cmc) - 0.02, 1.0))
    thresholds = np.unique(nonmated_score[np.isfinite(nonmated_score)])
    fpir = np.array([np.mean(nonmated_score >= t) for t in thresholds])
    fnir = np.array([1 - np.mean(mated_hit & (mated_score >= t)) for t in thresholds])
    ok = fpir > 0
    ax_det.plot(fpir[ok], fnir[ok], drawstyle="steps-post")
    ax_det.set(
        xscale="log", xlabel="false-positive identification rate (FPIR)", ylabel="FNIR (rank 1)", title="DET (open set)"
    )
    for ax in (ax_cmc, ax_det):
        ax.grid(True, which="both", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    except OSError as exc:
        raise ConfigError(f"cannot write the plot {path} ({exc})") from None
    finally:
        plt.close(fig)
    return Path(path)


def plot_bars(values: dict[str, float], path: Path, *, ylabel: str, title: str = "") -> Path:
    """A bar chart of ``values`` (label -> value in [0, 1]), each bar labelled with its value."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(values) + 2), 3.6), dpi=110)
    labels = list(values)
    bars = ax.bar(labels, [values[k] for k in labels], color="#4c78a8")
    for bar, k in zip(bars, labels, strict=False):
        ax.annotate(
            f"{values[k]:.3f}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set(ylabel=ylabel, ylim=(0, 1.08), title=title)
    ax.tick_params(axis="x", labelrotation=20)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


def plot_recall_at_k(first_ranks: dict[str, np.ndarray], path: Path, *, max_k: int = 20, title: str = "") -> Path:
    """Recall@k for k = 1..``max_k``: one line per label, from the rank of each query's first
    right answer (``first_ranks`` maps a label to those ranks). The first label is drawn bold."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from .retrieval import recall_curve

    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=110)
    ks = np.arange(1, max_k + 1)
    low = 1.0
    for i, (label, ranks) in enumerate(first_ranks.items()):
        curve = recall_curve(ranks, max_k)
        low = min(low, float(np.nanmin(curve)) if len(ranks) else low)
        bold = i == 0 and len(first_ranks) > 1
        ax.plot(ks, curve, drawstyle="steps-post", linewidth=2.6 if bold else 1.3, color="black" if bold else None,
                label=f"{label} (n={len(ranks)}, @1 {curve[0]:.3f})", zorder=3 if bold else 2)  # fmt: skip
    ax.set(xscale="log", xlim=(1, max_k), ylim=(max(0.0, low - 0.02), 1.005), xlabel="k (results looked at)",
           ylabel="recall@k", title=title or "recall@k")  # fmt: skip
    ticks = [k for k in (1, 2, 5, 10, 20, 50, 100) if k <= max_k]
    ax.set_xticks(ticks, labels=[str(k) for k in ticks])
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_stage_times(stages: list[Any], path: Path, *, title: str = "") -> Path:
    """Horizontal bars of milliseconds per stage (:class:`~ocula.eval.stages.StageTime`), one
    panel per pipeline so each keeps its own scale."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    pipelines = list(dict.fromkeys(s.pipeline for s in stages))
    heights = [sum(s.pipeline == p for s in stages) for p in pipelines]
    fig, axes = plt.subplots(len(pipelines), 1, figsize=(9, 0.45 * len(stages) + 1.0 * len(pipelines)), dpi=110,
                             gridspec_kw={"height_ratios": heights}, squeeze=False)  # fmt: skip
    for ax, pipeline in zip(axes[:, 0], pipelines, strict=False):
        rows = [s for s in stages if s.pipeline == pipeline][::-1]  # first stage on top
        bars = ax.barh([f"{s.stage} (per {s.per})" for s in rows], [s.ms for s in rows], color="#4c78a8")
        for bar, s in zip(bars, rows, strict=False):
            ax.annotate(
                f" {s.ms:.1f} ms", (bar.get_width(), bar.get_y() + bar.get_height() / 2), va="center", fontsize=8
            )
        ax.set_title(pipeline, fontsize=9, loc="left")
        ax.set_xlim(0, max(s.ms for s in rows) * 1.25 or 1)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(True, axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("milliseconds")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
