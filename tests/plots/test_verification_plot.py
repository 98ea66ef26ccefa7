"""The ROC figure is written as a PNG, atomically."""
import numpy as np
import pytest

from skd_tf.plots.verification import plot_roc


def test_plot_roc_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.5
    curves = {"teacher": (rng.normal(size=200) + 2 * y, y), "student": (rng.normal(size=200) + y, y)}
    for log in (False, True):
        out = plot_roc(curves, tmp_path / f"roc_{log}.png", log_fpr=log)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roc_False.png", "roc_True.png"]  # no temp files left
    with pytest.raises(ValueError):
        plot_roc({}, tmp_path / "empty.png")
