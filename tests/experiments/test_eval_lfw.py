"""experiments/eval_lfw.py end to end on a few real LFW View-2 pairs (skipped when ../shared/data is absent)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "experiments.eval_lfw", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)


def _students(tmp_path):
    from skd_tf.models.student import build_student

    a = tmp_path / "runs" / "S-16-sc"
    a.mkdir(parents=True)
    build_student(16, feature_dim=128, num_classes=10, seed=0).save(a / "student.keras")
    np.save(tmp_path / "runs" / "target_mean.npy", np.full(128, 0.01, np.float32))
    b = tmp_path / "other" / "S-32-c"
    b.mkdir(parents=True)
    build_student(32, feature_dim=128, num_classes=7, seed=1).save_weights(b / "student.weights.h5")
    (b / "config.json").write_text(json.dumps({"resolution": 32, "feature_dim": 128, "num_classes": 7}))
    return a / "student.keras", b / "student.weights.h5"


def test_cli_scores_several_students(lfw_root, tmp_path):
    keras_file, weights = _students(tmp_path)
    out = tmp_path / "out"
    proc = _cli(f"--student={keras_file}", f"--student={weights},{keras_file}", f"--lfw_root={lfw_root}",
                "--folds=1", "--max_pairs=20", "--teacher_features=descriptors", "--no_teacher_rows",
                f"--out_dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TAR@FAR=1e-3" in proc.stdout and "S-32-c" in proc.stdout
    res = json.loads((out / "results.json").read_text())
    assert list(res["reports"]) == ["S-16-sc", "S-32-c", "S-16-sc#2"]  # no T rows; names made unique
    assert [s["resolution"] for s in res["students"]] == [16, 32, 16]
    assert res["students"][0]["target_mean"] == str(tmp_path / "runs" / "target_mean.npy")
    assert res["students"][1]["target_mean"] is None and any("uncentred" in n for n in res["notes"])
    assert set(res["reports"]["S-32-c"]) == {"identity", "mimic", "both", "cross"}
    assert res["reports"]["S-16-sc"]["both"]["roc_auc"] == res["reports"]["S-16-sc#2"]["both"]["roc_auc"]
    assert res["pairs"]["n_pairs"] == 20 and res["pairs"]["folds"] == [1]
    assert (out / "roc.png").stat().st_size > 0 and not (out / "teacher_features").exists()
    with np.load(out / "scores.npz") as z:
        assert z["S-32-c__cross"].shape == (20,)


def test_cli_rejects_bad_flags_before_work(lfw_root, tmp_path):
    keras_file, _ = _students(tmp_path)
    out = tmp_path / "out"
    proc = _cli(f"--student={keras_file}", f"--lfw_root={lfw_root}", "--folds=0,3", f"--out_dir={out}")
    assert proc.returncode != 0 and "folds: expected integers 1..10" in proc.stderr
    proc = _cli(f"--student={tmp_path / 'missing.tflite'}", f"--lfw_root={lfw_root}", f"--out_dir={out}")
    assert proc.returncode != 0 and "missing.tflite: file not found" in proc.stderr
    assert not out.exists()
