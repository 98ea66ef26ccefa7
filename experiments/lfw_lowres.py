"""Fig. 7 on real faces: students distilled from the dlib ResNet teacher on LFW people, verified on a held-out fold.

A configuration of the paper's pipeline (`skd_tf.experiments.paper`; paper Section IV-C): LFW is built once with the
face-folder TFDS builder in place (`--data_dir`, 13,233 aligned 150-px chips; nothing is copied), the students train
on every image of the people outside View-2 fold `--test_fold` (their low-resolution faces are made on the fly from
the chips) and are tested on the 600 pairs of that fold with `skd_tf.evaluation.lfw_view2`, so no test identity is
ever seen in training. `--test_fold=all` runs the ten folds and pools all 6,000 pairs over the official folds;
`--combine=DIR1,DIR2` pools finished fold folders.

    python -m experiments.lfw_lowres --test_fold=1                       # the full fold-1 run (about 40 min here)
    python -m experiments.lfw_lowres --quick --out_dir=runs/lfw_quick    # smoke run

It prints the View-2 table (T, T-p-up, S-p-m: AUC, 10-fold accuracy, TAR at FAR 1e-3 / 1e-2, EER per feature) and
the paper's orderings with paired-bootstrap intervals, e.g. `S-32-sc > S-16-sc  AUC difference +4.99 points`.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from absl import app, flags

FLAGS = flags.FLAGS

QUICK = {"max_train_people": 1200, "max_test_pairs": 300, "perturbations": 2, "init_epochs": 8, "epochs": 8,
         "resolutions": ["16", "32"]}


def define_flags():
    flags.DEFINE_string("lfw_root", None, "LFW folder with lfw-deepfunneled/, protocol/, dlib/ "
                        "(default: ../shared/data/lfw).")
    flags.DEFINE_string("data_dir", "runs/tfds_lfw", "TFDS folder of the face-folder build of LFW (built once).")
    flags.DEFINE_string("dataset", None, "A prepared face-folder build of LFW (a TFDS name under --data_dir or the "
                        "dataset's folder) holding at least the training people, with row_id = landmarks5.csv row "
                        "(default: build all of LFW into --data_dir).")
    flags.DEFINE_string("out_dir", "runs/lfw_lowres", "Output folder (a rerun with the same flags resumes).")
    flags.DEFINE_string("test_fold", "1", "Held-out View-2 fold 1..10, or 'all' for all ten.")
    flags.DEFINE_list("resolutions", ["16", "32"], "Student input resolutions p.")
    flags.DEFINE_list("modes", ["c", "s", "sc", "dc"], "Supervision modes of stage 3 (Section IV-C).")
    flags.DEFINE_integer("perturbations", 4, "Low-resolution versions per training face (the paper uses 16).")
    flags.DEFINE_enum("sampling", "fixed", ["fixed", "fresh"], "fixed: the same --perturbations crops of a face "
                      "every epoch (the paper); fresh: one new crop per face per epoch.")
    flags.DEFINE_float("jitter", 0.05, "Landmark jitter, in inter-ocular distances.")
    flags.DEFINE_integer("init_epochs", 10, "Stage-1 (softmax) epochs.")
    flags.DEFINE_integer("epochs", 6, "Stage-3 epochs per mode.")
    flags.DEFINE_integer("batch_size", 256, "Mini-batch size (the paper's).")
    flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate of stage 1 (cosine decay per stage).")
    flags.DEFINE_float("finetune_learning_rate", 5e-4, "Adam learning rate of stage 3.")
    flags.DEFINE_enum("feature_norm", "l2", ["raw", "l2"], "Regression target: raw dlib descriptor, or "
                      "L2-normalised and multiplied by --feature_scale.")
    flags.DEFINE_float("feature_scale", 0.0, "Target norm for --feature_norm=l2 (0: sqrt(D), i.e. O(1) per "
                       "dimension, as the paper's 4096-D VGGFace fc7 targets; raw dlib descriptors have norm 1.42 "
                       "(centred 0.58), which leaves L_reg far below L_cls under Eq. 4's equal weights).")
    flags.DEFINE_boolean("center_targets", True, "Regress the teacher features centred by their training mean (the "
                         "mimic layer's bias could absorb the shift, but Adam's bounded steps would need thousands of "
                         "steps to learn the dlib descriptors' ~0.9-per-dimension common offset). The cross-resolution "
                         "score then compares the mimic feature with the centred teacher feature.")
    flags.DEFINE_float("keep_fraction", 0.9, "lambda rule: kept fraction of multi-image training faces.")
    flags.DEFINE_float("lam", None, "Use this lambda instead of the rule.")
    flags.DEFINE_integer("min_train_images", 1, "Train only on people with at least this many images (2 leaves out "
                         "the one-image people, whom Eq. 3 can never select).")
    flags.DEFINE_integer("max_train_people", None, "Random subset of training people (smoke runs).")
    flags.DEFINE_integer("max_test_pairs", None, "First pairs of the test fold, half same (smoke runs).")
    flags.DEFINE_integer("seed", 0, "Seed of crops, data order and initialisation.")
    flags.DEFINE_list("combine", None, "Only pool the scores of these finished fold folders into --out_dir "
                      "(e.g. runs/lfw_fold1,runs/lfw_fold2).")
    flags.DEFINE_boolean("quick", False, f"Smoke run: {QUICK}.")
    flags.DEFINE_integer("verbose", 0, "Keras fit verbosity (0: per-run summary lines only).")


def _value(name):
    return QUICK[name] if FLAGS.quick and name in QUICK and not FLAGS[name].present else FLAGS[name].value


def make_config(test_fold: int, lfw_root: str, dataset: str):
    from skd_tf.experiments.paper import PaperConfig
    from skd_tf.training import TrainConfig

    train = TrainConfig(init_epochs=_value("init_epochs"), epochs=_value("epochs"), batch_size=FLAGS.batch_size,
                        learning_rate=FLAGS.learning_rate, finetune_learning_rate=FLAGS.finetune_learning_rate,
                        feature_norm=FLAGS.feature_norm, feature_scale=FLAGS.feature_scale, seed=FLAGS.seed,
                        verbose=FLAGS.verbose)
    return PaperConfig(dataset=dataset, data_dir=FLAGS.data_dir, lfw_root=lfw_root, lfw_train_fold=test_fold,
                       min_train_images=FLAGS.min_train_images, max_train_people=_value("max_train_people"),
                       max_test_pairs=_value("max_test_pairs"),
                       resolutions=tuple(int(p) for p in _value("resolutions")), modes=tuple(FLAGS.modes),
                       perturbations=_value("perturbations"), sampling=FLAGS.sampling, jitter=FLAGS.jitter,
                       center_targets=FLAGS.center_targets, keep_fraction=FLAGS.keep_fraction, lam=FLAGS.lam,
                       train=train).validate()


def main(argv):
    del argv
    from skd_tf.experiments.paper import combine_folds, ensure_lfw_face_folder, run_paper
    from skd_tf.utils.paths import lfw_dir

    lfw_root = Path(FLAGS.lfw_root) if FLAGS.lfw_root else lfw_dir()
    if not (lfw_root / "protocol" / "people.txt").is_file():
        raise FileNotFoundError(f"{lfw_root / 'protocol' / 'people.txt'}: LFW protocol not found (--lfw_root)")
    out_dir = Path(FLAGS.out_dir)
    if FLAGS.combine:
        result = combine_folds(out_dir, [Path(d) for d in FLAGS.combine])
        print(result["table"] + "\n\n" + result["paper_table"])
        return
    if FLAGS.test_fold == "all":
        folds = list(range(1, 11))
    elif FLAGS.test_fold.isdigit() and 1 <= int(FLAGS.test_fold) <= 10:
        folds = [int(FLAGS.test_fold)]
    else:
        raise ValueError(f"--test_fold: expected 1..10 or 'all', got {FLAGS.test_fold!r}")
    configs = {k: make_config(k, str(lfw_root), "face_folder/aligned_150") for k in folds}  # validated up front
    dataset = FLAGS.dataset or ensure_lfw_face_folder(lfw_root, FLAGS.data_dir)
    dirs = [out_dir / f"fold{k}" for k in folds] if len(folds) > 1 else [out_dir]
    for k, d in zip(folds, dirs):
        run_paper(dataclasses.replace(configs[k], dataset=dataset), d)
    if len(folds) > 1:
        result = combine_folds(out_dir, dirs)
        print(result["table"] + "\n\n" + result["paper_table"])
    print(json.dumps({"out_dir": str(out_dir)}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
