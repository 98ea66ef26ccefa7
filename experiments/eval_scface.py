"""Low-resolution face retrieval on SCface (paper Section IV-E, Table II); the protocol is
`skd_tf.experiments.scface` (config `skd_tf.configs.scface.ScfaceConfig`, registered as "scface").

    python -m experiments.eval_scface --scface_dir=SCFACE --student=runs/s64_sc/student.keras --out_dir=runs/scface
    python -m experiments.eval_scface --scface_dir=SCFACE --student=... --identity_dim=1024 --out_dir=...  # 2nd row

SCFACE is the official release (`data_builders/scface/README.md`) with `scface_annotations.txt` beside it (or
`--annotations`). Prints Table II's row for the run, rank-1 accuracy (%) per distance (1 = 4.20 m, 2 = 2.60 m,
3 = 1.00 m) and in total:

    SCface (paper): 1200 probes x 80 gallery, S-64 identity 128D
    Dist  1  Dist  2  Dist  3   Total
      xx.xx    xx.xx    xx.xx   xx.xx

Writes OUT/results.json, OUT/cmc.png, OUT/student/. Flags left unset take the config's value (`--config`, default
"scface"; `--quick`: "scface.quick", one epoch at 16 px).
"""
from __future__ import annotations

from typing import Sequence

from absl import app, flags

from skd_tf.configs import flags as config_flags
from skd_tf.experiments import scface

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program)."""
    flags.DEFINE_string("out_dir", None, "output folder", required=True)
    config_flags.define_config_flags("scface")
    define = config_flags.define_override
    define("scface_dir", "string", "SCface release root (official layout; None: the shared data's scface/)")
    define("annotations", "string", "annotation file (None: SCFACE_DIR/scface_annotations.txt)")
    define("protocol", "enum", "evaluation protocol", choices=("paper", "close", "medium", "far", "combined"))
    define("seed", "int", "seed of the paper protocol's subject draw and of training", key="train.seed")
    define("student", "string", "pre-trained student (.keras or .weights.h5 as written by train_student, or its run "
           "dir; None: trained from scratch)")
    define("resolution", "int", "student input size p (None: the pre-trained student's, else 64)")
    define("identity_dim", "int", "identity layer width (128 as S-64-sc, 1024 as S-64-sc-1024)",
           key="train.identity_dim")
    define("embedding", "enum", "features matched between probe and gallery", choices=("identity", "mimic"))
    define("epochs", "int", "fine-tuning epochs", key="train.epochs")
    define("batch_size", "int", "training batch size", key="train.batch_size")
    define("learning_rate", "float", "fine-tuning learning rate", key="train.learning_rate")
    define("on_corrupt", "enum", "an unusable face (truncated or undecodable image, annotated point outside the "
           "image): fail naming the file and annotation line, or skip it (counted and listed under 'skipped' in "
           "results.json)", choices=("fail", "skip"))
    flags.adopt_module_key_flags(config_flags)


def main(argv: Sequence[str]) -> None:
    del argv
    print(scface.format_table(scface.run(config_flags.config_from_flags(), FLAGS.out_dir)))


if __name__ == "__main__":
    define_flags()
    app.run(main)
