"""Low-resolution face identification on UCCS (paper Section IV-D).

    python -m experiments.eval_uccs --uccs_csv=UCCS/training.csv --student=runs/s16_sc/student.keras --out_dir=D
    python -m experiments.eval_uccs --uccs_csv=UCCS/training.csv --out_dir=D      # trained directly on UCCS

The subset (`skd_tf.data.uccs`): the 180 subjects with the most faces, each face cropped and normalised to 16x16,
a seeded stratified 4:1 split into training and testing. With `--student` (the paper's S-16-sc pre-trained on
UMDFaces) the parameters before the mimic layer are frozen, the softmax is replaced by a new 180-way layer and the
rest (mimic, identity and softmax layers) is trained with class supervision on the training faces through
`skd_tf.training.run_stage`; without it a student is trained from scratch on the training faces
(`skd_tf.training.train_student`), the paper's first UCCS result. Reports top-1 and top-5 error on the test faces.

UCCS_CSV has the challenge's columns FILE, FACE_ID, SUBJECT_ID, FACE_X, FACE_Y, FACE_WIDTH, FACE_HEIGHT; images are
read from `--image_dir` (default: the CSV's folder). Writes OUT/results.json and OUT/student/ (weights and model).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
TRAINABLE_HEAD = ("mimic", "identity", "logits")


def define_flags() -> None:
    """Defines the absl flags (only when run as a program)."""
    flags.DEFINE_string("uccs_csv", None, "UCCS ground-truth CSV")
    flags.DEFINE_string("image_dir", None, "folder of the CSV's images (default: the CSV's folder)")
    flags.DEFINE_integer("num_subjects", 180, "subjects with the most faces kept in the subset")
    flags.DEFINE_integer("resolution", 16, "face size p of the subset and the student")
    flags.DEFINE_integer("seed", 0, "seed of the 4:1 split and of training")
    flags.DEFINE_string("student", None, "pre-trained student (.keras or .weights.h5 as written by train_student, "
                        "or its run dir)")
    flags.DEFINE_bool("freeze", True, "with --student: freeze every layer before the mimic layer")
    flags.DEFINE_integer("epochs", 30, "training epochs")
    flags.DEFINE_integer("batch_size", 64, "training batch size")
    flags.DEFINE_float("learning_rate", 1e-3, "learning rate")
    flags.DEFINE_enum("on_corrupt", "fail", ["fail", "skip"], "an unusable face (truncated or undecodable image, face "
                      "box outside the image): fail naming the file and CSV line, or skip it (counted and listed "
                      "under 'skipped' in results.json)")
    flags.DEFINE_string("out_dir", None, "output folder")


def freeze_before_mimic(student) -> list[str]:
    """Sets every layer outside the mimic / identity / softmax head to non-trainable; returns the frozen names."""
    frozen = []
    for layer in student.layers:
        if layer.name not in TRAINABLE_HEAD and layer.weights:
            layer.trainable = False
            frozen.append(layer.name)
    return frozen


def check_args(uccs_csv: str, out_dir: str, image_dir: str | None = None, num_subjects: int = 180,
               resolution: int = 16, student: str | None = None, epochs: int = 30, batch_size: int = 64,
               learning_rate: float = 1e-3, on_corrupt: str = "fail") -> None:
    """The flags of `run`, checked before any image is read or anything is written: ranges, files that must exist."""
    import math

    if not uccs_csv or not Path(uccs_csv).is_file():
        raise FileNotFoundError(f"--uccs_csv: {uccs_csv} does not exist (expected the UCCS ground-truth CSV)")
    if image_dir is not None and not Path(image_dir).is_dir():
        raise FileNotFoundError(f"--image_dir: {image_dir} is not a folder (expected the folder of the CSV's images)")
    if not out_dir:
        raise ValueError("--out_dir: expected an output folder")
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ValueError(f"--out_dir: {out_dir} exists and is not a folder")
    for name, value in (("num_subjects", num_subjects), ("resolution", resolution), ("epochs", epochs),
                        ("batch_size", batch_size)):
        if isinstance(value, bool) or int(value) != value or int(value) < 1:
            raise ValueError(f"--{name}: expected a positive integer, got {value!r}")
    if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"--learning_rate: expected a finite number > 0, got {learning_rate!r}")
    if on_corrupt not in ("fail", "skip"):
        raise ValueError(f"--on_corrupt: expected 'fail' or 'skip', got {on_corrupt!r}")
    if student:
        from skd_tf.serving import CHECKPOINT_SUFFIXES, resolve_student_path

        resolve_student_path(student, suffixes=CHECKPOINT_SUFFIXES, what="--student")  # naming the path


def check_subset(subset, uccs_csv: str) -> None:
    """Refuses a subset whose training or test split is empty (before any training), naming the CSV and the split:
    the seeded 4:1 split puts floor(n / 5) of a subject's n faces in the test split, so subjects with fewer than 5
    usable faces give it none."""
    n_train, n_test = len(subset.train_labels), len(subset.test_labels)
    if n_train and n_test:
        return
    counts = np.bincount(np.concatenate([subset.train_labels, subset.test_labels]),
                         minlength=subset.num_classes) if subset.num_classes else np.zeros(0, np.int64)
    most = int(counts.max()) if counts.size else 0
    split = "test" if n_train else "training"
    raise ValueError(
        f"{uccs_csv}: the {split} split of the UCCS subset is empty ({n_train} training / {n_test} test faces of "
        f"{subset.num_classes} subjects, at most {most} usable faces per subject; the 4:1 split gives a subject's test "
        f"split floor(n / 5) of its n faces, so at least one subject needs 5 or more). Use a CSV whose subjects have "
        f"more usable faces")


def run(uccs_csv: str, out_dir: str, image_dir: str | None = None, num_subjects: int = 180, resolution: int = 16,
        seed: int = 0, student: str | None = None, freeze: bool = True, epochs: int = 30, batch_size: int = 64,
        learning_rate: float = 1e-3, on_corrupt: str = "fail", verbose: int = 0) -> dict:
    """The whole protocol; returns (and writes) the results dict. The flags (`check_args`) and the subset's split
    sizes (`check_subset`) are checked before any training, so a refused run writes nothing."""
    import keras
    import tensorflow as tf

    from skd_tf.training.transfer import transfer_student
    from skd_tf.data.uccs import load_uccs_subset
    from skd_tf.evaluation.identification import topk_error
    from skd_tf.serving import CHECKPOINT_SUFFIXES, check_student, load_student, resolve_student_path
    from skd_tf.grid import embed
    from skd_tf.training import StudentData, TrainConfig, run_stage, save_student_weights, train_student
    from skd_tf.utils.io import atomic_path, write_json

    check_args(uccs_csv, out_dir, image_dir, num_subjects, resolution, student, epochs, batch_size, learning_rate,
               on_corrupt)
    out = Path(out_dir)
    subset = load_uccs_subset(uccs_csv, image_dir, num_subjects=num_subjects, size=resolution, seed=seed,
                              on_corrupt=on_corrupt)
    check_subset(subset, uccs_csv)
    out.mkdir(parents=True, exist_ok=True)
    rows = np.arange(len(subset.train_labels), dtype=np.int64)
    data = StudentData.build(subset.train_images, rows, rows, subset.train_labels)
    frozen, copied = [], []
    if student:
        student_path = resolve_student_path(student, suffixes=CHECKPOINT_SUFFIXES, what="--student")
        pretrained = check_student(load_student(student_path), what=f"--student {student_path}")
        net, copied = transfer_student(pretrained, resolution, subset.num_classes, seed=seed)
        if freeze:
            frozen = freeze_before_mimic(net)
        config = TrainConfig(resolution=resolution, supervision="c", epochs=epochs, init_epochs=0,
                             batch_size=batch_size, learning_rate=learning_rate,
                             identity_dim=int(net.get_layer("identity").units),
                             feature_dim=int(net.get_layer("mimic").units), num_classes=subset.num_classes,
                             seed=seed, tensorboard=False, verbose=verbose)
        keras.utils.set_random_seed(seed)
        summary = run_stage(net, "c", epochs, learning_rate, out / "student" / "stage_uccs_c", data, None, config,
                            tf.distribute.get_strategy())
        metrics = {k: v[-1] for k, v in summary["history"].items() if v}
        save_student_weights(net, out / "student" / "student.weights.h5")
        with atomic_path(out / "student" / "student.keras", suffix=".keras") as tmp:
            net.save(tmp)
    else:
        config = TrainConfig(resolution=resolution, supervision="c", epochs=0, init_epochs=epochs,
                             batch_size=batch_size, learning_rate=learning_rate, num_classes=subset.num_classes,
                             seed=seed, tensorboard=False, verbose=verbose)
        result = train_student(config, data, model_dir=out / "student")
        net, metrics = result.student, result.metrics

    logits = embed(net, subset.test_images, outputs=("logits",))["logits"]
    top1, top5 = topk_error(logits, subset.test_labels, 1), topk_error(logits, subset.test_labels, 5)
    n_test = len(subset.test_labels)
    results = {
        "num_subjects": subset.num_classes, "resolution": resolution, "seed": seed,
        "train_images": int(len(subset.train_labels)), "test_images": n_test,
        "student": str(student_path) if student else None, "frozen_layers": frozen,
        "transferred_layers": copied, "top1_error": top1, "top5_error": top5,
        "top1_correct": int(round((1 - top1) * n_test)), "top5_correct": int(round((1 - top5) * n_test)),
        "skipped": subset.skipped, "num_skipped": sum(len(s["face_ids"]) for s in subset.skipped),
        "training_metrics": metrics,
    }
    write_json(out / "results.json", results)
    return results


def main(argv: Sequence[str]) -> None:
    del argv
    for name in ("uccs_csv", "out_dir"):
        if not getattr(FLAGS, name):
            raise app.UsageError(f"--{name} is required")
    r = run(FLAGS.uccs_csv, FLAGS.out_dir, FLAGS.image_dir, FLAGS.num_subjects, FLAGS.resolution, FLAGS.seed,
            FLAGS.student, FLAGS.freeze, FLAGS.epochs, FLAGS.batch_size, FLAGS.learning_rate, FLAGS.on_corrupt,
            verbose=2)
    print(f"UCCS {r['num_subjects']} subjects, {r['train_images']} training / {r['test_images']} test faces at "
          f"{r['resolution']}x{r['resolution']}: top-1 error {100 * r['top1_error']:.2f}% "
          f"({r['top1_correct']} correct), top-5 error {100 * r['top5_error']:.2f}% ({r['top5_correct']} correct)")
    if r["num_skipped"]:
        print(f"left out {r['num_skipped']} unusable face(s) (--on_corrupt=skip; listed in results.json)")


if __name__ == "__main__":
    define_flags()
    app.run(main)
