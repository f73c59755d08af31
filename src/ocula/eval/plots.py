"""ROC and DET plots of a verification run, written as one PNG (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .verification import roc

__all__ = ["plot_roc_det"]


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
    fig.tight_layout()
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    except OSError as exc:
        raise ConfigError(f"cannot write the plot {path} ({exc})") from None
    finally:
        plt.close(fig)
    return Path(path)
