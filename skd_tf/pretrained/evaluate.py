"""The figures of a pretrained student's model card, on LFW View 2 (paper Section IV-A/IV-C).

The shipped students were trained on the people of View-2 folds 2-10 (`experiments/lfw_lowres.py --test_fold=1`),
so fold 1 (600 pairs, 807 images, people disjoint from training) is their held-out test and the 5,400 pairs of folds
2-10 are *training* pairs: the verification thresholds are chosen there (`operating_points`; the card's
headline is FAR 1e-3), never on
the test pairs, and then applied to fold 1 (`held_out_figures`).

Faces and scores are those of `skd_tf.evaluation.lfw_view2` (the path of `experiments/eval_lfw.py`): each image
aligned with its 5 landmarks of `dlib/landmarks5.csv` and rendered at p px (`prepare_faces`), each pair scored by the
cosine of the two identity features, of the two mimic features, and by their mean `both`, the paper's headline
feature (Fig. 7; `skd_tf.grid.pair_scores`). Figures are in percent, as eval_lfw's table.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from skd_tf.evaluation.verification import best_threshold, threshold_at_far, verification_report
from skd_tf.evaluation.view2_faces import prepare_faces
from skd_tf.evaluation.view2_pairs import View2Pairs, load_view2_pairs
from skd_tf.evaluation.view2_students import EvalStudent

HEADLINE_FEATURE = "both"
FEATURES = ("identity", "mimic", "both")
#: Operating points of a card: name -> how its threshold is chosen on the training pairs.
OPERATING_POINTS = {"far_1e-3": "lowest threshold with FAR <= 1e-3", "far_1e-2": "lowest threshold with FAR <= 1e-2",
                    "best_accuracy": "accuracy-maximising threshold (the 10-fold rule of LFW)"}
DEFAULT_OPERATING_POINT = "far_1e-3"
#: How the card's score is computed from two faces' features (what `HEADLINE_FEATURE` means).
SCORE_FORMULA = ("both = (cos(identity_a, identity_b) + cos(mimic_a, mimic_b)) / 2, the mean of the cosine "
                 "similarities of the L2-normalised identity-layer and mimic-layer features (Section IV-A; Fig. 7's "
                 "headline); 'same' iff both > threshold")


def landmark_faces(lfw_root: str | os.PathLike, folds: Sequence[int],
                   resolutions: Sequence[int]) -> tuple[View2Pairs, dict]:
    """The View-2 pairs of `folds` and their faces at each of `resolutions` (`{p: uint8 [M, p, p, 3]}`), aligned
    with landmarks5.csv's points (the eval_lfw test crops)."""
    pairs = load_view2_pairs(lfw_root, folds=folds)
    return pairs, prepare_faces(lfw_root, pairs, resolutions)


def pair_scores(student: EvalStudent, faces: np.ndarray, pairs: View2Pairs) -> dict[str, np.ndarray]:
    """`{feature: [n_pairs] score}` of one student on its p-px `faces` (indexed like `pairs.rows`)."""
    from skd_tf import grid

    return grid.pair_scores(student.embed(faces), pairs.pair_a, pairs.pair_b)


def operating_points(scores: np.ndarray, pairs: View2Pairs) -> dict[str, dict]:
    """`{operating point: {"value": threshold, "tar", "far", "accuracy"}}` on (training) pairs, for each of
    `OPERATING_POINTS` (rates in percent, at "same iff score > threshold")."""
    values = {"far_1e-3": threshold_at_far(scores, pairs.is_same, 1e-3),
              "far_1e-2": threshold_at_far(scores, pairs.is_same, 1e-2),
              "best_accuracy": best_threshold(scores, pairs.is_same)[0]}
    return {k: {"value": float(t), **rates_at(scores, pairs.is_same, t)} for k, t in values.items()}


def held_out_figures(scores: dict[str, np.ndarray], pairs: View2Pairs, threshold: float) -> dict:
    """Per feature: AUC, 10-fold accuracy (mean, std), TAR at FAR 1e-3 / 1e-2, EER, all in percent; for the
    headline feature also the rates at the training `threshold` (`at_threshold`)."""
    cv = pairs.cv_folds()
    out = {}
    for feature in FEATURES:
        rep = verification_report(scores[feature], pairs.is_same, cv)
        out[feature] = {"auc": 100.0 * rep["roc_auc"], "accuracy_mean": 100.0 * rep["accuracy_mean"],
                        "accuracy_std": 100.0 * rep["accuracy_std"],
                        "tar_at_far_1e-3": 100.0 * rep["tar_at_far_1e-3"],
                        "tar_at_far_1e-2": 100.0 * rep["tar_at_far_1e-2"], "eer": 100.0 * rep["eer"]}
    out[HEADLINE_FEATURE]["at_threshold"] = rates_at(scores[HEADLINE_FEATURE], pairs.is_same, threshold)
    return out


def rates_at(scores: np.ndarray, is_same: np.ndarray, threshold: float) -> dict:
    """TAR, FAR and accuracy (percent) of "same iff score > threshold" on pairs."""
    same = np.asarray(scores) > threshold
    is_same = np.asarray(is_same, bool)
    return {"tar": 100.0 * float(same[is_same].mean()), "far": 100.0 * float(same[~is_same].mean()),
            "accuracy": 100.0 * float((same == is_same).mean()), "n_pairs": int(is_same.size)}
