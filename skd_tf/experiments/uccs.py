"""Low-resolution face identification on UCCS (paper Section IV-D): `run(UccsConfig(...), out_dir)`.

The subset (`skd_tf.data.uccs`): the 180 subjects with the most faces, each face cropped and normalised to 16x16, a
seeded stratified 4:1 split into training and testing. With `student` (the paper's S-16-sc pre-trained on UMDFaces)
the parameters before the mimic layer are frozen (`freeze_before_mimic`), the softmax is replaced by a new 180-way
layer and the rest (mimic, identity and softmax layers) is trained with class supervision on the training faces
through `skd_tf.training.run_stage`; without it a student is trained from scratch on the training faces
(`skd_tf.training.train_student`), the paper's first UCCS result. Reports top-1 and top-5 error on the test faces.

The CSV has the challenge's columns FILE, FACE_ID, SUBJECT_ID, FACE_X, FACE_Y, FACE_WIDTH, FACE_HEIGHT; images are
read from `image_dir` (default: the CSV's folder). Writes OUT/results.json and OUT/student/ (weights and model).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from skd_tf.configs.uccs import UccsConfig
from skd_tf.data.uccs import UccsSubset, load_uccs_subset
from skd_tf.evaluation.identification import topk_error
from skd_tf.grid import embed
from skd_tf.serving import CHECKPOINT_SUFFIXES, check_student, load_student, resolve_student_path
from skd_tf.training import StudentData, run_stage, save_student_weights, train_student
from skd_tf.training.transfer import transfer_student
from skd_tf.utils.checks import check_out_dir
from skd_tf.utils.io import atomic_path, write_json

#: The layers trained when a pre-trained student is fine-tuned with `freeze`.
TRAINABLE_HEAD = ("mimic", "identity", "logits")


def freeze_before_mimic(student: keras.Model) -> list[str]:
    """Sets every layer outside the mimic / identity / softmax head to non-trainable; returns the frozen names."""
    frozen = []
    for layer in student.layers:
        if layer.name not in TRAINABLE_HEAD and layer.weights:
            layer.trainable = False
            frozen.append(layer.name)
    return frozen


def check_subset(subset: UccsSubset, uccs_csv: str) -> None:
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


def run(config: UccsConfig, out_dir: str | os.PathLike) -> dict:
    """The whole protocol of the module docstring; returns (and writes) the results dict. The config (and its files)
    and the subset's split sizes (`check_subset`) are checked before any training, so a refused run writes
    nothing."""
    config = config.validate(require_inputs=True)
    check_out_dir("out_dir", out_dir)
    out = Path(out_dir)
    train = config.train
    subset = load_uccs_subset(config.uccs_csv, config.image_dir, num_subjects=config.num_subjects,
                              size=train.resolution, seed=train.seed, on_corrupt=config.on_corrupt)
    check_subset(subset, config.uccs_csv)
    out.mkdir(parents=True, exist_ok=True)
    rows = np.arange(len(subset.train_labels), dtype=np.int64)
    data = StudentData.build(subset.train_images, rows, rows, subset.train_labels)
    frozen, copied, student_path = [], [], None
    if config.student:
        student_path = resolve_student_path(config.student, suffixes=CHECKPOINT_SUFFIXES, what="student")
        pretrained = check_student(load_student(student_path), what=f"student {student_path}")
        net, copied = transfer_student(pretrained, train.resolution, subset.num_classes, seed=train.seed)
        if config.freeze:
            frozen = freeze_before_mimic(net)
        stage_config = dataclasses.replace(train, init_epochs=0, identity_dim=int(net.get_layer("identity").units),
                                           feature_dim=int(net.get_layer("mimic").units),
                                           num_classes=subset.num_classes)
        keras.utils.set_random_seed(train.seed)
        summary = run_stage(net, "c", train.epochs, train.learning_rate, out / "student" / "stage_uccs_c", data,
                            None, stage_config, tf.distribute.get_strategy())
        metrics = {k: v[-1] for k, v in summary["history"].items() if v}
        save_student_weights(net, out / "student" / "student.weights.h5")
        with atomic_path(out / "student" / "student.keras", suffix=".keras") as tmp:
            net.save(tmp)
    else:  # from scratch: stage 1 (mode c) is the whole training
        result = train_student(dataclasses.replace(train, epochs=0, init_epochs=train.epochs,
                                                   num_classes=subset.num_classes),
                               data, model_dir=out / "student")
        net, metrics = result.student, result.metrics

    logits = embed(net, subset.test_images, outputs=("logits",))["logits"]
    top1, top5 = topk_error(logits, subset.test_labels, 1), topk_error(logits, subset.test_labels, 5)
    n_test = len(subset.test_labels)
    results = {
        "num_subjects": subset.num_classes, "resolution": train.resolution, "seed": train.seed,
        "train_images": int(len(subset.train_labels)), "test_images": n_test,
        "student": str(student_path) if student_path else None, "frozen_layers": frozen,
        "transferred_layers": copied, "top1_error": top1, "top5_error": top5,
        "top1_correct": int(round((1 - top1) * n_test)), "top5_correct": int(round((1 - top5) * n_test)),
        "skipped": subset.skipped, "num_skipped": sum(len(s["face_ids"]) for s in subset.skipped),
        "training_metrics": metrics,
    }
    write_json(out / "results.json", results)
    if results["num_skipped"]:
        logging.warning("left out %d unusable face(s) (on_corrupt=skip; listed in results.json)",
                        results["num_skipped"])
    return results


def format_result(results: dict) -> str:
    """The run's figures in one line: subset size, top-1 and top-5 error on the test faces."""
    return (f"UCCS {results['num_subjects']} subjects, {results['train_images']} training / "
            f"{results['test_images']} test faces at {results['resolution']}x{results['resolution']}: top-1 error "
            f"{100 * results['top1_error']:.2f}% ({results['top1_correct']} correct), top-5 error "
            f"{100 * results['top5_error']:.2f}% ({results['top5_correct']} correct)")
