"""CMC curves for face retrieval (Section IV-E reports rank-1 identification on SCface; `skd_tf.evaluation.retrieval`
computes the curves)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from skd_tf.plots.figure_io import save_figure


def plot_cmc(curves: Mapping[str, Sequence[float]], path: str | os.PathLike, *, title: str = "CMC") -> Path:
    """Writes one CMC curve per entry of `curves` (label -> rank-k accuracies for k = 1..K, fractions) to `path` as
    PNG, in percent against the rank; returns the path. Each legend entry carries its rank-1 accuracy."""
    if not curves:
        raise ValueError("curves: expected at least one CMC curve, got none")
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    for label, cmc in curves.items():
        cmc = np.asarray(cmc, np.float64)
        ax.plot(np.arange(1, len(cmc) + 1), 100.0 * cmc, lw=1.5, label=f"{label} (rank-1 {100 * cmc[0]:.2f}%)")
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate (%)")
    ax.set_ylim(0, 101)
    ax.set_xlim(1, max(len(c) for c in curves.values()))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
