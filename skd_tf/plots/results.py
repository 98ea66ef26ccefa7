"""Fig. 7-style bar chart: verification accuracy/AUC of the teacher and every student (Section IV-C)."""
from __future__ import annotations

import os
from typing import Mapping

import matplotlib.pyplot as plt

from skd_tf.plots.figure_io import save_figure

# The paper's Fig. 7 values quoted in its text (Section IV-C), in percent. The text calls them accuracy; Section IV-A
# says LFW performance is reported as the ROC AUC.
PAPER_FIG7 = {"T": 97.15, "S-32-c": 70.23, "S-32-sc": 89.72, "S-96-sc": 95.03}  # T = 95.03 + 2.12


def plot_model_bars(values: Mapping[str, float], path: str | os.PathLike, *, ylabel: str, title: str,
                    reference: Mapping[str, float] | None = None) -> None:
    """Writes a bar chart of `values` (model name -> figure, in percent) to `path` as PNG.

    `reference` (e.g. the paper's figures) is drawn as hollow bars beside ours where a name matches.
    """
    names = list(values)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(names) + 2), 4.2))
    xs = range(len(names))
    bars = ax.bar([x - 0.2 if reference else x for x in xs], [values[n] for n in names],
                  width=0.4 if reference else 0.7, color="tab:blue", label="ours")
    for bar, name in zip(bars, names):
        ax.annotate(f"{values[name]:.1f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=7)
    if reference:
        ref_x = [x + 0.2 for x, n in zip(xs, names) if n in reference]
        ref_v = [reference[n] for n in names if n in reference]
        ax.bar(ref_x, ref_v, width=0.4, fill=False, edgecolor="tab:red", label="paper")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    low = min(list(values.values()) + [reference[n] for n in names if reference and n in reference])
    ax.set_ylim(max(0.0, low - 10.0), 100.5)
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
