"""Selection stage (paper Sec. III-C, Eq. 3; Figs. 5-6): choose the informative faces from teacher features; the
run is `skd_tf.experiments.select` (config `skd_tf.configs.select.SelectConfig`).

    python -m experiments.select --features=F --labels=L --lam=-256 --out_dir=D
    python -m experiments.select --features=F --labels=L --sweep --out_dir=D [--keep_fraction=0.8] [--fig6]

F: `.npy` [N, D] teacher features or a feature-cache directory of `skd_tf.features.cache`; L: `.npy` of N integer
labels in the same order. Writes D/alpha.npy and D/summary.json for --lam (or the lam chosen by --keep_fraction from
the sweep); --sweep writes D/sweep.json, D/sweep_alphas.npy and the Fig. 5 curve D/fig5_lambda_sweep.png (faces
kept against lam); --fig6 writes D/fig6_embedding.png and, with --images, D/fig6_discarded.png. Prints the selection
and the files written:

    lam=-256 measure=similarity backend=scipy: kept K/N faces, energy E
    wrote alpha: D/alpha.npy

Every flag and input is checked first (`SelectConfig.validate`: lam <= 0, keep_fraction in [0, 1], files exist, ...;
then the labels, features and images), so a refused run computes and writes nothing. Flags left unset take the
value of the config "select" (nothing chosen: give --lam or --sweep).
"""
from __future__ import annotations

from absl import app, flags

from skd_tf.configs import flags as config_flags
from skd_tf.experiments import select

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program, so importing this module defines none and cannot
    clash with other CLIs' flags in one process)."""
    flags.DEFINE_string("out_dir", None, "output folder", required=True)
    define = config_flags.define_override
    define("features", "string", ".npy [N, D] teacher features or a feature-cache directory")
    define("labels", "string", ".npy of N integer labels (same order as the features)")
    define("lam", "float", "lam <= 0 of Eq. (3)")
    define("sweep", "bool", "run the Fig. 5 lam sweep")
    define("lams", "strings", "lams of the sweep (None: skd_tf.selection.DEFAULT_LAMS)")
    define("keep_fraction", "float", "with --sweep: select at the swept lam whose kept fraction is closest")
    define("backend", "enum", "min-cut solver", choices=("scipy", "networkx", "pymaxflow"))
    define("measure", "enum", "s in Eq. (3): clipped cosine similarity or the literal cosine distance",
           choices=("similarity", "distance"))
    define("workers", "int", "processes for the per-class cuts (None: all CPUs)")
    define("fig6", "bool", "write the Fig. 6 embedding plot (t-SNE, or PCA without scikit-learn)")
    define("images", "string", "optional .npy [N, H, W, 3] face images for the Fig. 6 contact sheet")
    define("fig6_classes", "int", "classes shown in Fig. 6")
    flags.mark_flags_as_required(["features", "labels"])
    flags.adopt_module_key_flags(config_flags)


def main(argv):
    del argv
    print(select.format_result(select.run(config_flags.config_from_flags("select"), FLAGS.out_dir)))


if __name__ == "__main__":
    define_flags()
    app.run(main)
