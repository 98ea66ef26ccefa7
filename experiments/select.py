"""Selection stage (Sec. III-C, Eq. 3; Figs. 5-6): choose the informative faces from teacher features.

    python -m experiments.select --features=F --labels=L --lam=-256 --out_dir=D
    python -m experiments.select --features=F --labels=L --sweep --out_dir=D [--keep_fraction=0.8] [--fig6]

F: `.npy` [N, D] of any float dtype (read through a memory map, block by block) or a feature-cache directory of
`skd_tf.features.cache` (rows in row-id order); L: `.npy` of N integer labels in the same order.
Writes D/alpha.npy (N booleans, input order) and D/summary.json for --lam (or for the lam chosen by
--keep_fraction from the sweep); --sweep writes D/sweep.json, D/sweep_alphas.npy ([L, N] booleans, lams ascending)
and D/fig5_lambda_sweep.png; --fig6 writes D/fig6_embedding.png and, with --images, D/fig6_discarded.png.
Every flag and input is checked first (`check_args`: lam <= 0, keep_fraction in [0, 1], files exist, images match
the labels, ...), so a refused run computes and writes nothing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from absl import app, flags

from skd_tf.selection import (BACKENDS, DEFAULT_LAMS, MEASURES, compute_terms, lambda_for_keep_fraction,
                              select_informative, sweep_lambda)
from skd_tf.selection.core import check_lam
from skd_tf.selection.source import FeatureSource
from skd_tf.utils.io import read_npy, save_npy, write_json

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program, so importing this module defines none and cannot
    clash with other CLIs' flags in one process)."""
    flags.DEFINE_string("features", None, ".npy [N, D] teacher features or a feature-cache directory")
    flags.DEFINE_string("labels", None, ".npy of N integer labels (same order as the features)")
    flags.DEFINE_float("lam", None, "lam <= 0 of Eq. (3)")
    flags.DEFINE_string("out_dir", None, "output folder")
    flags.DEFINE_bool("sweep", False, "run the Fig. 5 lam sweep")
    flags.DEFINE_list("lams", None, f"lams of the sweep (default {', '.join(f'{x:g}' for x in DEFAULT_LAMS)})")
    flags.DEFINE_float("keep_fraction", None, "with --sweep: select at the swept lam whose kept fraction is closest")
    flags.DEFINE_enum("backend", "scipy", ["scipy", "networkx", "pymaxflow"], "min-cut solver")
    flags.DEFINE_enum("measure", "similarity", ["similarity", "distance"],
                      "s in Eq. (3): clipped cosine similarity (default) or the literal cosine distance")
    flags.DEFINE_integer("workers", None, "processes for the per-class cuts (default: all CPUs)")
    flags.DEFINE_bool("fig6", False, "write the Fig. 6 embedding plot (t-SNE, or PCA without scikit-learn)")
    flags.DEFINE_string("images", None, "optional .npy [N, H, W, 3] face images for the Fig. 6 contact sheet")
    flags.DEFINE_integer("fig6_classes", 5, "classes shown in Fig. 6")
    flags.mark_flags_as_required(["features", "labels", "out_dir"])


def _load_labels(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: labels file not found (expected .npy of N integers)")
    labels = read_npy(p, "labels")
    if labels.ndim != 1:
        raise ValueError(f"{p}: labels must be a 1-D array of N integers, got shape {labels.shape}")
    return labels


def check_args(features: str, labels_path: str, out_dir: str, lam: float | None = None, sweep: bool = False,
               lams=None, keep_fraction: float | None = None, backend: str = "scipy", measure: str = "similarity",
               workers: int | None = None, fig6: bool = False, images: str | None = None,
               fig6_classes: int = 5) -> dict:
    """Every flag of `run`, checked before anything is computed or written: ranges (lam, lams <= 0 and finite,
    keep_fraction in [0, 1], workers and fig6_classes >= 1), enums, combinations, and that every input exists.
    Returns the normalised values; raises ValueError / FileNotFoundError naming the flag and what was expected."""
    if keep_fraction is not None and not sweep:
        raise ValueError(f"--keep_fraction: needs --sweep (the lam is chosen among the swept ones), got "
                         f"--keep_fraction={keep_fraction} without it")
    if lam is None and not sweep:
        raise ValueError("--lam: give --lam, or --sweep (optionally with --keep_fraction)")
    if lam is not None:
        try:
            lam = check_lam(lam)
        except ValueError as exc:
            raise ValueError(f"--lam: {_reason(exc)}") from None
    if lams and not sweep:
        raise ValueError(f"--lams: the lams of the Fig. 5 sweep need --sweep (got --lams={list(lams)})")
    lam_values = None
    if lams:
        lam_values = []
        for x in lams:
            try:
                lam_values.append(check_lam(x))
            except ValueError as exc:
                raise ValueError(f"--lams: {_reason(exc)}") from None
    if keep_fraction is not None:
        try:
            keep_fraction = float(keep_fraction)
        except (TypeError, ValueError):
            raise ValueError(f"--keep_fraction: expected a number in [0, 1], got {keep_fraction!r}") from None
        if not 0.0 <= keep_fraction <= 1.0:  # NaN fails too
            raise ValueError(f"--keep_fraction: expected a fraction of faces kept in [0, 1], got {keep_fraction}")
        if lam is not None:
            raise ValueError(f"--lam={lam:g} and --keep_fraction={keep_fraction:g}: give one of them (--keep_fraction "
                             f"picks the swept lam)")
    if backend not in BACKENDS:
        raise ValueError(f"--backend: expected one of {BACKENDS}, got {backend!r}")
    if measure not in MEASURES:
        raise ValueError(f"--measure: expected one of {MEASURES}, got {measure!r}")
    if workers is not None and (int(workers) != workers or int(workers) < 1):
        raise ValueError(f"--workers: expected a positive number of processes (or none for all CPUs), got {workers}")
    if fig6:
        if lam is None and keep_fraction is None:
            raise ValueError("--fig6: plots one selection; give --lam, or --sweep with --keep_fraction")
        if int(fig6_classes) != fig6_classes or int(fig6_classes) < 1:
            raise ValueError(f"--fig6_classes: expected a positive number of classes, got {fig6_classes}")
    if images and not fig6:
        raise ValueError("--images: only used for the Fig. 6 contact sheet; give --fig6 too")
    fpath = Path(features)
    if not fpath.exists():
        raise FileNotFoundError(f"--features: {fpath} does not exist (expected .npy [N, D] or a feature-cache "
                                f"directory)")
    if not Path(labels_path).is_file():
        raise FileNotFoundError(f"--labels: {labels_path} does not exist (expected .npy of N integers)")
    if images and not Path(images).is_file():
        raise FileNotFoundError(f"--images: {images} does not exist (expected .npy [N, H, W, 3] face images)")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out_dir: {out} exists and is not a folder")
    return {"lam": lam, "lams": lam_values, "keep_fraction": keep_fraction}


def _reason(exc: Exception) -> str:
    """`check_lam`'s message without its leading 'lam: ' (the flag is named instead)."""
    text = str(exc)
    return text[len("lam: "):] if text.startswith("lam: ") else text


def _check_images(path: str, n: int) -> None:
    """The Fig. 6 images: a readable .npy [N, H, W, 3] with one image per label (checked before any work)."""
    imgs = read_npy(path, "--images face images", mmap_mode="r")
    if imgs.ndim != 4 or imgs.shape[-1] != 3 or imgs.shape[0] != n:
        raise ValueError(f"{path}: --images: expected [{n}, H, W, 3] face images (one per label), got shape "
                         f"{imgs.shape}")


def run(features: str, labels_path: str, out_dir: str, lam: float | None = None, sweep: bool = False,
        lams=None, keep_fraction: float | None = None, backend: str = "scipy", measure: str = "similarity",
        workers: int | None = None, fig6: bool = False, images: str | None = None, fig6_classes: int = 5) -> dict:
    """Checks every flag and input (`check_args`, then the labels, the features' shape and the images) before the
    selection runs, so a refused run writes nothing."""
    checked = check_args(features, labels_path, out_dir, lam=lam, sweep=sweep, lams=lams,
                         keep_fraction=keep_fraction, backend=backend, measure=measure, workers=workers, fig6=fig6,
                         images=images, fig6_classes=fig6_classes)
    lam, keep_fraction = checked["lam"], checked["keep_fraction"]
    out = Path(out_dir)
    labels = _load_labels(labels_path)
    source = FeatureSource.open(features)
    if images:
        _check_images(images, labels.size)
    terms = compute_terms(source, labels, measure)
    written: dict = {}
    if sweep:
        lam_values = checked["lams"]
        sw = sweep_lambda(None, labels, lams=lam_values, measure=measure, backend=backend, workers=workers,
                          terms=terms)
        info = sw.to_json()
        from skd_tf.plots.selection import plot_lambda_sweep

        write_json(out / "sweep.json", info)
        save_npy(out / "sweep_alphas.npy", sw.alphas)
        plot_lambda_sweep(sw.lams, sw.kept_counts, out / "fig5_lambda_sweep.png", total=sw.n)
        written.update(sweep=str(out / "sweep.json"), fig5=str(out / "fig5_lambda_sweep.png"))
        if keep_fraction is not None:
            lam = lambda_for_keep_fraction(sw, keep_fraction)
    result = None
    if lam is not None:
        result = select_informative(None, labels, lam, measure=measure, backend=backend, workers=workers,
                                    terms=terms)
        summary = result.summary()
        summary.update(features=str(features), labels=str(labels_path))
        if keep_fraction is not None:
            summary["lam_rule"] = f"swept lam whose kept fraction is closest to {keep_fraction}"
        save_npy(out / "alpha.npy", result.alpha)
        write_json(out / "summary.json", summary)
        written.update(alpha=str(out / "alpha.npy"), summary=str(out / "summary.json"))
        if fig6:
            from skd_tf.plots.selection import (pick_classes, plot_discarded_contact_sheet,
                                                plot_selection_embedding)

            cls = pick_classes(labels, result.alpha, fig6_classes)
            rows = np.flatnonzero(np.isin(labels, cls))
            feats = source.rows(rows)
            plot_selection_embedding(feats, labels[rows], result.alpha[rows], out / "fig6_embedding.png",
                                     classes=cls)
            written["fig6"] = str(out / "fig6_embedding.png")
            if images:
                imgs = read_npy(images, "--images face images", mmap_mode="r")
                p = plot_discarded_contact_sheet(imgs, result.alpha, out / "fig6_discarded.png", indices=rows,
                                                 labels=labels)
                if p is not None:
                    written["fig6_discarded"] = str(p)
    return {"written": written, "result": result}


def main(argv):
    del argv
    res = run(FLAGS.features, FLAGS.labels, FLAGS.out_dir, lam=FLAGS.lam, sweep=FLAGS.sweep, lams=FLAGS.lams,
              keep_fraction=FLAGS.keep_fraction, backend=FLAGS.backend, measure=FLAGS.measure,
              workers=FLAGS.workers, fig6=FLAGS.fig6, images=FLAGS.images, fig6_classes=FLAGS.fig6_classes)
    r = res["result"]
    if r is not None:
        print(f"lam={r.lam:g} measure={r.measure} backend={r.backend}: kept {r.kept}/{r.alpha.size} faces, "
              f"energy {r.energy:.6g}")
    for k, v in res["written"].items():
        print(f"wrote {k}: {v}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
