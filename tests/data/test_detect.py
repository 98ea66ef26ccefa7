"""Tests for skd_tf.data.detect: dlib detection and landmarks on photos, native resolution, student crops."""
import csv

import numpy as np
import pytest

from skd_tf.data import detect
from skd_tf.data.align import alignment_matrix
from skd_tf.data.degrade import render_chip
from skd_tf.data.images import read_rgb

pytest.importorskip("dlib", reason="dlib is the optional 'detect' extra (pip install 'skd-tf[detect]')")


def _csv_rows(lfw_root, n):
    with open(lfw_root / "dlib" / "landmarks5.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["det"] == "hog"]
    return rows[::len(rows) // n][:n]


def test_reproduces_dlibs_own_landmarks_on_lfw(lfw_root):
    # landmarks5.csv is real dlib's HOG (upsample 1) + 5-point predictor on these JPEGs; the box it used is the one
    # nearest the image centre when several are found.
    detector = detect.FaceDetector(upsample=1)
    for row in _csv_rows(lfw_root, 12):
        image = read_rgb(lfw_root / "lfw-deepfunneled" / row["path"])
        faces = detector(image)
        assert faces, row["path"]
        box = (int(row["left"]), int(row["top"]), int(row["right"]), int(row["bottom"]))
        match = [f for f in faces if f.box == box]
        assert len(match) == 1, (row["path"], [f.box for f in faces], box)
        expected = np.array([[float(row[f"x{k}"]), float(row[f"y{k}"])] for k in range(5)])
        np.testing.assert_array_equal(match[0].landmarks, expected)
        np.testing.assert_array_equal(detector.landmarks_in_box(image, box), expected)
        sides = [f.box_side for f in faces]
        assert sides == sorted(sides, reverse=True)


def test_no_face_in_a_blank_image_and_bad_input():
    detector = detect.FaceDetector()
    assert detector(np.full((120, 160, 3), 128, np.uint8)) == []
    with pytest.raises(ValueError, match="uint8 RGB"):
        detector(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="upsample"):
        detect.FaceDetector(upsample=5)


def test_native_and_nearest_resolution():
    # A face whose 150 px chip region spans 40 image pixels has native resolution 40: the 32 px student is nearest.
    lm = np.array([[153.2, 112.6], [137.2, 113.4], [96.3, 113.9], [112.5, 113.9], [125.5, 144.7]])
    native = detect.native_resolution(lm)
    scale = np.hypot(*alignment_matrix(lm, 150)[:, 0])  # chip px per image px (dlib's step is ~1 px off)
    assert native == pytest.approx(150 / scale, rel=0.02)
    half = detect.native_resolution(lm * 0.5)
    assert half == pytest.approx(native * 0.5, rel=1e-9)
    assert detect.nearest_resolution(40.0, (16, 32, 64, 96)) == 32
    assert detect.nearest_resolution(20.0, (96, 16, 32)) == 16
    assert detect.nearest_resolution(24.0, (16, 32)) == 16  # a tie goes to the smaller student
    assert detect.nearest_resolution(500.0, (16, 32, 64, 96)) == 96
    with pytest.raises(ValueError, match="available"):
        detect.nearest_resolution(30.0, ())


def test_face_crop_is_the_training_renderer():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (250, 250, 3), dtype=np.uint8)
    lm = np.array([[153.2, 112.6], [137.2, 113.4], [96.3, 113.9], [112.5, 113.9], [125.5, 144.7]])
    crop = detect.face_crop(image, lm, 32)
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, render_chip(image, lm, 32))


def test_missing_dlib_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_dlib(name, *args, **kwargs):
        if name == "dlib":
            raise ImportError("No module named 'dlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dlib)
    with pytest.raises(ImportError, match=r"skd-tf\[detect\]"):
        detect.FaceDetector()
