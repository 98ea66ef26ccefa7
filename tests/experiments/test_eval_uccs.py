"""UCCS identification CLI (Section IV-D) end to end on synthetic UCCS-format data (skd_tf.data.uccs); the library
is tested in test_uccs.py."""
import json
import subprocess
import sys
from pathlib import Path

from skd_tf.data.uccs import write_synthetic_uccs

ROOT = Path(__file__).resolve().parents[2]


def test_cli_from_scratch(tmp_path):
    uccs_csv = write_synthetic_uccs(tmp_path / "uccs", num_subjects=185, max_faces=6, seed=0)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.eval_uccs", f"--uccs_csv={uccs_csv}", "--num_subjects=40", "--epochs=1",
         "--batch_size=64", f"--out_dir={out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "UCCS 40 subjects" in proc.stdout and "top-5 error" in proc.stdout
    r = json.loads((out / "results.json").read_text())
    assert r["num_subjects"] == 40 and r["frozen_layers"] == [] and r["student"] is None


def test_cli_refuses_a_bad_flag_naming_the_field(tmp_path):
    (tmp_path / "training.csv").write_text("FILE,FACE_ID,SUBJECT_ID,FACE_X,FACE_Y,FACE_WIDTH,FACE_HEIGHT\n")
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.eval_uccs", f"--uccs_csv={tmp_path / 'training.csv'}", "--epochs=0",
         f"--out_dir={tmp_path / 'out'}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "ValueError: train.epochs: expected an integer >= 1, got 0" in proc.stderr
    assert not (tmp_path / "out").exists()
