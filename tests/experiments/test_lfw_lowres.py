"""End-to-end smoke test of experiments/lfw_lowres.py (the paper's pipeline configured for LFW folds) on real LFW,
skipped when ../shared/data is absent. The students stream from a face-folder TFDS build of the training people only
(identity folders linked, not copied), which keeps the test fast; and `skd_tf.experiments.run("lfw_lowres", ...)`'s
checks before any work."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skd_tf import experiments

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--test_fold=3", "--max_train_people=80", "--max_test_pairs=60", "--resolutions=16", "--modes=c,sc",
        "--perturbations=1", "--init_epochs=1", "--epochs=1", "--batch_size=32"]


def _run(lfw_root, out_dir, dataset, *extra):
    cmd = [sys.executable, "-m", "experiments.lfw_lowres", f"--lfw_root={lfw_root}", f"--out_dir={out_dir}",
           f"--dataset={dataset}", *ARGS, *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


def test_lfw_lowres_smoke_run(lfw_root, tmp_path, training_people_build):
    out = tmp_path / "run"
    proc = _run(lfw_root, out, training_people_build)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    reports = res["reports"]
    assert set(reports) == {"T", "T-16-up", "S-16-c", "S-16-sc"}
    # The dlib teacher separates LFW pairs on high-resolution chips (98.8% on all of View 2).
    assert reports["T"]["roc_auc"] > 0.95 and reports["T"]["n_pairs"] == 60
    assert reports["T-16-up"]["roc_auc"] < reports["T"]["roc_auc"]
    for name in ("S-16-c", "S-16-sc"):
        assert set(reports[name]) == {"identity", "mimic", "both", "cross"}
        for rep in reports[name].values():
            assert 0.0 <= rep["roc_auc"] <= 1.0 and len(rep["accuracy_per_fold"]) == 10
    sel = res["selection"]
    assert sel["one_image_faces_kept"] == 0 and 0 < sel["kept"] < sel["faces"] == res["split"]["train_images"]
    for f in ("fig7_lfw_auc.png", "lambda_sweep.png", "selection.json", "target_mean.npy", "lfw_view2/roc.png",
              "lfw_view2/scores.npz", "table.txt"):
        assert (out / f).is_file(), f
    # Every stage streamed its crops from the TFDS build, degraded on the fly.
    stage = json.loads((out / "students" / "S-16-sc" / "stage3_sc" / "stage.json").read_text())
    assert stage["train_data"]["kind"] == "tfds" and stage["train_data"]["num_perturbations"] == 1
    # A rerun with the same flags resumes every finished stage and reproduces the figures exactly (results.json
    # removed: with it, the finished run would just return it).
    (out / "results.json").unlink()
    again = _run(lfw_root, out, training_people_build)
    assert again.returncode == 0, again.stderr[-3000:]
    again_res = json.loads((out / "results.json").read_text())
    assert again_res["reports"]["S-16-sc"]["both"]["roc_auc"] == reports["S-16-sc"]["both"]["roc_auc"]
    assert "finished run" not in again.stdout + again.stderr
    with np.load(out / "lfw_view2" / "scores.npz") as z:
        assert z["is_same"].sum() == 30
    # Other settings in the same folder are refused before anything is written.
    before = (out / "settings.json").read_text()
    refused = _run(lfw_root, out, training_people_build, "--seed=99")
    assert refused.returncode != 0 and "other settings" in refused.stderr
    assert (out / "settings.json").read_text() == before


def test_cli_refuses_bad_modes_before_any_work(tmp_path):
    """No LFW build, no output folder: the refusal comes before `ensure_lfw_face_folder` (once 75 s of work)."""
    (tmp_path / "lfw" / "protocol").mkdir(parents=True)
    (tmp_path / "lfw" / "protocol" / "people.txt").write_text("")
    cmd = [sys.executable, "-m", "experiments.lfw_lowres", f"--lfw_root={tmp_path / 'lfw'}",
           f"--out_dir={tmp_path / 'run'}", f"--data_dir={tmp_path / 'tfds'}", "--modes=c,xx"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode != 0
    assert "ValueError: supervision: expected one of ('c', 's', 'sc', 'dc'), got 'xx'" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lfw"]  # no run/, no tfds/


def test_run_by_name_refuses_a_missing_lfw_protocol_before_any_work(tmp_path):
    """skd_tf.experiments.run dispatches "lfw_lowres" to skd_tf.experiments.lfw_lowres.run, which checks LFW first."""
    with pytest.raises(FileNotFoundError, match="people.txt: LFW protocol not found"):
        experiments.run("lfw_lowres", tmp_path / "run", overrides={"lfw_root": str(tmp_path / "nowhere"),
                                                                    "data_dir": str(tmp_path / "tfds")})
    assert list(tmp_path.iterdir()) == []
