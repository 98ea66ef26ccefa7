"""ROC curves for face verification (Section IV-A: LFW performance is reported as the area under the ROC curve)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt

from skd_tf.evaluation.verification import roc_auc, roc_curve
from skd_tf.plots.figure_io import save_figure


def plot_roc(curves: Mapping[str, tuple[Any, Any]], path: str | os.PathLike, *, title: str = "ROC",
             log_fpr: bool = False) -> Path:
    """Writes one ROC curve per entry of `curves` (label -> (scores, is_same)) to `path` as PNG; returns the path.

    Each legend entry carries its AUC. With `log_fpr=True` the false-positive axis is logarithmic (low-FAR region).
    """
    if not curves:
        raise ValueError("curves: expected at least one (scores, is_same) entry, got none")
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    for label, (scores, is_same) in curves.items():
        fpr, tpr, _ = roc_curve(scores, is_same)
        auc = roc_auc(scores, is_same)
        if log_fpr:
            keep = fpr > 0
            fpr, tpr = fpr[keep], tpr[keep]
        ax.plot(fpr, tpr, lw=1.5, label=f"{label} (AUC {auc:.4f})")
    if log_fpr:
        ax.set_xscale("log")
    else:
        ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=0.8)
        ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel("false positive rate (FAR)")
    ax.set_ylabel("true positive rate (TAR)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
