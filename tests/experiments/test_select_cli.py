"""CLI of the selection stage: `python -m experiments.select` writes alpha.npy / summary.json / the Fig. 5 sweep;
the library is tested in test_select.py."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _data(tmp_path, n_cls=4, k=9):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(n_cls, 12))
    labels = np.repeat(np.arange(n_cls) * 10 + 3, k)
    f = np.abs(centers[np.repeat(np.arange(n_cls), k)] + 0.4 * rng.normal(size=(n_cls * k, 12))).astype(np.float32)
    np.save(tmp_path / "f.npy", f)
    np.save(tmp_path / "l.npy", labels)
    return f, labels


def test_cli_single_lam_subprocess(tmp_path):
    f, labels = _data(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "experiments.select", f"--features={tmp_path / 'f.npy'}",
                           f"--labels={tmp_path / 'l.npy'}", "--lam=-2", f"--out_dir={out}", "--workers=1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    alpha = np.load(out / "alpha.npy")
    assert alpha.dtype == bool and alpha.shape == labels.shape
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_kept"] == int(alpha.sum()) and summary["lam"] == -2.0
    assert summary["measure"] == "similarity" and summary["backend"] == "scipy"
    assert set(summary["kept_per_class"]) == {str(c) for c in np.unique(labels)}
    assert f"lam=-2 measure=similarity backend=scipy: kept {int(alpha.sum())}/{labels.size} faces" in proc.stdout
    assert f"wrote alpha: {out / 'alpha.npy'}" in proc.stdout


def test_sweep_with_keep_fraction_5_fails_before_the_sweep_and_writes_nothing(tmp_path):
    _data(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "experiments.select", f"--features={tmp_path / 'f.npy'}",
                           f"--labels={tmp_path / 'l.npy'}", "--sweep", "--keep_fraction=5", f"--out_dir={out}",
                           "--workers=1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "ValueError: keep_fraction: expected a fraction of faces kept in [0, 1], got 5.0" in proc.stderr
    assert not out.exists()  # no sweep.json, sweep_alphas.npy, fig5 plot
