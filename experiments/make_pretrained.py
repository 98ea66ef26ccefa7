"""(Re)make the pretrained students shipped in `skd_tf/pretrained/` from a training run (issue 15).

    python -m experiments.lfw_lowres --test_fold=1 --resolutions=16 --student_input=memory \
        --out_dir=runs/lfw_fold1_recipe_p16 --data_dir=runs/tfds_lfw
    python -m experiments.make_pretrained --run_dir=runs/lfw_fold1_recipe_p16 --names=S-16-sc \
        --training_command="python -m experiments.lfw_lowres --test_fold=1 --resolutions=16 ..."

For each name: `RUN_DIR/students/<name>/student.keras` without its softmax layer, its float32 and int8 TFLite
exports, thresholds chosen on the training folds' View-2 pairs, the held-out fold's figures measured on each file,
`card.json` and `README.md`, written to `OUT_ROOT/<name>/` (`skd_tf.pretrained.build.make_pretrained`). Needs LFW
(`--lfw_root`, default ../shared/data/lfw). `--training_command` is required: the card records it as the way to
retrain the student, and no default could know which command made the run.
"""
from __future__ import annotations

import shlex
import sys

from absl import app, flags, logging

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program)."""
    flags.DEFINE_string("run_dir", None, "Training run folder of experiments.lfw_lowres (students/, settings.json, "
                        "selection.json, target_mean.npy).")
    flags.DEFINE_list("names", ["S-16-sc", "S-32-sc"], "Students of the run to ship (folders under students/).")
    flags.DEFINE_string("out_root", "skd_tf/pretrained", "Where the <name>/ folders go.")
    flags.DEFINE_string("training_command", None, "The command that trained the run (recorded in the card).")
    flags.DEFINE_string("lfw_root", None, "LFW folder (default: ../shared/data/lfw).")
    flags.mark_flags_as_required(["run_dir", "training_command"])


def main(argv) -> None:
    del argv
    from skd_tf.pretrained.build import make_pretrained

    command = "python -m experiments.make_pretrained " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    for name in FLAGS.names:
        make_pretrained(FLAGS.run_dir, name, FLAGS.out_root, training_command=FLAGS.training_command,
                        shipping_command=command, lfw_root=FLAGS.lfw_root, log=logging.info)


if __name__ == "__main__":
    define_flags()
    app.run(main)
