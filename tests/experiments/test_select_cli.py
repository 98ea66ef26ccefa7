"""CLI of the selection stage: `python -m experiments.select` writes alpha.npy / summary.json / the Fig. 5 sweep."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments import select as select_cli

ROOT = Path(__file__).resolve().parents[2]


def _data(tmp_path, n_cls=4, k=9, dtype=np.float32):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(n_cls, 12))
    labels = np.repeat(np.arange(n_cls) * 10 + 3, k)
    f = np.abs(centers[np.repeat(np.arange(n_cls), k)] + 0.4 * rng.normal(size=(n_cls * k, 12))).astype(dtype)
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


def test_cli_sweep_keep_fraction_fig6_and_options(tmp_path):
    f, labels = _data(tmp_path, dtype=np.float16)
    images = np.random.default_rng(1).integers(0, 255, size=(labels.size, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "img.npy", images)
    out = tmp_path / "sw"
    res = select_cli.run(str(tmp_path / "f.npy"), str(tmp_path / "l.npy"), str(out), sweep=True, keep_fraction=0.5,
                         backend="pymaxflow", workers=1, fig6=True, images=str(tmp_path / "img.npy"))
    sw = json.loads((out / "sweep.json").read_text())
    assert len(sw["lams"]) == 15 and sw["lams"][0] == -8192 and sw["lams"][-1] == 0
    assert (out / "fig5_lambda_sweep.png").stat().st_size > 0 and (out / "fig6_embedding.png").is_file()
    alphas = np.load(out / "sweep_alphas.npy")
    assert alphas.shape == (15, labels.size) and np.all(alphas[1:] <= alphas[:-1])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lam"] in sw["lams"] and "lam_rule" in summary
    if not np.load(out / "alpha.npy").all():
        assert "fig6_discarded" in res["written"]
    # the literal reading and another backend run too
    select_cli.run(str(tmp_path / "f.npy"), str(tmp_path / "l.npy"), str(tmp_path / "d"), lam=-1.0,
                   measure="distance", backend="networkx", workers=1)
    assert np.load(tmp_path / "d" / "alpha.npy").shape == labels.shape


def test_cli_bad_input(tmp_path):
    _data(tmp_path)
    np.save(tmp_path / "short.npy", np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match="does not match"):
        select_cli.run(str(tmp_path / "f.npy"), str(tmp_path / "short.npy"), str(tmp_path / "o"), lam=-1.0)
    with pytest.raises(ValueError, match="lam"):
        select_cli.run(str(tmp_path / "f.npy"), str(tmp_path / "l.npy"), str(tmp_path / "o"), lam=1.0)
    with pytest.raises(ValueError, match="lam"):
        select_cli.run(str(tmp_path / "f.npy"), str(tmp_path / "l.npy"), str(tmp_path / "o"))
    with pytest.raises(FileNotFoundError):
        select_cli.run(str(tmp_path / "missing.npy"), str(tmp_path / "l.npy"), str(tmp_path / "o"), lam=-1.0)
    f = np.load(tmp_path / "f.npy")
    f[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", f)
    with pytest.raises(ValueError, match="NaN"):
        select_cli.run(str(tmp_path / "nan.npy"), str(tmp_path / "l.npy"), str(tmp_path / "o"), lam=-1.0)
