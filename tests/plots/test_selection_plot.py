"""Figures of the selection stage (Figs. 5-6): PNGs written, the 2-D embedding and class pick, and the numpy t-SNE."""
import numpy as np

from skd_tf.plots.selection import (
    embed_2d,
    pick_classes,
    plot_discarded_contact_sheet,
    plot_lambda_sweep,
    plot_selection_embedding,
)


def test_plots_write_pngs(tmp_path):
    rng = np.random.default_rng(0)
    p = plot_lambda_sweep([-8, -4, -2, -1, 0], [10, 9, 5, 1, 0], tmp_path / "fig5.png", total=10)
    assert p.read_bytes()[:4] == b"\x89PNG"
    f = rng.normal(size=(40, 6))
    labels = np.repeat(np.arange(4), 10)
    alpha = rng.random(40) > 0.3
    assert plot_selection_embedding(f, labels, alpha, tmp_path / "fig6.png", n_classes=3).is_file()
    imgs = rng.integers(0, 255, size=(40, 8, 8, 3), dtype=np.uint8)
    assert plot_discarded_contact_sheet(imgs, alpha, tmp_path / "sheet.png").is_file()
    assert plot_discarded_contact_sheet(imgs, np.ones(40, bool), tmp_path / "none.png") is None
    xy, used = embed_2d(f, method="pca")
    assert xy.shape == (40, 2) and used == "PCA"
    assert len(pick_classes(labels, alpha, 2)) == 2


def test_tsne_numpy_separates_clusters():
    from skd_tf.plots.selection import tsne_numpy

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 10)) * 5
    x = np.repeat(centers, 20, axis=0) + rng.normal(size=(60, 10)) * 0.3
    y = tsne_numpy(x, perplexity=10, n_iter=300)
    lab = np.repeat(np.arange(3), 20)
    cent = np.stack([y[lab == k].mean(0) for k in range(3)])
    within = np.mean([np.linalg.norm(y[lab == k] - cent[k], axis=1).mean() for k in range(3)])
    between = np.min([np.linalg.norm(cent[a] - cent[b]) for a in range(3) for b in range(a + 1, 3)])
    assert between > 2 * within
