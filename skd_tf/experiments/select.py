"""The selection stage (paper Section III-C, Eq. 3; Figs. 5-6): `run(SelectConfig(...), out_dir)` chooses
the informative faces from teacher features.

Features: `.npy` [N, D] of any float dtype (read through a memory map, block by block) or a feature-cache directory
of `skd_tf.features.cache` (rows in row-id order); labels: `.npy` of N integer labels in the same order. Writes
OUT/alpha.npy (N booleans, input order) and OUT/summary.json for `lam` (or for the lam chosen by `keep_fraction`
from the sweep); `sweep` writes OUT/sweep.json, OUT/sweep_alphas.npy ([L, N] booleans, lams ascending) and
OUT/fig5_lambda_sweep.png; `fig6` writes OUT/fig6_embedding.png and, with `images`, OUT/fig6_discarded.png. The
config, the labels, the features' shape and the images are checked first, so a refused run computes and writes
nothing.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from skd_tf.configs.select import SelectConfig
from skd_tf.plots.selection import (
    pick_classes,
    plot_discarded_contact_sheet,
    plot_lambda_sweep,
    plot_selection_embedding,
)
from skd_tf.selection import compute_terms, lambda_for_keep_fraction, select_informative, sweep_lambda
from skd_tf.selection.source import FeatureSource
from skd_tf.utils.checks import check_out_dir
from skd_tf.utils.io import read_npy, save_npy, write_json


def load_labels(path: str | os.PathLike) -> np.ndarray:
    """The labels file: a readable `.npy` of N integers (1-D)."""
    labels = read_npy(path, "labels")
    if labels.ndim != 1:
        raise ValueError(f"{path}: labels must be a 1-D array of N integers, got shape {labels.shape}")
    return labels


def check_images(path: str | os.PathLike, n: int) -> None:
    """The Fig. 6 images: a readable .npy [N, H, W, 3] with one image per label (checked before any work)."""
    images = read_npy(path, "images (face images)", mmap_mode="r")
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] != n:
        raise ValueError(f"{path}: images: expected [{n}, H, W, 3] face images (one per label), got shape "
                         f"{images.shape}")


def run(config: SelectConfig, out_dir: str | os.PathLike) -> dict:
    """The selection of the module docstring; returns {"written": {what: path}, "result": SelectionResult or None
    (a sweep without keep_fraction selects nothing)}."""
    config = config.validate(require_inputs=True)
    check_out_dir("out_dir", out_dir)
    out = Path(out_dir)
    labels = load_labels(config.labels)
    source = FeatureSource.open(config.features)
    if config.images:
        check_images(config.images, labels.size)
    terms = compute_terms(source, labels, config.measure)
    lam = None if config.lam is None else float(config.lam)
    written: dict = {}
    if config.sweep:
        lams = [float(x) for x in config.lams] if config.lams else None
        swept = sweep_lambda(None, labels, lams=lams, measure=config.measure, backend=config.backend,
                             workers=config.workers, terms=terms)
        write_json(out / "sweep.json", swept.to_json())
        save_npy(out / "sweep_alphas.npy", swept.alphas)
        plot_lambda_sweep(swept.lams, swept.kept_counts, out / "fig5_lambda_sweep.png", total=swept.n)
        written.update(sweep=str(out / "sweep.json"), fig5=str(out / "fig5_lambda_sweep.png"))
        if config.keep_fraction is not None:
            lam = lambda_for_keep_fraction(swept, float(config.keep_fraction))
    result = None
    if lam is not None:
        result = select_informative(None, labels, lam, measure=config.measure, backend=config.backend,
                                    workers=config.workers, terms=terms)
        summary = result.summary()
        summary.update(features=str(config.features), labels=str(config.labels))
        if config.keep_fraction is not None:
            summary["lam_rule"] = f"swept lam whose kept fraction is closest to {float(config.keep_fraction)}"
        save_npy(out / "alpha.npy", result.alpha)
        write_json(out / "summary.json", summary)
        written.update(alpha=str(out / "alpha.npy"), summary=str(out / "summary.json"))
        if config.fig6:
            written.update(_fig6(config, source, labels, result.alpha, out))
    return {"written": written, "result": result}


def _fig6(config: SelectConfig, source: FeatureSource, labels: np.ndarray, alpha: np.ndarray, out: Path) -> dict:
    """Fig. 6: the embedding of `fig6_classes` classes' features with the discarded faces marked, and (with
    `images`) the contact sheet of their discarded faces."""
    classes = pick_classes(labels, alpha, config.fig6_classes)
    rows = np.flatnonzero(np.isin(labels, classes))
    plot_selection_embedding(source.rows(rows), labels[rows], alpha[rows], out / "fig6_embedding.png",
                             classes=classes)
    written = {"fig6": str(out / "fig6_embedding.png")}
    if config.images:
        images = read_npy(config.images, "images (face images)", mmap_mode="r")
        sheet = plot_discarded_contact_sheet(images, alpha, out / "fig6_discarded.png", indices=rows, labels=labels)
        if sheet is not None:
            written["fig6_discarded"] = str(sheet)
    return written


def format_result(outcome: dict) -> str:
    """The selection in one line (when there is one) and each file written."""
    lines = []
    result = outcome["result"]
    if result is not None:
        lines.append(f"lam={result.lam:g} measure={result.measure} backend={result.backend}: kept "
                     f"{result.kept}/{result.alpha.size} faces, energy {result.energy:.6g}")
    lines += [f"wrote {k}: {v}" for k, v in outcome["written"].items()]
    return "\n".join(lines)
