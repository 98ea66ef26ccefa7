"""The export CLI (`python -m experiments.export`) end to end on a freshly built 16 px student."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from skd_tf.models.student import build_student
from skd_tf.serving import keras_reference, load_saved_model_signature

ROOT = Path(__file__).resolve().parents[2]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "experiments.export", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_cli_exports_weights_checkpoint_with_training_config(tmp_path):
    model = build_student(16, feature_dim=64, num_classes=5, seed=1)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    model.save_weights(run_dir / "student.weights.h5")
    # The layout skd_tf.training writes: top-level nulls, resolved values nested.
    (run_dir / "config.json").write_text(json.dumps(
        {"resolution": 16, "feature_dim": None, "num_classes": None, "identity_dim": 128,
         "resolved": {"feature_dim": 64, "num_classes": 5}}))
    faces = np.random.default_rng(0).integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "train16.npz", images=faces, labels=np.zeros(20, np.int64))
    (tmp_path / "metrics.json").write_text(json.dumps({"lfw_auc": 0.5}))
    out = tmp_path / "out"
    res = _run(f"--checkpoint={run_dir / 'student.weights.h5'}", f"--out_dir={out}", "--kinds=saved_model,int8",
               f"--representative=npz:{tmp_path / 'train16.npz'}", "--teacher=dlib_resnet",
               "--training_data=test faces", f"--metrics_json={tmp_path / 'metrics.json'}")
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((out / "export_summary.json").read_text())
    assert set(summary) == {"saved_model", "int8"}
    side = json.loads((out / "student_16px_int8.tflite.json").read_text())
    assert side["teacher"] == "dlib_resnet" and side["metrics"] == {"lfw_auc": 0.5}
    assert side["calibration"]["n_faces"] == 20
    ref = keras_reference(model, faces[:4])
    got = load_saved_model_signature(out / "saved_model")(images=faces[:4])
    np.testing.assert_allclose(got["embedding"], ref["embedding"], atol=1e-5)


def test_cli_reports_missing_checkpoint(tmp_path):
    res = _run(f"--checkpoint={tmp_path / 'nope.keras'}", f"--out_dir={tmp_path / 'o'}")
    assert res.returncode != 0
    assert "nope.keras" in res.stderr


def test_cli_refuses_a_resolution_or_config_other_than_the_checkpoints(tmp_path):
    """A 16 px checkpoint exported with --resolution=32, or with a --config saying 32, fails naming both values and
    files, and writes nothing (it used to write student_32px_float32.tflite around the 16 px weights)."""
    model = build_student(16, feature_dim=8, num_classes=3, seed=1)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    weights = run_dir / "student.weights.h5"
    model.save_weights(weights)
    (run_dir / "config.json").write_text(json.dumps(
        {"resolution": 16, "feature_dim": None, "num_classes": None, "resolved": {"feature_dim": 8, "num_classes": 3}}))
    out = tmp_path / "out"
    res = _run(f"--checkpoint={weights}", f"--out_dir={out}", "--kinds=float32", "--representative=synthetic",
               "--resolution=32")
    assert res.returncode != 0
    assert f"{weights}: asked for resolution 32 but {run_dir / 'config.json'} (the checkpoint's run record) says " \
           f"resolution 16" in res.stderr, res.stderr[-3000:]
    cfg32 = tmp_path / "cfg32.json"
    cfg32.write_text(json.dumps({"resolution": 32, "feature_dim": 8, "num_classes": 3}))
    res = _run(f"--checkpoint={weights}", f"--out_dir={out}", "--kinds=float32", "--representative=synthetic",
               f"--config={cfg32}")
    assert res.returncode != 0
    assert f"{cfg32} says resolution 32 but the checkpoint's run record {run_dir / 'config.json'} says resolution " \
           f"16" in res.stderr, res.stderr[-3000:]
    assert not out.exists()
