"""Figures of the selection stage (Sec. IV-B): Fig. 5 (kept faces vs lam) and Fig. 6 (t-SNE [66] of a few classes
before/after selection, discarded faces marked, and a contact sheet of the discarded face images). t-SNE comes from
scikit-learn when installed, else from the small exact implementation here; PCA is the fallback for many points."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from skd_tf.plots.figure_io import save_figure  # noqa: E402


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
    return save_figure(fig, path, tight_bbox=True)


def tsne_numpy(x: np.ndarray, perplexity: float = 30.0, n_iter: int = 500, seed: int = 0) -> np.ndarray:
    """Exact t-SNE (van der Maaten & Hinton 2008) in numpy for a few hundred points: Gaussian affinities with a
    per-point bandwidth found by bisection to match `perplexity`, Student-t similarities in 2-D, gradient descent with
    momentum and early exaggeration (x4 for the first 100 iterations)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    d2 = np.maximum(np.sum(x ** 2, 1)[:, None] + np.sum(x ** 2, 1)[None, :] - 2 * x @ x.T, 0.0)
    perplexity = min(perplexity, max(1.0, (n - 1) / 3.0))
    target = np.log(perplexity)
    P = np.zeros((n, n))
    for i in range(n):
        lo, hi, beta = 0.0, np.inf, 1.0
        di = np.delete(d2[i], i)
        for _ in range(60):
            p = np.exp(-(di - di.min()) * beta)
            sp = p.sum()
            h = np.log(sp) + beta * np.sum((di - di.min()) * p) / sp
            if abs(h - target) < 1e-5:
                break
            if h > target:
                lo, beta = beta, beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi, beta = beta, (beta + lo) / 2
        P[i, np.arange(n) != i] = p / sp
    P = (P + P.T) / (2 * n)
    P = np.maximum(P, 1e-12)
    rng = np.random.default_rng(seed)
    y = rng.normal(scale=1e-4, size=(n, 2))
    vel = np.zeros_like(y)
    gains = np.ones_like(y)
    for it in range(n_iter):
        exag = 4.0 if it < 100 else 1.0
        sy = np.sum(y ** 2, 1)
        num = 1.0 / (1.0 + sy[:, None] + sy[None, :] - 2 * y @ y.T)
        np.fill_diagonal(num, 0.0)
        Q = np.maximum(num / num.sum(), 1e-12)
        pq = (exag * P - Q) * num
        grad = 4.0 * ((np.diag(pq.sum(1)) - pq) @ y)
        mom = 0.5 if it < 250 else 0.8
        gains = np.where(np.sign(grad) != np.sign(vel), gains + 0.2, gains * 0.8).clip(0.01)
        vel = mom * vel - 200.0 * gains * grad
        y = y + vel
        y -= y.mean(0)
    return y


def embed_2d(x: np.ndarray, method: str = "auto", seed: int = 0, max_tsne: int = 1500) -> tuple[np.ndarray, str]:
    """2-D embedding of L2-normalised rows: t-SNE (scikit-learn if installed, else `tsne_numpy` up to `max_tsne`
    points) for method "auto"/"tsne", PCA for "pca" or when t-SNE is unavailable (too many points)."""
    x = np.asarray(x, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    if method not in ("auto", "tsne", "pca"):
        raise ValueError(f"method: expected 'auto', 'tsne' or 'pca', got {method!r}")
    if method != "pca" and x.shape[0] > 5:
        try:
            from sklearn.manifold import TSNE

            perp = float(min(30.0, (x.shape[0] - 1) / 3.0))
            return TSNE(n_components=2, perplexity=perp, random_state=seed, init="pca").fit_transform(x), "t-SNE"
        except ImportError:
            if x.shape[0] <= max_tsne:
                return tsne_numpy(x, seed=seed), "t-SNE"
            if method == "tsne":
                raise ValueError(f"method='tsne': {x.shape[0]} points exceed max_tsne={max_tsne} without "
                                 "scikit-learn") from None
    xc = x - x.mean(axis=0)
    if xc.shape[0] < 2:
        return np.zeros((x.shape[0], 2)), "PCA"
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    out = xc @ vt[:2].T
    if out.shape[1] < 2:
        out = np.hstack([out, np.zeros((out.shape[0], 2 - out.shape[1]))])
    return out, "PCA"


def pick_classes(labels: np.ndarray, alpha: np.ndarray, n_classes: int = 5) -> np.ndarray:
    """Classes for Fig. 6: those partly selected (some faces kept, some discarded) with the most discarded faces
    first, then fully kept and last fully discarded ones (larger classes first within each group)."""
    labels = np.asarray(labels)
    cls, inv = np.unique(labels, return_inverse=True)
    dropped = np.bincount(inv, weights=~np.asarray(alpha, bool), minlength=len(cls)).astype(np.int64)
    sizes = np.bincount(inv, minlength=len(cls))
    group = np.where((dropped > 0) & (dropped < sizes), 0, np.where(dropped == 0, 1, 2))
    order = np.lexsort((-sizes, -dropped * (group == 0), group))
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
    return save_figure(fig, path, tight_bbox=True)


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
    return save_figure(fig, path, tight_bbox=True)
