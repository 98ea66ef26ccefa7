"""Unary and pairwise terms of the selection energy, Eq. (2)-(3) of Sec. III-C, computed class by class.

For faces i with teacher features f_i and labels l_i, centroids u_c = mean_{i: l_i = c} f_i (Eq. 2) and

    E(alpha) = sum_i alpha_i U_i + lam * sum_{i<j, l_i = l_j} alpha_i alpha_j W_ij,
    U_i  = sum_{c != l_i} s(f_i, u_c),        W_ij = s(f_i, f_j),

with s = max(0, cos) ("similarity", the default) or s = 1 - cos ("distance", the literal reading). No pairwise term
crosses classes, so everything is stored per class: the unary vector U_c [K_c] and the dense matrix W_c [K_c, K_c]
(zero diagonal). Two streaming passes over the rows, in class-sorted chunks:

1. per chunk of complete classes: validation, norms, class sums (Eq. 2), the Gram matrix of each class (W_c) and the
   own-centroid cosine cos(f_i, u_{l_i}), which the Gram matrix and the norms already determine;
2. the unary term. With unit vectors, sum_{c != l} cos(f_i, u_c) = f^_i . (S - u^_l), S = sum_c u^_c: one dot product
   per row (N x D), never an N x C matrix. For "distance" U_i = (C - 1) - that sum, exactly. For "similarity" the
   clip max(0, .) changes nothing for rows whose cosines to every centroid are >= 0; such rows are certified either
   globally (all features >= 0, e.g. post-ReLU teacher features) or by a cone bound: with m = S/|S|,
   angle(f_i, u_c) <= angle(f_i, m) + angle(u_c, m), so angle(f_i, m) + max_c angle(u_c, m) <= pi/2 proves every
   cosine of row i non-negative. Rows that are not certified get the exact clipped sum from blocked matrix products
   (rows-of-the-chunk x C centroids, a block at a time), so the result is exact in every case.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from skd_tf.selection.source import FeatureSource

MEASURES = ("similarity", "distance")
_CHUNK_ROWS = 4096
_UNCERT_BLOCK = 2048


@dataclasses.dataclass
class SelectionTerms:
    """Per-class energy terms. `members[c]` are the input row indices of class c (ascending); `unary[c]` and
    `pairwise[c]` follow that order. `classes[c]` is the original label value of contiguous class id c."""

    measure: str
    n: int
    dim: int
    classes: np.ndarray
    class_ids: np.ndarray  # [N] contiguous id of each row
    members: list[np.ndarray]
    unary: list[np.ndarray]
    pairwise: list[np.ndarray]
    stats: dict

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def sizes(self) -> np.ndarray:
        return np.array([len(m) for m in self.members], dtype=np.int64)


def check_measure(measure: str) -> str:
    if measure not in MEASURES:
        raise ValueError(f"measure: expected one of {MEASURES}, got {measure!r}")
    return measure


def check_labels(labels, n: int, name: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of N integer labels, got shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        integral = labels.size and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels))
        if labels.dtype.kind == "f" and integral:
            labels = labels.astype(np.int64)
        elif labels.size:
            raise ValueError(f"{name}: expected integer labels, got dtype {labels.dtype}")
        else:
            labels = labels.astype(np.int64)
    if labels.shape[0] != n:
        raise ValueError(f"{name}: length {labels.shape[0]} does not match the {n} feature rows")
    return labels.astype(np.int64, copy=False)


def pairwise_from_gram(gram: np.ndarray, measure: str) -> np.ndarray:
    """W from a Gram matrix of unit vectors: max(0, cos) or 1 - cos (clipped to [0, 2]), zero diagonal."""
    if measure == "similarity":
        w = np.clip(gram, 0.0, 1.0)
    else:
        w = np.clip(1.0 - gram, 0.0, 2.0)
    np.fill_diagonal(w, 0.0)
    return w


def compute_terms(features, labels, measure: str = "similarity", chunk_rows: int = _CHUNK_ROWS) -> SelectionTerms:
    """Validates the input and computes `SelectionTerms` (see the module docstring for the two passes)."""
    check_measure(measure)
    src = FeatureSource.open(features)
    n, dim = src.shape
    if n == 0:
        raise ValueError(f"{src.name}: empty input (0 feature rows); nothing to select")
    if dim == 0:
        raise ValueError(f"{src.name}: feature dimension is 0")
    labels = check_labels(labels, n)
    classes, class_ids = np.unique(labels, return_inverse=True)
    class_ids = class_ids.astype(np.int64)
    C = len(classes)
    order = np.argsort(class_ids, kind="stable")
    sizes = np.bincount(class_ids, minlength=C)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    members = [order[starts[c]:starts[c + 1]] for c in range(C)]  # ascending within a class (stable sort)

    # Chunks of complete classes (a class bigger than chunk_rows is a chunk of its own).
    chunks: list[tuple[int, int]] = []
    c0 = 0
    while c0 < C:
        c1 = c0 + 1
        while c1 < C and starts[c1 + 1] - starts[c0] <= chunk_rows:
            c1 += 1
        chunks.append((c0, c1))
        c0 = c1

    class_sum = np.zeros((C, dim), dtype=np.float64)
    norms = np.zeros(n, dtype=np.float64)
    own_dot = np.zeros(n, dtype=np.float64)  # f^_i . u_{l_i} (raw centroid, not normalised)
    pairwise: list[np.ndarray] = [None] * C  # type: ignore[list-item]
    all_nonneg = True
    need_sign = measure == "similarity" and C > 1

    # ---- pass 1: validation, norms, class sums, per-class Gram matrices --------------------------------------
    for c0, c1 in chunks:
        rows_sorted = order[starts[c0]:starts[c1]]
        perm = np.argsort(rows_sorted, kind="stable")
        idx = rows_sorted[perm]
        block = src.rows(idx)
        sq = np.einsum("ij,ij->i", block, block)
        bad = ~np.isfinite(sq)
        if bad.any():
            first = idx[np.flatnonzero(bad)[:5]].tolist()
            raise ValueError(f"{src.name}: {int(bad.sum())} feature row(s) contain NaN or inf (or overflow float64 "
                             f"when squared) (rows {first}...)")
        nrm = np.sqrt(sq)
        zero = nrm == 0
        if zero.any():
            first = idx[np.flatnonzero(zero)[:5]].tolist()
            raise ValueError(f"{src.name}: {int(zero.sum())} feature row(s) are all zero (rows {first}...); "
                             "cosine is undefined for them")
        if all_nonneg and need_sign and block.min() < 0:
            all_nonneg = False
        if not np.array_equal(perm, np.arange(perm.size)):  # back to class-sorted order
            inv = np.empty_like(perm)
            inv[perm] = np.arange(perm.size)
            block = block[inv]
            nrm = nrm[inv]
        norms[rows_sorted] = nrm
        off = 0
        for c in range(c0, c1):
            k = int(sizes[c])
            f = block[off:off + k]
            nk = nrm[off:off + k]
            class_sum[c] = f.sum(axis=0)
            gram = f @ f.T
            gram /= nk[:, None]
            gram /= nk[None, :]
            own_dot[rows_sorted[off:off + k]] = gram @ nk / k  # f^_i . u_c, u_c = mean f_j
            pairwise[c] = pairwise_from_gram(gram, measure)
            off += k
        del block

    centroid_norm = np.linalg.norm(class_sum, axis=1) / np.maximum(sizes, 1)
    if np.any(centroid_norm == 0):
        bad_c = classes[np.flatnonzero(centroid_norm == 0)[:5]].tolist()
        raise ValueError(f"{src.name}: class centroid(s) with zero norm for labels {bad_c} (features cancel out); "
                         "cosine to such a centroid is undefined")
    u_hat = class_sum / (centroid_norm * np.maximum(sizes, 1))[:, None]
    del class_sum
    S = u_hat.sum(axis=0)
    own_cos = own_dot / centroid_norm[class_ids]  # cos(f_i, u_{l_i})

    # ---- pass 2: unary terms ------------------------------------------------------------------------------------
    dot_S = np.zeros(n, dtype=np.float64)
    s_norm = float(np.linalg.norm(S))
    need_cone = measure == "similarity" and not all_nonneg and C > 1
    if need_cone and s_norm > 0:
        m_hat = S / s_norm
        theta_max = float(np.max(np.arccos(np.clip(u_hat @ m_hat, -1.0, 1.0))))
    else:
        theta_max = math.pi
    uncert_rows: list[np.ndarray] = []
    uncert_sum: list[np.ndarray] = []
    n_uncertified = 0
    for c0, c1 in chunks:
        rows_sorted = order[starts[c0]:starts[c1]]
        idx = np.sort(rows_sorted)
        block = src.rows(idx)
        d = (block @ S) / norms[idx]
        dot_S[idx] = d
        if need_cone:
            phi = np.arccos(np.clip(d / s_norm, -1.0, 1.0)) if s_norm > 0 else np.full(idx.size, math.pi)
            unc = phi + theta_max > math.pi / 2 - 1e-9
            if unc.any():
                sel = np.flatnonzero(unc)
                n_uncertified += sel.size
                for b0 in range(0, sel.size, _UNCERT_BLOCK):
                    sb = sel[b0:b0 + _UNCERT_BLOCK]
                    cos = block[sb] @ u_hat.T
                    cos /= norms[idx[sb]][:, None]
                    np.maximum(cos, 0.0, out=cos)
                    uncert_rows.append(idx[sb])
                    uncert_sum.append(cos.sum(axis=1))
        del block

    if measure == "distance":
        unary_all = (C - 1) - (dot_S - own_cos)
        unary_all = np.maximum(unary_all, 0.0)
    else:
        unary_all = dot_S - own_cos
        if uncert_rows:
            r = np.concatenate(uncert_rows)
            unary_all[r] = np.concatenate(uncert_sum) - np.maximum(own_cos[r], 0.0)
        unary_all = np.maximum(unary_all, 0.0)  # roundoff only; every clipped cosine is >= 0
        if C == 1:
            unary_all[:] = 0.0
    unary = [unary_all[m] for m in members]
    stats = {
        "n": n, "dim": dim, "num_classes": C, "all_features_nonnegative": bool(all_nonneg),
        "cone_theta_max_rad": None if theta_max == math.pi else theta_max,
        "rows_needing_exact_clipped_unary": int(n_uncertified),
        "pairwise_entries": int(np.sum(sizes.astype(np.int64) ** 2)),
    }
    return SelectionTerms(measure=measure, n=n, dim=dim, classes=classes, class_ids=class_ids, members=members,
                          unary=unary, pairwise=pairwise, stats=stats)
