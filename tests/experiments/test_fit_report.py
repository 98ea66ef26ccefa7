"""Tests for skd_tf.experiments.fit_report: the student's and the ceiling's explained fractions, recomputed by hand."""
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from data_builders.face_folder.face_folder_dataset_builder import Builder
from skd_tf.analysis.fit import explained_fraction, linear_ceiling
from skd_tf.data.chips import read_chips
from skd_tf.data.degrade import upscale_to
from skd_tf.data.sources import Degradation, TfdsFaces
from skd_tf.experiments.fit_report import regression_fit
from skd_tf.models.student import build_student

DUMMY = Path(__file__).resolve().parents[2] / "data_builders" / "face_folder" / "dummy_data"


def test_regression_fit_equals_the_hand_computation(tmp_path):
    builder = Builder(data_dir=str(tmp_path / "tfds"), config="aligned_150")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(DUMMY)))
    faces = TfdsFaces(builder.data_dir)
    rows = faces.row_ids
    targets = np.random.default_rng(0).normal(size=(len(rows), 6)).astype(np.float32)
    degradation = Degradation(16, 2, seed=3)
    student = build_student(16, feature_dim=6, num_classes=3, seed=0)
    student.save(tmp_path / "s.keras")
    teacher = keras.Sequential([keras.Input((24, 24, 3)), keras.layers.GlobalAveragePooling2D(),
                                keras.layers.Dense(5, kernel_initializer=keras.initializers.GlorotUniform(seed=1))])
    fit = regression_fit(lambda r: read_chips(faces, r), rows, targets, {16: degradation}, teacher, 24,
                         {16: {"S": str(tmp_path / "s.keras")}},
                         feature_norm="l2", feature_scale=2.0, num_fit=6, num_eval=4, seed=5)["16"]
    assert (fit["num_fit"], fit["num_eval"], fit["resolution"]) == (6, 4, 16)

    # By hand: the same seeded draw, epoch-0 crops, L2 targets scaled to 2, the teacher on the upscaled crops.
    pick = np.random.default_rng(5).choice(len(rows), 10, replace=False)
    chips = {int(r): (faces.decode(e).numpy(), lm.numpy()) for e, lm, r in faces.read(0, len(faces))}
    crops = np.stack([degradation.degrade(*chips[int(r)], int(r), 0)[0] for r in rows[pick]])
    goal = targets[pick] / np.linalg.norm(targets[pick], axis=1, keepdims=True) * 2.0
    up = np.asarray(teacher(upscale_to(crops, 24).astype(np.float32)), np.float64)
    np.testing.assert_allclose(fit["ceiling"], linear_ceiling(up[:6], goal[:6], up[6:], goal[6:]), rtol=1e-5)
    mimic = np.asarray(student(tf.constant(crops[6:], tf.float32), training=False)["mimic"])
    np.testing.assert_allclose(fit["students"]["S"], explained_fraction(goal[6:], mimic), rtol=1e-4, atol=1e-5)
