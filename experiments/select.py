"""Selection stage (Sec. III-C, Eq. 3; Figs. 5-6): choose the informative faces from teacher features.

    python -m experiments.select --features=F --labels=L --lam=-256 --out_dir=D
    python -m experiments.select --features=F --labels=L --sweep --out_dir=D [--keep_fraction=0.8] [--fig6]

F: `.npy` [N, D] of any float dtype (read through a memory map, block by block) or a feature-cache directory of
`skd_tf.features.cache` (rows in row-id order); L: `.npy` of N integer labels in the same order.
Writes D/alpha.npy (N booleans, input order) and D/summary.json for --lam (or for the lam chosen by
--keep_fraction from the sweep); --sweep writes D/sweep.json, D/sweep_alphas.npy ([L, N] booleans, lams ascending)
and D/fig5_lambda_sweep.png; --fig6 writes D/fig6_embedding.png and, with --images, D/fig6_discarded.png.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from absl import app, flags

from skd_tf.selection import (DEFAULT_LAMS, compute_terms, lambda_for_keep_fraction, select_informative,
                              sweep_lambda)
from skd_tf.selection.source import FeatureSource
from skd_tf.utils.io import save_npy, write_json

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
    try:
        labels = np.load(p, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{p}: not a readable .npy of integer labels ({exc})") from exc
    if labels.ndim != 1:
        raise ValueError(f"{p}: labels must be a 1-D array of N integers, got shape {labels.shape}")
    return labels


def run(features: str, labels_path: str, out_dir: str, lam: float | None = None, sweep: bool = False,
        lams=None, keep_fraction: float | None = None, backend: str = "scipy", measure: str = "similarity",
        workers: int | None = None, fig6: bool = False, images: str | None = None, fig6_classes: int = 5) -> dict:
    out = Path(out_dir)
    if lam is None and not sweep:
        raise ValueError("lam: give --lam, or --sweep (optionally with --keep_fraction)")
    if keep_fraction is not None and not sweep:
        raise ValueError("keep_fraction: needs --sweep")
    labels = _load_labels(labels_path)
    source = FeatureSource.open(features)
    terms = compute_terms(source, labels, measure)
    written: dict = {}
    if sweep:
        lam_values = None if not lams else [float(x) for x in lams]
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
                imgs = np.load(images, mmap_mode="r")
                if imgs.shape[0] != labels.size:
                    raise ValueError(f"{images}: {imgs.shape[0]} images but {labels.size} labels")
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
