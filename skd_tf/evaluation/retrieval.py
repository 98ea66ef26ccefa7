"""Closed-set retrieval (paper Section IV-E: SCface, each low-resolution probe matched against 80 gallery faces).

Probes are ranked against the gallery by cosine similarity of L2-normalised embeddings. The rank of a probe is the
1-based position of the first gallery entry of its own identity; rank-k accuracy is the fraction of probes with rank
<= k and the CMC curve is rank-k accuracy for k = 1..G (G = gallery size). Ties are pessimistic: a wrong gallery entry
scoring exactly as high as the best correct one is ranked above it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from skd_tf.evaluation.verification import l2_normalize


def similarity_matrix(probe_emb: Any, gallery_emb: Any) -> np.ndarray:
    """Cosine similarities `[P, G]` of L2-normalised probe and gallery embeddings."""
    p = np.asarray(probe_emb)
    g = np.asarray(gallery_emb)
    if p.ndim != 2 or g.ndim != 2 or p.shape[1] != g.shape[1]:
        raise ValueError(f"probe_emb and gallery_emb: expected [P, D] and [G, D], got {p.shape} and {g.shape}")
    return l2_normalize(p) @ l2_normalize(g).T


def match_ranks(probe_emb: Any, probe_labels: Any, gallery_emb: Any, gallery_labels: Any) -> np.ndarray:
    """1-based rank of the best-scoring same-identity gallery entry for each probe, int64 `[P]`."""
    sim = similarity_matrix(probe_emb, gallery_emb)
    pl = np.asarray(probe_labels).reshape(-1)
    gl = np.asarray(gallery_labels).reshape(-1)
    if pl.shape[0] != sim.shape[0]:
        raise ValueError(f"probe_labels: expected {sim.shape[0]} labels, got {pl.shape[0]}")
    if gl.shape[0] != sim.shape[1]:
        raise ValueError(f"gallery_labels: expected {sim.shape[1]} labels, got {gl.shape[0]}")
    correct = pl[:, None] == gl[None, :]
    missing = ~correct.any(axis=1)
    if missing.any():
        raise ValueError(
            f"probe_labels: every probe identity must be in the gallery (closed set); {int(missing.sum())} probes "
            f"are not, e.g. label {pl[np.argmax(missing)]!r}")
    best_correct = np.where(correct, sim, -np.inf).max(axis=1, keepdims=True)
    wrong_at_or_above = ((sim >= best_correct) & ~correct).sum(axis=1)
    return (wrong_at_or_above + 1).astype(np.int64)


def cmc_curve(probe_emb: Any, probe_labels: Any, gallery_emb: Any, gallery_labels: Any,
              max_rank: int | None = None) -> np.ndarray:
    """Cumulative match characteristic: `cmc[r - 1]` = fraction of probes whose rank <= r, for r = 1..max_rank.

    `max_rank` defaults to the gallery size (where the curve reaches 1).
    """
    ranks = match_ranks(probe_emb, probe_labels, gallery_emb, gallery_labels)
    if ranks.size == 0:
        raise ValueError("probe_emb: expected at least one probe, got none")
    n_gallery = np.asarray(gallery_emb).shape[0]
    max_rank = n_gallery if max_rank is None else int(max_rank)
    if max_rank < 1:
        raise ValueError(f"max_rank: expected a positive integer, got {max_rank}")
    counts = np.bincount(np.minimum(ranks, max_rank + 1), minlength=max_rank + 2)[1:max_rank + 1]
    return np.cumsum(counts) / ranks.size


def rank_k_accuracy(probe_emb: Any, probe_labels: Any, gallery_emb: Any, gallery_labels: Any, k: int = 1) -> float:
    """Fraction of probes whose own identity is within the top k gallery matches (rank-1: the paper's SCface
    figure)."""
    if int(k) < 1:
        raise ValueError(f"k: expected a positive integer, got {k}")
    ranks = match_ranks(probe_emb, probe_labels, gallery_emb, gallery_labels)
    if ranks.size == 0:
        raise ValueError("probe_emb: expected at least one probe, got none")
    return float(np.mean(ranks <= int(k)))
