"""Face verification metrics from pairs of embeddings (paper Section IV-A: LFW, 6,000 pairs, ROC AUC).

The paper extracts the mimic/identity-layer features of both faces of a pair, L2-normalises them and thresholds their
similarity (Section IV-A); it reports the area under the ROC curve. Besides AUC this module gives the standard LFW
10-fold accuracy, TAR at a fixed FAR, the equal error rate and the ROC curve itself.

Conventions used throughout:
- a *score* is a similarity: higher means "more likely the same person" (use `-distance` for distances);
- `is_same` is a boolean array, True for matched (positive) pairs;
- a pair is declared "same" iff `score > threshold` (strictly greater).

The 10-fold rule (`kfold_accuracy`) is the one that produced `../shared/data/lfw/dlib/lfw_eval.json`: for each test
fold, the threshold maximises accuracy on the other folds; candidates are the midpoints of the sorted unique training
scores, and ties go to the lowest candidate.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

_EPS = 1e-12


def _as_scores(scores: Any, is_same: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(is_same)
    if y.dtype != bool:
        if not np.all(np.isin(y, (0, 1))):
            raise ValueError("is_same: expected booleans (or 0/1), got other values")
        y = y.astype(bool)
    y = y.reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores and is_same: expected the same length, got {s.shape[0]} and {y.shape[0]}")
    if s.size and not np.all(np.isfinite(s)):
        raise ValueError("scores: expected finite values, got NaN or inf")
    return s, y


def _require_both_classes(y: np.ndarray, what: str) -> tuple[int, int]:
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"{what}: expected both matched and mismatched pairs, got {n_pos} matched, {n_neg} mismatched")
    return n_pos, n_neg


def l2_normalize(x: Any, axis: int = -1) -> np.ndarray:
    """Rows divided by their L2 norm (float64); all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(norm, _EPS)


def cosine_scores(emb_a: Any, emb_b: Any) -> np.ndarray:
    """Row-wise cosine similarity of `emb_a[i]` and `emb_b[i]` after L2 normalisation: float64 `[N]` in [-1, 1]."""
    a = np.asarray(emb_a)
    b = np.asarray(emb_b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"emb_a and emb_b: expected two [N, D] arrays of the same shape, got {a.shape} and {b.shape}")
    return np.einsum("ij,ij->i", l2_normalize(a), l2_normalize(b))


def euclidean_scores(emb_a: Any, emb_b: Any, normalize: bool = False) -> np.ndarray:
    """Row-wise negative Euclidean distance (a score: higher = more similar), float64 `[N]`.

    With `normalize=True` the rows are L2-normalised first. dlib's own LFW rule is `distance < 0.6` on raw features.
    """
    a = np.asarray(emb_a, dtype=np.float64)
    b = np.asarray(emb_b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"emb_a and emb_b: expected two [N, D] arrays of the same shape, got {a.shape} and {b.shape}")
    if normalize:
        a, b = l2_normalize(a), l2_normalize(b)
    return -np.linalg.norm(a - b, axis=1)


def roc_auc(scores: Any, is_same: Any) -> float:
    """Area under the ROC curve = Mann-Whitney U / (n_pos * n_neg), a tied positive/negative pair counting 1/2.

    Equals the probability that a random matched pair scores higher than a random mismatched pair.
    """
    s, y = _as_scores(scores, is_same)
    n_pos, n_neg = _require_both_classes(y, "roc_auc")
    # Average ranks (1-based) over all scores; ties share the mean of their ranks.
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg_rank_of_group = first + (counts + 1) / 2.0
    ranks = np.empty_like(s)
    ranks[order] = np.repeat(avg_rank_of_group, counts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(scores: Any, is_same: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC points for every distinct threshold: `(fpr, tpr, thresholds)`, fpr/tpr non-decreasing.

    Point i is the rule "same iff score >= thresholds[i]"; the first point is (0, 0) at threshold +inf and the last
    is (1, 1) at the lowest score. The trapezoidal area under these points equals `roc_auc`.
    """
    s, y = _as_scores(scores, is_same)
    n_pos, n_neg = _require_both_classes(y, "roc_curve")
    order = np.argsort(-s, kind="mergesort")
    s_desc = s[order]
    y_desc = y[order]
    # Last index of each run of equal scores (descending).
    last = np.r_[np.nonzero(np.diff(s_desc))[0], s_desc.size - 1]
    tp = np.cumsum(y_desc)[last]
    fp = (last + 1) - tp
    fpr = np.r_[0.0, fp / n_neg]
    tpr = np.r_[0.0, tp / n_pos]
    thresholds = np.r_[np.inf, s_desc[last]]
    return fpr, tpr, thresholds


def _best_threshold(s: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Threshold maximising the number of correct "same iff score > t" decisions; lowest on ties.

    Candidates: midpoints of the sorted unique scores (the single score itself when all scores are equal).
    Returns (threshold, number correct).
    """
    u = np.unique(s)
    cand = (u[:-1] + u[1:]) / 2.0 if u.size > 1 else u.copy()
    pos = np.sort(s[y])
    neg = np.sort(s[~y])
    tp = pos.size - np.searchsorted(pos, cand, side="right")  # positives with score > t
    tn = np.searchsorted(neg, cand, side="right")  # negatives with score <= t
    correct = tp + tn
    best = int(np.argmax(correct))  # first maximum = lowest threshold
    return float(cand[best]), int(correct[best])


def accuracy_at_threshold(scores: Any, is_same: Any, threshold: float) -> float:
    """Fraction of pairs decided correctly by "same iff score > threshold"."""
    s, y = _as_scores(scores, is_same)
    if s.size == 0:
        raise ValueError("accuracy_at_threshold: expected at least one pair, got none")
    return float(np.mean((s > threshold) == y))


def best_threshold(scores: Any, is_same: Any) -> tuple[float, float]:
    """`(threshold, accuracy)` of the accuracy-maximising threshold on these pairs (rule of `kfold_accuracy`)."""
    s, y = _as_scores(scores, is_same)
    if s.size == 0:
        raise ValueError("best_threshold: expected at least one pair, got none")
    t, correct = _best_threshold(s, y)
    return t, correct / s.size


def kfold_accuracy(scores: Any, is_same: Any, folds: Any) -> dict[str, Any]:
    """Standard LFW k-fold accuracy: the threshold for each test fold is tuned on the other folds.

    Args:
      scores: `[N]` similarity scores.
      is_same: `[N]` booleans.
      folds: `[N]` integer fold id of each pair (any ids; e.g. `LfwPairs.fold`, 0..9 for View 2).

    Returns a dict: `mean` and `std` (population, ddof 0) of the test-fold accuracies, `std_ddof1` (sample std),
    `per_fold` (test accuracy per fold, in ascending fold-id order), `thresholds`, `train_accuracy`, `fold_ids`.
    """
    s, y = _as_scores(scores, is_same)
    f = np.asarray(folds).reshape(-1)
    if f.shape != s.shape:
        raise ValueError(f"folds: expected one fold id per pair ({s.size}), got {f.shape[0]}")
    fold_ids = np.unique(f)
    if fold_ids.size < 2:
        raise ValueError(f"folds: expected at least 2 distinct fold ids, got {fold_ids.size}")
    per_fold, thresholds, train_acc = [], [], []
    for k in fold_ids:
        test = f == k
        train = ~test
        t, correct = _best_threshold(s[train], y[train])
        thresholds.append(t)
        train_acc.append(correct / int(train.sum()))
        per_fold.append(float(np.mean((s[test] > t) == y[test])))
    acc = np.asarray(per_fold)
    return {
        "mean": float(acc.mean()),
        "std": float(acc.std(ddof=0)),
        "std_ddof1": float(acc.std(ddof=1)),
        "per_fold": acc,
        "thresholds": np.asarray(thresholds),
        "train_accuracy": np.asarray(train_acc),
        "fold_ids": fold_ids,
    }


def threshold_at_far(scores: Any, is_same: Any, far: float) -> float:
    """The lowest threshold t whose false accept rate (mismatched pairs with score > t) is at most `far`."""
    s, y = _as_scores(scores, is_same)
    _require_both_classes(y, "threshold_at_far")
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"far: expected a rate in [0, 1], got {far}")
    neg_desc = np.sort(s[~y])[::-1]
    allowed = int(np.floor(far * neg_desc.size + 1e-9))  # how many false accepts are allowed
    if allowed >= neg_desc.size:
        return float(-np.inf)
    # Accepting only scores > neg_desc[allowed] lets through at most `allowed` negatives; any lower t lets more.
    return float(neg_desc[allowed])


def tar_at_far(scores: Any, is_same: Any, far: float | Sequence[float]) -> float | np.ndarray:
    """True accept rate at false accept rate <= `far`: the highest TPR over all thresholds whose FPR <= far.

    `far` may be a scalar (returns a float) or a sequence (returns an array).
    """
    if np.ndim(far):
        return np.asarray([tar_at_far(scores, is_same, float(v)) for v in np.asarray(far).reshape(-1)])
    s, y = _as_scores(scores, is_same)
    t = threshold_at_far(s, y, float(far))
    return float(np.mean(s[y] > t))


def equal_error_rate(scores: Any, is_same: Any) -> float:
    """Equal error rate: where FPR equals FNR (= 1 - TPR) on the ROC curve, linearly interpolated between points."""
    fpr, tpr, _ = roc_curve(scores, is_same)
    d = fpr - (1.0 - tpr)  # non-decreasing, from -1 at (0, 0) to +1 at (1, 1)
    i = int(np.searchsorted(d, 0.0, side="left"))  # first index with d >= 0
    if d[i] == 0.0 or i == 0:
        return float(fpr[i])
    # Segment (i-1, i) crosses d = 0.
    alpha = -d[i - 1] / (d[i] - d[i - 1])
    return float(fpr[i - 1] + alpha * (fpr[i] - fpr[i - 1]))


def verification_report(scores: Any, is_same: Any, folds: Any = None) -> dict[str, Any]:
    """All verification figures for one set of pairs (JSON-ready except numpy arrays, which `write_json` handles).

    Keys: n_pairs, n_same, n_different, roc_auc, eer, tar_at_far_1e-3, tar_at_far_1e-2, and with `folds` the 10-fold
    (or k-fold) accuracy: accuracy_mean, accuracy_std, accuracy_std_ddof1, accuracy_per_fold, fold_thresholds.
    """
    s, y = _as_scores(scores, is_same)
    n_pos, n_neg = _require_both_classes(y, "verification_report")
    report: dict[str, Any] = {
        "n_pairs": int(s.size),
        "n_same": n_pos,
        "n_different": n_neg,
        "roc_auc": roc_auc(s, y),
        "eer": equal_error_rate(s, y),
        "tar_at_far_1e-3": tar_at_far(s, y, 1e-3),
        "tar_at_far_1e-2": tar_at_far(s, y, 1e-2),
    }
    if folds is not None:
        k = kfold_accuracy(s, y, folds)
        report.update(
            accuracy_mean=k["mean"],
            accuracy_std=k["std"],
            accuracy_std_ddof1=k["std_ddof1"],
            accuracy_per_fold=k["per_fold"],
            fold_thresholds=k["thresholds"],
        )
    return report


def paired_bootstrap_auc_difference(scores_a: Any, scores_b: Any, is_same: Any, *, num_resamples: int = 2000,
                                    seed: int = 0, confidence: float = 0.95) -> dict[str, float]:
    """AUC(a) - AUC(b) on the same pairs with a paired bootstrap confidence interval.

    Both systems are scored on the same resampled pairs (drawn with replacement, stratified: matched and mismatched
    pairs are resampled separately so every resample has both kinds), so the interval reflects how much the ordering
    of two models depends on which pairs happen to be in the test set. Returns `difference` (on all pairs), `low`,
    `high` (percentile interval) and `p_not_greater` (fraction of resamples with a difference <= 0).
    """
    sa, y = _as_scores(scores_a, is_same)
    sb, yb = _as_scores(scores_b, is_same)
    if sa.shape != sb.shape:
        raise ValueError(f"scores_b: expected {sa.size} scores like scores_a, got {sb.size}")
    _require_both_classes(y, "paired_bootstrap_auc_difference")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected a value in (0, 1), got {confidence}")
    diffs = np.array([roc_auc(sa[idx], y[idx]) - roc_auc(sb[idx], y[idx])
                      for idx in _stratified_resamples(y, num_resamples, seed)])
    tail = 100.0 * (1.0 - confidence) / 2.0
    return {"difference": roc_auc(sa, y) - roc_auc(sb, y), "low": float(np.percentile(diffs, tail)),
            "high": float(np.percentile(diffs, 100.0 - tail)), "p_not_greater": float(np.mean(diffs <= 0.0))}


def bootstrap_auc_interval(scores: Any, is_same: Any, *, num_resamples: int = 2000, seed: int = 0,
                           confidence: float = 0.95) -> dict[str, float]:
    """AUC on all pairs with a percentile confidence interval over the stratified pair resamples of
    `paired_bootstrap_auc_difference` (same seed, same resamples): how much one model's AUC depends on which pairs
    happen to be in the test set. Returns `auc`, `low`, `high`."""
    s, y = _as_scores(scores, is_same)
    _require_both_classes(y, "bootstrap_auc_interval")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected a value in (0, 1), got {confidence}")
    aucs = np.array([roc_auc(s[idx], y[idx]) for idx in _stratified_resamples(y, num_resamples, seed)])
    tail = 100.0 * (1.0 - confidence) / 2.0
    return {"auc": roc_auc(s, y), "low": float(np.percentile(aucs, tail)),
            "high": float(np.percentile(aucs, 100.0 - tail))}


def _stratified_resamples(y: np.ndarray, num_resamples: int, seed: int):
    """`num_resamples` index arrays, each the matched and the mismatched pairs resampled with replacement
    separately (every resample keeps both kinds and their counts)."""
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    rng = np.random.default_rng(seed)
    for _ in range(int(num_resamples)):
        yield np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
