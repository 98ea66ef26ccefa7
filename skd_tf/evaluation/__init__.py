"""Evaluation metrics for the paper's three protocols (Section IV).

- `verification`: LFW pair verification (ROC AUC, 10-fold accuracy, TAR@FAR, EER).
- `identification`: closed-set classification, top-k accuracy / error (UCCS).
- `retrieval`: probe-vs-gallery rank-k accuracy and CMC curve (SCface).
"""
from skd_tf.evaluation.identification import topk_accuracy, topk_error
from skd_tf.evaluation.retrieval import cmc_curve, rank_k_accuracy
from skd_tf.evaluation.verification import (
    cosine_scores,
    equal_error_rate,
    kfold_accuracy,
    paired_bootstrap_auc_difference,
    roc_auc,
    roc_curve,
    tar_at_far,
    verification_report,
)

__all__ = [
    "cmc_curve", "cosine_scores", "equal_error_rate", "kfold_accuracy", "paired_bootstrap_auc_difference",
    "rank_k_accuracy", "roc_auc", "roc_curve",
    "tar_at_far", "topk_accuracy", "topk_error", "verification_report",
]
