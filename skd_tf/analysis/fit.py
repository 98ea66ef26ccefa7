"""How much of the teacher's feature the student reproduces, against what the low-resolution pixels allow.

Eq. 5 regresses the mimic layer onto the teacher's feature ``t(f_i)`` of the high-resolution face. The figure that
says whether that regression works is the *explained fraction* of the target energy on faces the fit did not see,

    explained = 1 - sum_i ||t_i - y_i||^2 / sum_i ||t_i||^2,

(targets as they are regressed: centred and normalised; 1 is a perfect fit, 0 is predicting zero). Its *ceiling*
here is a diagnostic, not the paper's: the teacher itself run on the upscaled low-resolution face (the T-p-up row),
followed by the least-squares affine map onto the targets fitted on other training faces. A student far below that
ceiling is limited by its capacity or its training, not by the pixels (issue 14).
"""
from __future__ import annotations

import numpy as np

__all__ = ["explained_fraction", "fit_affine", "linear_ceiling"]


def _as_matrix(x, name: str, rows: int | None = None) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected a finite [N, D] matrix, got shape {arr.shape}")
    if rows is not None and arr.shape[0] != rows:
        raise ValueError(f"{name}: expected {rows} rows (one per face), got {arr.shape[0]}")
    return arr


def explained_fraction(targets, predictions) -> float:
    """``1 - sum ||t - y||^2 / sum ||t||^2`` over faces (rows); targets and predictions ``[N, D]``."""
    t = _as_matrix(targets, "targets")
    y = _as_matrix(predictions, "predictions", rows=t.shape[0])
    if y.shape != t.shape:
        raise ValueError(f"predictions: expected shape {t.shape} to match the targets, got {y.shape}")
    energy = float(np.sum(t * t))
    if energy <= 0.0:
        raise ValueError("targets: all zero, the explained fraction is undefined")
    return 1.0 - float(np.sum((t - y) ** 2)) / energy


def fit_affine(inputs, targets) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``(W [F, D], b [D])`` minimising ``sum ||targets - inputs @ W - b||^2`` (minimum-norm solution
    when the inputs are rank-deficient, as ``np.linalg.lstsq``)."""
    x = _as_matrix(inputs, "inputs")
    t = _as_matrix(targets, "targets", rows=x.shape[0])
    design = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
    solution, *_ = np.linalg.lstsq(design, t, rcond=None)
    return solution[:-1], solution[-1]


def linear_ceiling(fit_inputs, fit_targets, eval_inputs, eval_targets) -> float:
    """Explained fraction on the eval faces of the affine map fitted on the fit faces (module docstring): with the
    teacher's features of the upscaled low-resolution faces as inputs, the diagnostic ceiling of the mimic layer."""
    weights, bias = fit_affine(fit_inputs, fit_targets)
    x = _as_matrix(eval_inputs, "eval_inputs")
    if x.shape[1] != weights.shape[0]:
        raise ValueError(f"eval_inputs: expected {weights.shape[0]} columns like the fit inputs, got {x.shape[1]}")
    return explained_fraction(eval_targets, x @ weights + bias)
