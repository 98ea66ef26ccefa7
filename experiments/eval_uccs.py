"""Low-resolution face identification on UCCS (paper Section IV-D); the protocol is `skd_tf.experiments.uccs`
(config `skd_tf.configs.uccs.UccsConfig`, registered as "uccs").

    python -m experiments.eval_uccs --uccs_csv=UCCS/training.csv --student=runs/s16_sc/student.keras --out_dir=D
    python -m experiments.eval_uccs --uccs_csv=UCCS/training.csv --out_dir=D      # trained directly on UCCS

UCCS_CSV has the challenge's columns FILE, FACE_ID, SUBJECT_ID, FACE_X, FACE_Y, FACE_WIDTH, FACE_HEIGHT; images are
read from `--image_dir` (default: the CSV's folder). Prints the paper's figures for the run, top-1 and top-5 error on
the test faces of the 180-subject 16x16 subset:

    UCCS 180 subjects, N training / M test faces at 16x16: top-1 error xx.xx% (K correct), top-5 error xx.xx% (...)

Writes OUT/results.json and OUT/student/ (weights and model). Flags left unset take the config's value (`--config`,
default "uccs"; `--quick`: "uccs.quick", 40 subjects and one epoch).
"""
from __future__ import annotations

from typing import Sequence

from absl import app, flags

from skd_tf.configs import flags as config_flags
from skd_tf.experiments import uccs

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program)."""
    flags.DEFINE_string("out_dir", None, "output folder", required=True)
    config_flags.define_config_flags("uccs")
    define = config_flags.define_override
    define("uccs_csv", "string", "UCCS ground-truth CSV")
    define("image_dir", "string", "folder of the CSV's images (None: the CSV's folder)")
    define("num_subjects", "int", "subjects with the most faces kept in the subset")
    define("resolution", "int", "face size p of the subset and the student", key="train.resolution")
    define("seed", "int", "seed of the 4:1 split and of training", key="train.seed")
    define("student", "string", "pre-trained student (.keras or .weights.h5 as written by train_student, or its run "
           "dir; None: trained from scratch)")
    define("freeze", "bool", "with --student: freeze every layer before the mimic layer")
    define("epochs", "int", "training epochs", key="train.epochs")
    define("batch_size", "int", "training batch size", key="train.batch_size")
    define("learning_rate", "float", "learning rate", key="train.learning_rate")
    define("on_corrupt", "enum", "an unusable face (truncated or undecodable image, face box outside the image): "
           "fail naming the file and CSV line, or skip it (counted and listed under 'skipped' in results.json)",
           choices=("fail", "skip"))
    flags.mark_flag_as_required("uccs_csv")
    flags.adopt_module_key_flags(config_flags)


def main(argv: Sequence[str]) -> None:
    del argv
    print(uccs.format_result(uccs.run(config_flags.config_from_flags(), FLAGS.out_dir)))


if __name__ == "__main__":
    define_flags()
    app.run(main)
