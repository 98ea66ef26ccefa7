"""Any student on LFW View 2 (paper Section IV-A/IV-C, Fig. 7): the 6,000 official pairs in 10 folds
(`skd_tf.experiments.eval_lfw`, config `skd_tf.configs.eval_lfw`).

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
The fold-k student of `experiments.lfw_lowres` was trained on the people of the other nine folds, so `--folds=k` is
its clean test; `--exclude_people` drops pairs of listed people. Flags left unset take the config's value. It prints
the table, e.g. both AUC T 99.87, S-64-dc 75.71 for the fold-1 S-64 students on `--folds=1` (WORKSPACE.md).

Writes OUT_DIR/results.json, table.txt, roc.png, scores.npz (and teacher_features/, the resumable teacher cache).
"""
import json
from typing import Sequence

from absl import app, flags, logging

from skd_tf.configs import apply_overrides
from skd_tf.configs import flags as config_flags
from skd_tf.experiments import eval_lfw

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program)."""
    flags.DEFINE_multi_string("student", [], "student file(s): .keras, .weights.h5, .tflite or a run folder; repeat "
                              "the flag or give a comma-separated list")
    flags.DEFINE_string("out_dir", "runs/eval_lfw", "output folder")
    flags.DEFINE_boolean("no_teacher_rows", False, "skip the T and T-p-up rows (no teacher network pass; cross then "
                         "needs --teacher_features=descriptors)")
    define = config_flags.define_override
    define("names", "strings", "row names, one per student (None: the run folder's S-p-mode, else S-p)")
    define("config", "string", "training config.json for .weights.h5 students (None: found beside them)",
           key="student_config")
    define("lfw_root", "string", "LFW folder with lfw-deepfunneled/, protocol/, dlib/ (None: ../shared/data/lfw)")
    define("folds", "ints", "View-2 folds 1..10 to evaluate (None: all ten, 6,000 pairs)")
    define("exclude_people", "string", "file of LFW names (one per line; people.txt format accepted): pairs "
           "involving them are dropped")
    define("teacher_features", "enum", "T's features: run the Keras port of dlib_resnet (cached in "
           "OUT_DIR/teacher_features) or read dlib/descriptors.npy", choices=("port", "descriptors"))
    define("target_mean", "string", "[D] .npy the regression targets were centred by (None: target_mean.npy beside "
           "the student or up to 3 folders above; else uncentred)")
    define("max_pairs", "int", "keep only the first max_pairs/2 matched and mismatched pairs (smoke runs)")
    define("batch_size", "int", "teacher batch size")
    define("tflite_threads", "int", "threads of the TFLite interpreter (None: its own)")
    flags.adopt_module_key_flags(config_flags)


def main(argv: Sequence[str]) -> None:
    del argv
    students = tuple(s.strip() for value in FLAGS.student for s in value.split(",") if s.strip())
    if not students:
        raise app.UsageError("--student is required (a .keras, .weights.h5 or .tflite file, or a run folder)")
    overrides = {"students": students, **({"teacher_rows": False} if FLAGS.no_teacher_rows else {})}
    config = apply_overrides(config_flags.config_from_flags("eval_lfw"), overrides)
    result = eval_lfw.run(config, FLAGS.out_dir, log=logging.info, progress=True)
    print(result["table"], flush=True)
    print(json.dumps({"out_dir": FLAGS.out_dir, "n_pairs": result["pairs"]["n_pairs"]}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
