"""Any student on LFW View 2 (paper Section IV-A/IV-C, Fig. 7): the 6,000 official pairs in 10 folds.

Rows: T (dlib_resnet teacher on 150-px chips), T-p-up (teacher on the p-px test crops upscaled to 150 px), and per
student identity / mimic / both / cross (student LR mimic of image a vs teacher HR feature of image b), each with
AUC, 10-fold accuracy, TAR at FAR 1e-3 / 1e-2 and EER. The logic lives in `skd_tf.evaluation.lfw_view2`
(`evaluate_view2`); see its docstring for the conventions (crops, centring of `cross`, folds).

    python -m experiments.eval_lfw --student=runs/lfw_fold1/students/S-16-sc/student.keras --folds=1
    python -m experiments.eval_lfw --student=a.keras,b_int8.tflite --teacher_features=descriptors --no_teacher_rows
    python -m experiments.eval_lfw --student=run/S-16-sc/student.weights.h5 --config=run/S-16-sc/config.json \\
        --target_mean=run/target_mean.npy --exclude_people=train_people.txt --out_dir=runs/eval_lfw

Students may be `.keras`, `.weights.h5` (+ `--config`, else the run's config.json beside it / one folder up), a
training run folder with `student.keras`, or `.tflite` from `python -m experiments.export`; p is read from the model.
Whether a student saw the test people in training is not knowable from its file: the fold-k student of
`experiments.lfw_lowres` was trained on the people of the other nine folds, so `--folds=k` is its clean test;
`--exclude_people` drops pairs of listed people.

Writes OUT_DIR/results.json, roc.png, scores.npz (and teacher_features/, the resumable teacher cache).
"""
from __future__ import annotations

import json
from typing import Sequence

from absl import app, flags

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program)."""
    flags.DEFINE_multi_string("student", [], "Student file(s): .keras, .weights.h5, .tflite or a run folder; repeat "
                              "the flag or give a comma-separated list.")
    flags.DEFINE_list("names", None, "Row names, one per student (default: the run folder's S-p-mode, else S-p).")
    flags.DEFINE_string("config", None, "Training config.json for .weights.h5 students (default: found beside them).")
    flags.DEFINE_string("lfw_root", None, "LFW folder with lfw-deepfunneled/, protocol/, dlib/ "
                        "(default: ../shared/data/lfw).")
    flags.DEFINE_list("folds", None, "View-2 folds 1..10 to evaluate (default: all ten, 6,000 pairs).")
    flags.DEFINE_string("exclude_people", None, "File of LFW names (one per line; people.txt format accepted): pairs "
                        "involving them are dropped.")
    flags.DEFINE_enum("teacher_features", "port", ["port", "descriptors"], "T's features: run the Keras port of "
                      "dlib_resnet (cached in OUT_DIR/teacher_features) or read dlib/descriptors.npy.")
    flags.DEFINE_boolean("no_teacher_rows", False, "Skip the T and T-p-up rows (no teacher network pass; cross then "
                         "needs --teacher_features=descriptors).")
    flags.DEFINE_string("target_mean", None, "[D] .npy the regression targets were centred by (default: "
                        "target_mean.npy beside the student or up to 3 folders above; else uncentred).")
    flags.DEFINE_integer("max_pairs", None, "Keep only the first max_pairs/2 matched and mismatched pairs "
                         "(smoke runs).")
    flags.DEFINE_integer("batch_size", 64, "Teacher batch size.")
    flags.DEFINE_integer("tflite_threads", None, "Threads of the TFLite interpreter (default: its own).")
    flags.DEFINE_string("out_dir", "runs/eval_lfw", "Output folder.")


def main(argv: Sequence[str]) -> None:
    del argv
    from skd_tf.evaluation.lfw_view2 import evaluate_view2

    students = [s.strip() for value in FLAGS.student for s in value.split(",") if s.strip()]
    if not students:
        raise app.UsageError("--student is required (a .keras, .weights.h5 or .tflite file, or a run folder)")
    ev = evaluate_view2(students, FLAGS.out_dir, lfw_root=FLAGS.lfw_root, names=FLAGS.names, config=FLAGS.config,
                        folds=FLAGS.folds, exclude_people=FLAGS.exclude_people,
                        teacher_features=FLAGS.teacher_features, teacher_rows=not FLAGS.no_teacher_rows,
                        target_mean=FLAGS.target_mean, max_pairs=FLAGS.max_pairs, batch_size=FLAGS.batch_size,
                        tflite_threads=FLAGS.tflite_threads, progress=True)
    print(ev.table, flush=True)
    print(json.dumps({"out_dir": FLAGS.out_dir, "n_pairs": len(ev.pairs)}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
