"""End-to-end smoke test of experiments/lfw_lowres.py on real LFW (skipped when ../shared/data is absent)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _run(lfw_root, out_dir, *extra):
    cmd = [sys.executable, "-m", "experiments.lfw_lowres", f"--lfw_root={lfw_root}", f"--out_dir={out_dir}",
           "--test_fold=3", "--max_train_people=80", "--max_test_pairs=60", "--resolutions=16", "--modes=c,sc",
           "--perturbations=1", "--init_epochs=1", "--epochs=1", "--batch_size=32", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out_dir / "results.json").read_text())


def test_lfw_lowres_smoke_run(lfw_root, tmp_path):
    out = tmp_path / "run"
    res = _run(lfw_root, out)
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
    assert sel["one_image_faces_kept"] == 0 and 0 < sel["kept"] < sel["faces"]
    for f in ("fig7_lfw_auc.png", "roc.png", "lambda_sweep.png", "selection.json", "scores.npz"):
        assert (out / f).is_file(), f
    # A rerun with the same flags resumes every finished stage and reproduces the figures exactly.
    again = _run(lfw_root, out)
    assert again["reports"]["S-16-sc"]["both"]["roc_auc"] == reports["S-16-sc"]["both"]["roc_auc"]
    with np.load(out / "scores.npz") as z:
        assert z["is_same"].sum() == 30


def test_lfw_lowres_refuses_other_settings_in_same_folder(lfw_root, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "flags.json").write_text(json.dumps({"test_fold": 3, "seed": 99}))
    cmd = [sys.executable, "-m", "experiments.lfw_lowres", f"--lfw_root={lfw_root}", f"--out_dir={out}",
           "--test_fold=3", "--max_train_people=10", "--max_test_pairs=10"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert proc.returncode != 0 and "other settings" in proc.stderr


def test_combine_folds_scores_all_pairs_with_official_folds(tmp_path):
    from experiments.lfw_lowres import combine_folds
    from skd_tf.evaluation.verification import roc_auc

    rng = np.random.default_rng(0)
    dirs, all_same, all_t = [], [], []
    for k in range(3):
        d = tmp_path / f"fold{k + 1}"
        d.mkdir()
        same = np.r_[np.ones(10, bool), np.zeros(10, bool)]
        t = same + rng.normal(0, 0.8, 20)
        np.savez(d / "scores.npz", is_same=same, pair_lines=np.arange(20), T=t,
                 **{"S-16-c__mimic": -t, "S-16-c__both": -t, "S-16-sc__both": t})
        dirs.append(d)
        all_same.append(same)
        all_t.append(t)
    res = combine_folds(tmp_path, dirs)
    same, t = np.concatenate(all_same), np.concatenate(all_t)
    assert res["reports"]["T"]["n_pairs"] == 60 and len(res["reports"]["T"]["accuracy_per_fold"]) == 3
    assert res["reports"]["T"]["roc_auc"] == roc_auc(t, same)
    assert res["reports"]["S-16-c"]["mimic"]["roc_auc"] == roc_auc(-t, same)
    assert res["comparisons"]["S-16-sc > S-16-c"]["difference"] == roc_auc(t, same) - roc_auc(-t, same)
    assert (tmp_path / "results.json").is_file()
