"""Closed-set identification metrics (paper Section IV-C: UCCS, top-1 and top-5 error rates).

Ties are resolved pessimistically by default: a class with the same score as the true class counts as ranked above
it, so a model that outputs constant scores gets no credit. `ties="optimistic"` counts only strictly higher scores
(the rule of `tf.math.in_top_k`).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def _check(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    if s.ndim != 2:
        raise ValueError(f"logits_or_scores: expected [N, C], got shape {s.shape}")
    if y.shape[0] != s.shape[0]:
        raise ValueError(f"labels: expected {s.shape[0]} labels (one per row), got {y.shape[0]}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels: expected integer class ids, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= s.shape[1]):
        raise ValueError(f"labels: expected class ids in [0, {s.shape[1] - 1}], got {y.min()}..{y.max()}")
    if s.size and not np.all(np.isfinite(s)):
        raise ValueError("logits_or_scores: expected finite values, got NaN or inf")
    return s, y.astype(np.int64)


def true_class_ranks(logits_or_scores: Any, labels: Any, ties: str = "pessimistic") -> np.ndarray:
    """1-based rank of the true class in each row (1 = top scoring)."""
    s, y = _check(logits_or_scores, labels)
    true = s[np.arange(s.shape[0]), y][:, None]
    higher = (s > true).sum(axis=1)
    if ties == "pessimistic":
        return higher + (s == true).sum(axis=1)  # includes the true class itself -> +1
    if ties == "optimistic":
        return higher + 1
    raise ValueError(f"ties: expected 'pessimistic' or 'optimistic', got {ties!r}")


def topk_accuracy(logits_or_scores: Any, labels: Any, k: int, ties: str = "pessimistic") -> float:
    """Fraction of rows whose true class is among the k highest scores. `1 - topk_accuracy` is the top-k error."""
    if int(k) < 1:
        raise ValueError(f"k: expected a positive integer, got {k}")
    ranks = true_class_ranks(logits_or_scores, labels, ties=ties)
    if ranks.size == 0:
        raise ValueError("labels: expected at least one row, got none")
    return float(np.mean(ranks <= int(k)))


def topk_error(logits_or_scores: Any, labels: Any, k: int, ties: str = "pessimistic") -> float:
    """Top-k error rate (what the paper reports on UCCS): `1 - topk_accuracy`."""
    return 1.0 - topk_accuracy(logits_or_scores, labels, k, ties=ties)


def topk_accuracies(logits_or_scores: Any, labels: Any, ks: Sequence[int] = (1, 5),
                    ties: str = "pessimistic") -> dict[int, float]:
    """`{k: top-k accuracy}` for several k, ranking once."""
    ranks = true_class_ranks(logits_or_scores, labels, ties=ties)
    if ranks.size == 0:
        raise ValueError("labels: expected at least one row, got none")
    return {int(k): float(np.mean(ranks <= int(k))) for k in ks}
