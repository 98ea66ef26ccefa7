"""Tests for experiments/train_student.py (absl CLI over skd_tf.training.train_student)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skd_tf.training.data_io import load_student_data, save_student_arrays

ROOT = Path(__file__).resolve().parents[2]


def _files(d: Path):
    rng = np.random.default_rng(0)
    rows = np.arange(10, 30)
    save_student_arrays(d / "train.npz", rng.integers(0, 256, (48, 16, 16, 3)).astype(np.uint8),
                        rng.choice(rows, 48), rows, np.arange(20) % 4)
    np.savez(d / "feats.npz", features=rng.normal(size=(20, 8)).astype(np.float32), row_ids=rows[::-1])
    np.save(d / "alpha.npy", rng.random(20) > 0.3)


def test_cli_trains_and_writes_flags(tmp_path):
    _files(tmp_path)
    cmd = [sys.executable, "-m", "experiments.train_student", f"--train_data={tmp_path / 'train.npz'}",
           "--resolution=16", "--supervision=sc", f"--teacher_features={tmp_path / 'feats.npz'}",
           f"--selection={tmp_path / 'alpha.npy'}", f"--model_dir={tmp_path / 'run'}", "--epochs=1",
           "--init_epochs=1", "--batch_size=16", "--verbose=0", "--notensorboard"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["reg_loss"] > 0 and out["cls_loss"] > 0
    run = tmp_path / "run"
    flags = json.loads((run / "flags.json").read_text())
    assert flags["supervision"] == "sc" and flags["resolution"] == 16 and flags["batch_size"] == 16
    assert flags["teacher_features"].endswith("feats.npz")
    for name in ("config.json", "student.weights.h5", "student.keras", "stage1_c/done.json",
                 "stage3_sc/history.csv"):
        assert (run / name).is_file(), name


def test_data_files_join_by_row_id(tmp_path):
    _files(tmp_path)
    data = load_student_data(tmp_path / "train.npz", tmp_path / "feats.npz", tmp_path / "alpha.npy")
    with np.load(tmp_path / "feats.npz") as z:
        feats, frows = z["features"], z["row_ids"]
    alpha = np.load(tmp_path / "alpha.npy")
    for i, r in enumerate(data.table.row_ids):
        k = int(np.flatnonzero(frows == r)[0])
        np.testing.assert_array_equal(data.table.features[i], feats[k])
        assert data.table.alpha[i] == alpha[k]
    np.savez(tmp_path / "short.npz", features=feats[:5], row_ids=frows[:5])
    with pytest.raises(ValueError, match="train.npz: no feature for 15"):
        load_student_data(tmp_path / "train.npz", tmp_path / "short.npz")
    with pytest.raises(FileNotFoundError):
        load_student_data(tmp_path / "nope.npz")


def test_cli_streams_a_tfds_dataset(tmp_path, umdfaces_dummy_dir):
    """--train_data=<prepared TFDS folder>: crops are made on the fly (2 perturbations of 12 faces per epoch)."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "feats.npz", features=rng.normal(size=(12, 8)).astype(np.float32), row_ids=np.arange(12))
    cmd = [sys.executable, "-m", "experiments.train_student", f"--train_data={umdfaces_dummy_dir}", "--resolution=16",
           "--perturbations=2", "--supervision=dc", f"--teacher_features={tmp_path / 'feats.npz'}",
           f"--model_dir={tmp_path / 'run'}", "--epochs=1", "--init_epochs=1", "--batch_size=8", "--verbose=0",
           "--notensorboard"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stage = json.loads((tmp_path / "run" / "stage3_dc" / "stage.json").read_text())
    assert stage["train_data"]["kind"] == "tfds" and stage["train_data"]["num_perturbations"] == 2
    assert stage["train_images"] == 24 and json.loads((tmp_path / "run" / "flags.json").read_text())["perturbations"] == 2
