"""Figures of the selection stage (Sec. IV-B): Fig. 5 (kept faces vs lam) and Fig. 6 (embedding of a few classes
before/after selection, discarded faces marked, and a contact sheet of the discarded face images)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from skd_tf.utils.io import atomic_path  # noqa: E402


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_lambda_sweep(lams: Sequence[float], kept_counts: Sequence[int], path, total: int | None = None,
                      title: str | None = None) -> Path:
    """Fig. 5: number of selected faces against lam (symmetric-log x axis, so lam = 0 is shown too)."""
    lams = np.asarray(lams, dtype=np.float64)
    kept = np.asarray(kept_counts)
    order = np.argsort(lams)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(lams[order], kept[order], "o-", color="tab:blue")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel(r"$\lambda$")
    ax.set_ylabel("selected informative faces")
    if total:
        ax.axhline(total, color="gray", lw=0.8, ls="--")
        ax.set_ylim(-0.02 * total, 1.05 * total)
    ax.set_title(title or "Influence of $\\lambda$ on the number of selected faces (Fig. 5)")
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def embed_2d(x: np.ndarray, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D embedding: t-SNE (scikit-learn) when available and method is "auto" or "tsne", else PCA."""
    x = np.asarray(x, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    if method in ("auto", "tsne") and x.shape[0] > 5:
        try:
            from sklearn.manifold import TSNE

            perp = float(min(30.0, (x.shape[0] - 1) / 3.0))
            return TSNE(n_components=2, perplexity=perp, random_state=seed, init="pca").fit_transform(x), "t-SNE"
        except ImportError:
            if method == "tsne":
                raise ValueError("method='tsne' needs scikit-learn, which is not installed") from None
    xc = x - x.mean(axis=0)
    if xc.shape[0] < 2:
        return np.zeros((x.shape[0], 2)), "PCA"
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    out = xc @ vt[:2].T
    if out.shape[1] < 2:
        out = np.hstack([out, np.zeros((out.shape[0], 2 - out.shape[1]))])
    return out, "PCA"


def pick_classes(labels: np.ndarray, alpha: np.ndarray, n_classes: int = 5) -> np.ndarray:
    """The classes with the most discarded faces (ties: larger classes), for Fig. 6."""
    labels = np.asarray(labels)
    cls, inv = np.unique(labels, return_inverse=True)
    dropped = np.bincount(inv, weights=~np.asarray(alpha, bool), minlength=len(cls))
    sizes = np.bincount(inv, minlength=len(cls))
    order = np.lexsort((-sizes, -dropped))
    return cls[order[:n_classes]]


def plot_selection_embedding(features, labels, alpha, path, classes=None, n_classes: int = 5, method: str = "auto",
                             seed: int = 0) -> Path:
    """Fig. 6 (a)-(c): faces of a few classes embedded in 2-D (a) before selection, (b) with the discarded faces in
    gray, (c) re-embedded after selection."""
    labels = np.asarray(labels)
    alpha = np.asarray(alpha, dtype=bool)
    if classes is None:
        classes = pick_classes(labels, alpha, n_classes)
    rows = np.flatnonzero(np.isin(labels, classes))
    if rows.size == 0:
        raise ValueError(f"classes: none of {list(classes)} occurs in labels")
    feats = np.asarray(features[rows] if not isinstance(features, np.ndarray) else features[rows], dtype=np.float64)
    lab = labels[rows]
    keep = alpha[rows]
    xy, used = embed_2d(feats, method, seed)
    colors = {c: plt.cm.tab10(k % 10) for k, c in enumerate(classes)}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for c in classes:
        m = lab == c
        axes[0].scatter(xy[m, 0], xy[m, 1], s=14, color=colors[c], label=str(c))
        axes[1].scatter(xy[m & keep, 0], xy[m & keep, 1], s=14, color=colors[c])
    axes[1].scatter(xy[~keep, 0], xy[~keep, 1], s=22, color="0.6", marker="x", label="discarded")
    axes[0].set_title(f"(a) before selection ({used})")
    axes[1].set_title(f"(b) discarded faces marked ({int((~keep).sum())} of {keep.size})")
    if keep.sum() >= 2:
        xy2, _ = embed_2d(feats[keep], method, seed)
        for c in classes:
            m = lab[keep] == c
            axes[2].scatter(xy2[m, 0], xy2[m, 1], s=14, color=colors[c])
    axes[2].set_title(f"(c) after selection, embedded again ({used})")
    axes[0].legend(fontsize=7, loc="best", title="class")
    axes[1].legend(fontsize=7, loc="best")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)


def plot_discarded_contact_sheet(images: np.ndarray | Callable[[int], np.ndarray], alpha, path, indices=None,
                                 max_images: int = 64, cols: int = 8, labels=None) -> Path | None:
    """Fig. 6 (d): a grid of discarded face images. `images` is [N, H, W, 3] (uint8 or 0..255 float) or a callable
    returning image i; `indices` restricts the candidates (e.g. the faces of the plotted classes). Returns None when
    no face was discarded."""
    alpha = np.asarray(alpha, dtype=bool)
    cand = np.flatnonzero(~alpha)
    if indices is not None:
        cand = np.intersect1d(cand, np.asarray(indices))
    if cand.size == 0:
        return None
    cand = cand[:max_images]
    get = images if callable(images) else (lambda i: images[i])
    cols = max(1, min(cols, cand.size))
    nrows = int(np.ceil(cand.size / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(1.4 * cols, 1.55 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), cand):
        img = np.asarray(get(int(i)))
        img = np.clip(img, 0, 255).astype(np.uint8) if img.dtype != np.uint8 else img
        ax.imshow(img)
        if labels is not None:
            ax.set_title(str(np.asarray(labels)[i]), fontsize=6)
    fig.suptitle(f"discarded faces ({cand.size} shown)", fontsize=9)
    return _save(fig, path)
