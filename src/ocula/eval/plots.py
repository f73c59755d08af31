"""ROC and DET plots of a verification run, written as one PNG (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .verification import roc

__all__ = ["plot_bars", "plot_cmc_det", "plot_roc_det"]


def plot_roc_det(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, *, title: str = "") -> Path:
    """Save ROC (TAR against FAR, log FAR) and DET (FNMR against FMR, log-log) side by side.

    ``curves`` maps a label to ``(scores, same)``.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only; never a window
    import matplotlib.pyplot as plt

    fig, (ax_roc, ax_det) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=110)
    floor = 1.0
    for label, (scores, same) in curves.items():
        c = roc(scores, same)
        floor = min(floor, 1.0 / c.n_impostor)
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
    for bar, k in zip(bars, labels):
        ax.annotate(f"{values[k]:.3f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set(ylabel=ylabel, ylim=(0, 1.08), title=title)
    ax.tick_params(axis="x", labelrotation=20)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)
