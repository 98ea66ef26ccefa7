"""Tests for experiments/train_student.py (absl CLI over skd_tf.training.train_student)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
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
    with pytest.raises(ValueError, match=r"short.npz: no feature for 15 row id\(s\) of .*train.npz"):
        load_student_data(tmp_path / "train.npz", tmp_path / "short.npz")
    with pytest.raises(FileNotFoundError):
        load_student_data(tmp_path / "nope.npz")
    with pytest.raises(ValueError, match=r"crop_cache=.*train.npz is a student .npz of crops already rendered"):
        load_student_data(tmp_path / "train.npz", crop_cache=tmp_path / "crops")


def _weights(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda name, item: out.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return out


def test_cli_streams_a_tfds_dataset(tmp_path, umdfaces_dummy_dir):
    """--train_data=<prepared TFDS folder>: crops are made on the fly (2 perturbations of 12 faces per epoch); with
    --crop_cache they are rendered once into files and the run ends with exactly the same weights."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "feats.npz", features=rng.normal(size=(12, 8)).astype(np.float32), row_ids=np.arange(12))
    cmd = [sys.executable, "-m", "experiments.train_student", f"--train_data={umdfaces_dummy_dir}", "--resolution=16",
           "--perturbations=2", "--supervision=dc", f"--teacher_features={tmp_path / 'feats.npz'}",
           "--epochs=2", "--init_epochs=1", "--batch_size=8", "--verbose=0", "--notensorboard"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    for model_dir, extra in (("run", []), ("cached", [f"--crop_cache={tmp_path / 'crops'}"])):
        proc = subprocess.run(cmd + [f"--model_dir={tmp_path / model_dir}", *extra], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    stage = json.loads((tmp_path / "run" / "stage3_dc" / "stage.json").read_text())
    assert stage["train_data"]["kind"] == "tfds" and stage["train_data"]["num_perturbations"] == 2
    assert stage["train_images"] == 24
    assert json.loads((tmp_path / "run" / "flags.json").read_text())["perturbations"] == 2
    assert [f.name for f in (tmp_path / "crops" / "train").iterdir()][0].startswith("crops-16px-0-12-")
    plain, cached = (_weights(tmp_path / d / "student.weights.h5") for d in ("run", "cached"))
    assert plain.keys() == cached.keys() and len(plain) > 10
    for name in plain:
        np.testing.assert_array_equal(cached[name], plain[name], err_msg=name)


def _cli(tmp_path, *extra, model_dir="run"):
    cmd = [sys.executable, "-m", "experiments.train_student", f"--train_data={tmp_path / 'train.npz'}",
           "--resolution=16", f"--teacher_features={tmp_path / 'feats.npz'}", f"--model_dir={tmp_path / model_dir}",
           "--epochs=1", "--init_epochs=1", "--batch_size=16", "--verbose=0", "--notensorboard", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.parametrize("flag,expected", [
    ("--learning_rate=-1", "learning_rate: expected a finite number > 0, got -1.0"),
    ("--learning_rate=nan", "learning_rate: expected a finite number > 0, got nan"),
    ("--supervision=sc", "train.supervision='sc' weights L_reg by the selection alpha (Eq. 6): give selection"),
])
def test_cli_refuses_bad_flags_before_writing_anything(tmp_path, flag, expected):
    _files(tmp_path)
    proc = _cli(tmp_path, flag)
    assert proc.returncode != 0 and expected in proc.stderr, proc.stderr[-3000:]
    assert not (tmp_path / "run").exists()  # no flags.json, no config.json, no stage1_c/


def test_cli_refuses_val_data_of_another_resolution_up_front(tmp_path):
    _files(tmp_path)
    rng = np.random.default_rng(1)
    rows = np.arange(10, 30)
    save_student_arrays(tmp_path / "val32.npz", rng.integers(0, 256, (8, 32, 32, 3)).astype(np.uint8),
                        rows[:8], rows, np.arange(20) % 4)
    proc = _cli(tmp_path, "--supervision=dc", f"--val_data={tmp_path / 'val32.npz'}")
    assert proc.returncode != 0
    assert f"val_data={tmp_path / 'val32.npz'}: expected 16x16 faces (train.resolution=16), got 32x32" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_cli_refused_rerun_leaves_flags_and_config_unchanged(tmp_path):
    _files(tmp_path)
    first = _cli(tmp_path, "--supervision=dc", "--epochs=0")
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "run"
    before = {p: p.read_bytes() for p in run.rglob("*.json")}
    assert run / "flags.json" in before and run / "config.json" in before
    # Another stage-1 learning rate: refused by flags.json and, without it (a folder the library made), by
    # stage1_c/stage.json, before flags.json or config.json is written.
    proc = _cli(tmp_path, "--supervision=dc", "--epochs=0", "--learning_rate=0.01")
    assert proc.returncode != 0
    assert "flags.json: this folder was made with other settings {'learning_rate': (0.001, 0.01)}" in proc.stderr
    (run / "flags.json").unlink()
    proc = _cli(tmp_path, "--supervision=dc", "--epochs=0", "--learning_rate=0.01")
    assert proc.returncode != 0
    assert "stage1_c/stage.json: this folder was made with other settings {'learning_rate': (0.001, 0.01)}" \
        in proc.stderr, proc.stderr[-3000:]
    assert not (run / "flags.json").exists()
    (run / "flags.json").write_bytes(before[run / "flags.json"])
    # A flag the stages do not record (the selection file): refused by flags.json.
    np.save(tmp_path / "alpha2.npy", np.ones(20, bool))
    proc = _cli(tmp_path, "--supervision=dc", "--epochs=0", f"--selection={tmp_path / 'alpha2.npy'}")
    assert proc.returncode != 0
    alpha2 = tmp_path / "alpha2.npy"
    assert f"flags.json: this folder was made with other settings {{'selection': (None, '{alpha2}')}}" in proc.stderr, \
        proc.stderr[-3000:]
    assert {p: p.read_bytes() for p in run.rglob("*.json")} == before


def test_cli_diverging_run_exits_non_zero_and_cannot_be_resumed(tmp_path):
    _files(tmp_path)
    proc = _cli(tmp_path, "--supervision=dc", "--learning_rate=1e6", "--epochs=0")
    assert proc.returncode != 0
    assert "TrainingDiverged: stage1_c: training diverged at epoch 1 step" in proc.stderr, proc.stderr[-3000:]
    assert "learning rate 1e+06" in proc.stderr
    run = tmp_path / "run"
    assert (run / "stage1_c" / "diverged.json").is_file()
    for name in ("student.weights.h5", "student.keras", "result.json", "stage1_c/done.json",
                 "stage1_c/final.weights.h5", "stage1_c/best.weights.h5"):
        assert not (run / name).exists(), name
    again = _cli(tmp_path, "--supervision=dc", "--learning_rate=1e6", "--epochs=0")
    assert again.returncode != 0
    assert "stage1_c/diverged.json: this run diverged at epoch 1 step" in again.stderr
    assert "use a new model_dir or a lower learning rate" in again.stderr.lower()
