"""The lambda rule the experiments state (Eq. 3's lambda is a free parameter; Section IV-B sweeps it in Fig. 5).

A class with one face has no pairwise term and a non-negative unary term, so Eq. 3 discards it at every lambda
(`skd_tf.selection.core`). The rule therefore looks at the faces of classes with at least two faces: sweep lambda
over -2^(k/2) (k = 0..26) and 0 and take the value whose kept fraction of those faces is closest to
`keep_fraction` (ties to the larger lambda, i.e. fewer kept). A given `lam` overrides the rule.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from skd_tf.selection.core import LambdaSweep, check_lam, sweep_lambda

RULE_LAMS = tuple(sorted({-(2.0 ** (k / 2)) for k in range(27)} | {0.0}))


@dataclasses.dataclass
class RuleSelection:
    """`lam` and `alpha` (bool [N], input order) chosen by the rule, the `sweep` behind it, and a JSON `summary`."""
    lam: float
    alpha: np.ndarray
    sweep: LambdaSweep
    summary: dict


def select_by_keep_fraction(features, labels, keep_fraction: float, lam: float | None = None) -> RuleSelection:
    """Eq. 3 at the lambda of the rule (module docstring), or at `lam` when given (added to the sweep)."""
    if not 0.0 <= float(keep_fraction) <= 1.0:
        raise ValueError(f"keep_fraction: expected a value in [0, 1], got {keep_fraction}")
    labels = np.asarray(labels)
    lams = sorted(set(RULE_LAMS) | ({check_lam(lam)} if lam is not None else set()))
    sweep = sweep_lambda(features, labels, lams=lams)
    multi = np.bincount(labels)[labels] >= 2
    frac_multi = sweep.alphas[:, multi].mean(axis=1) if multi.any() else np.zeros(len(sweep.lams))
    if lam is not None:
        k = int(np.flatnonzero(sweep.lams == float(lam))[0])
    else:
        diff = np.abs(frac_multi - float(keep_fraction))
        k = int(np.flatnonzero(diff <= diff.min() + 1e-12).max())
    alpha = sweep.alphas[k]
    summary = {"lam": float(sweep.lams[k]), "rule": "given" if lam is not None else
               f"kept fraction of multi-image training faces closest to {keep_fraction}",
               "kept": int(alpha.sum()), "faces": int(alpha.size), "kept_fraction": float(alpha.mean()),
               "kept_fraction_multi_image": float(frac_multi[k]), "multi_image_faces": int(multi.sum()),
               "one_image_faces_kept": int(alpha[~multi].sum()),
               "sweep": {"lams": sweep.lams, "kept": sweep.kept_counts, "kept_fraction_multi_image": frac_multi}}
    return RuleSelection(lam=float(sweep.lams[k]), alpha=alpha, sweep=sweep, summary=summary)
