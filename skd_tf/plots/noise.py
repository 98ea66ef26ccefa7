"""The noise study's figure (`skd_tf.experiments.noise_study`): does selection pay as the training data gets noisier?

Left: the students' verification AUC (c, sc, dc) on the clean held-out fold against the planted fraction, with 95%
bootstrap intervals; wrong labels as lines, unusable faces as separate hollow markers at their rate. Right: Eq. 3's
precision and recall at discarding the planted faces along its lambda sweep (against the fraction of the faces it
discards), one curve per noisy condition, the lambda rule's point marked.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from skd_tf.plots.figure_io import save_figure  # noqa: E402

__all__ = ["plot_noise_study"]

MODE_COLOURS = {"c": "tab:gray", "sc": "tab:red", "dc": "tab:blue"}


def _auc_panel(ax, rows: Sequence[Mapping], resolution: int) -> None:
    label_rows = sorted([r for r in rows if not r["unusable_noise"]], key=lambda r: r["label_noise"])
    unusable_rows = [r for r in rows if r["unusable_noise"]]
    for k, (mode, colour) in enumerate(MODE_COLOURS.items()):
        dx = (k - 1) * 0.004  # side by side, so the intervals do not hide each other
        for group, style, rate_key, tag in ((label_rows, "o-", "label_noise", "wrong labels"),
                                            (unusable_rows, "s", "unusable_noise", "unusable faces")):
            if not group:
                continue
            x = np.array([r[rate_key] for r in group]) * 100 + 100 * dx
            a = [r["auc"][mode] for r in group]
            y = np.array([100 * v["auc"] for v in a])
            err = np.array([[100 * (v["auc"] - v["low"]) for v in a], [100 * (v["high"] - v["auc"]) for v in a]])
            ax.errorbar(x, y, yerr=err, fmt=style, color=colour, capsize=3, ms=5,
                        mfc=colour if group is label_rows else "white",
                        label=f"S-{resolution}-{mode}, {tag}")
    ax.set_xlabel("planted faces (% of the faces of people with >= 2 images)")
    ax.set_ylabel("LFW verification AUC (%), clean test fold")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def _selection_panel(ax, rows: Sequence[Mapping]) -> None:
    for r in rows:
        curve = r.get("selection_curve")
        if not curve:
            continue
        pts = [c for c in curve if c["discarded"] > 0]
        n = max(r["selection_vs_noise"]["decided"], 1)
        x = np.array([c["discarded"] for c in pts]) / n * 100
        order = np.argsort(x)
        line, = ax.plot(x[order], [100 * pts[i]["precision"] for i in order], "-", label=f"{r['condition']} precision")
        ax.plot(x[order], [100 * pts[i]["recall"] for i in order], "--", color=line.get_color(),
                label=f"{r['condition']} recall")
        sel = r["selection_vs_noise"]
        ax.plot([sel["discarded"] / n * 100] * 2, [100 * sel["precision"], 100 * sel["recall"]], "o",
                color=line.get_color(), mfc="white")
    ax.set_xlabel("faces discarded by Eq. 3 (% of the faces of classes with >= 2 faces)")
    ax.set_ylabel("precision / recall at discarding planted faces (%)")
    ax.set_ylim(-2, 102)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def plot_noise_study(rows: Sequence[Mapping], path, *, resolution: int, title: str | None = None) -> Path:
    """The module docstring's two panels for the study's condition `rows` (`noise_study.run`'s); returns the path."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.0, 4.6))
    _auc_panel(left, rows, resolution)
    _selection_panel(right, rows)
    right.set_title("Eq. 3 against the planted faces (o: lambda rule)", fontsize=9)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, tight_bbox=True)
