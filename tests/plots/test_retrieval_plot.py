"""The CMC figure: a PNG written atomically whose curves are the given rank-k accuracies, in percent."""
import cv2
import matplotlib.pyplot as plt
import numpy as np
import pytest

from skd_tf.plots import retrieval
from skd_tf.plots.retrieval import plot_cmc


def test_plot_cmc_draws_the_curves_and_writes_a_png(tmp_path, monkeypatch):
    curves = {"dist 1": [0.25, 0.5, 0.75, 1.0], "total": np.array([0.5, 0.625, 0.875, 0.9375, 1.0])}
    close, figures = plt.close, []
    monkeypatch.setattr(retrieval.plt, "close", figures.append)  # keep the figure open to read it back
    out = plot_cmc(curves, tmp_path / "cmc.png", title="SCface paper")
    assert out == tmp_path / "cmc.png"
    (fig,) = figures
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["dist 1 (rank-1 25.00%)", "total (rank-1 50.00%)"]
    for line, cmc in zip(lines, curves.values()):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, len(cmc) + 1))
        np.testing.assert_allclose(line.get_ydata(), 100.0 * np.asarray(cmc))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [line.get_label() for line in lines]
    assert ax.get_title() == "SCface paper" and ax.get_xlim() == (1.0, 5.0) and ax.get_ylim() == (0.0, 101.0)
    close(fig)

    image = cv2.imread(str(out))
    assert image is not None and image.shape[:2] == (504, 624)  # 5.2 x 4.2 in at 120 dpi
    assert float(np.std(image)) > 5.0  # not a blank canvas
    assert [p.name for p in tmp_path.iterdir()] == ["cmc.png"]  # no temporary file left
    with pytest.raises(ValueError, match="curves"):
        plot_cmc({}, tmp_path / "empty.png")
