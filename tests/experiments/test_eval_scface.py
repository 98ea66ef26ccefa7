"""SCface retrieval CLI (Section IV-E, Table II) end to end on the synthetic dummy data of data_builders/scface."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from skd_tf.models.student import build_student

ROOT = Path(__file__).resolve().parents[2]
DUMMY = ROOT / "data_builders" / "scface" / "dummy_data"


def test_cli_paper_protocol_on_dummy_data(tmp_path):
    pretrained = build_student(16, feature_dim=32, num_classes=7, seed=0)
    pretrained.save(tmp_path / "pre.keras")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.eval_scface", f"--scface_dir={DUMMY}",
         f"--student={tmp_path / 'pre.keras'}", "--epochs=1", "--batch_size=100", f"--out_dir={out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1200 probes x 80 gallery" in proc.stdout
    r = json.loads((out / "results.json").read_text())
    assert r["gallery"] == 80 and r["probes"] == 1200 and r["train_images"] == 800
    assert len(r["train_subjects"]) == 50 and r["num_skipped"] == 0 and r["skipped"] == {}
    assert {d: v["probes"] for d, v in r["rank1_per_distance"].items()} == {"1": 400, "2": 400, "3": 400}
    per = [v["rank1"] for v in r["rank1_per_distance"].values()]
    assert np.isclose(np.mean(per), r["rank1_total"])  # equal probes per distance
    assert len(r["cmc"]) == 80 and np.isclose(r["cmc"][-1], 1.0) and np.isclose(r["cmc"][0], r["rank1_total"])
    assert r["resolution"] == 16 and "mimic" in r["transferred_layers"] and "logits" not in r["transferred_layers"]
    assert (out / "cmc.png").stat().st_size > 0 and (out / "student" / "student.keras").is_file()
