"""The student's objective, Eq. 4-6 of Ge et al. (TIP 2019), as batch means.

Eq. 4:  L = L_cls + L_reg (equal importance; `cls_weight` / `reg_weight` may change this, both 1.0 by default).
Eq. 5:  L_cls = sum_i sum_j l(phi_s(F~_ij), l_i)                (softmax cross-entropy on the logits)
Eq. 6:  L_reg = sum_i alpha_i sum_j || phi^_s(F~_ij) - f_i ||^2  (squared L2 between mimic output and teacher feature)

Mapping the paper's sums over the whole student set to a mini-batch of B faces F~_ij (any i, j):

    L_cls = (1/B) sum_b CE(logits_b, label_b)
    L_reg = (1/B) sum_b alpha_b || m_b - t(f_b) ||^2

Both sums are divided by the same B, so their relative weight is the paper's (dividing the whole of Eq. 4 by the
number of faces |D_s| N does not change its minimiser), and a face with alpha = 0 contributes exactly zero to L_reg and
to its gradient (dividing by sum(alpha) instead would re-weight the selected faces and make a batch with no selected
face undefined). The squared L2 is summed over the D feature dimensions, as in Eq. 6.
`t` is the target normalisation: `raw` (the paper) or `l2` (f / ||f|| * feature_scale).

Supervision modes (Section IV-C): `c` = L_cls only; `s` = alpha-weighted L_reg only; `sc` = L_cls + alpha-weighted
L_reg; `dc` = L_cls + L_reg with alpha = 1 for every face.

Our reading of mode `s`, and why: like every mode it starts from the stage-1 weights and trains only L_reg, so the
identity and softmax layers get no gradient in stage 3 and keep their stage-1 values. Section III-B initialises
every student with Eq. 1 before distillation, and Section IV-C defines s only by what its supervision lacks
("selective distillation without face class supervision"), so s shares the initialisation of c, sc and dc and
differs from sc by L_cls alone: the comparison s vs sc then measures the class supervision, as the paper uses it
("the face class supervision signal can also improve the performance, so that S-16-sc achieves a higher accuracy
than S-16-s"). Training s from random weights would instead confound that with the initialisation, and an identity
layer that no loss reaches would stay random; here it stays the stage-1 identity layer reading a mimic feature that
L_reg moves, which is why s's identity feature is its weakest and its mimic feature carries it (LFW fold 1,
S-32-s: identity 85.29, mimic 91.16 AUC; WORKSPACE.md).
"""
from __future__ import annotations

import tensorflow as tf

MODES = ("c", "s", "sc", "dc")
FEATURE_NORMS = ("raw", "l2")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"supervision: expected one of {MODES}, got {mode!r}")
    return mode


def uses_classification(mode: str) -> bool:
    return check_mode(mode) in ("c", "sc", "dc")


def uses_regression(mode: str) -> bool:
    return check_mode(mode) in ("s", "sc", "dc")


def uses_alpha(mode: str) -> bool:
    return check_mode(mode) in ("s", "sc")


def normalise_target(features: tf.Tensor, feature_norm: str = "raw", feature_scale: float = 1.0) -> tf.Tensor:
    """The regression target t(f): `raw` returns f, `l2` returns feature_scale * f / ||f||."""
    features = tf.cast(features, tf.float32)
    if feature_norm == "raw":
        return features
    if feature_norm == "l2":
        return tf.math.l2_normalize(features, axis=-1, epsilon=1e-12) * feature_scale
    raise ValueError(f"feature_norm: expected one of {FEATURE_NORMS}, got {feature_norm!r}")


def distillation_losses(outputs: dict, labels: tf.Tensor, features: tf.Tensor | None = None,
                        alpha: tf.Tensor | None = None, *, mode: str = "sc", cls_weight: float = 1.0,
                        reg_weight: float = 1.0, feature_norm: str = "raw",
                        feature_scale: float = 1.0) -> dict[str, tf.Tensor]:
    """Per-replica batch-mean losses of Eq. 4-6: returns {"loss", "cls_loss", "reg_loss"} float32 scalars.

    `outputs` is the student's output dict (`logits [B, C]`, `mimic [B, D]`); `features [B, D]` the cached teacher
    features f_i of each face's source row, `alpha [B]` the selection flags. Terms a mode does not use are reported
    as 0 and do not depend on the inputs (mode `c` never reads `features` or `alpha`).
    """
    check_mode(mode)
    logits = tf.cast(outputs["logits"], tf.float32)
    batch = tf.cast(tf.shape(logits)[0], tf.float32)
    zero = tf.zeros((), tf.float32)
    cls_loss = zero
    if uses_classification(mode):
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int64), logits=logits)
        cls_loss = tf.reduce_sum(ce) / batch
    reg_loss = zero
    if uses_regression(mode):
        if features is None:
            raise ValueError(f"supervision {mode!r} needs teacher features (y['feature']), got none")
        mimic = tf.cast(outputs["mimic"], tf.float32)
        target = normalise_target(features, feature_norm, feature_scale)
        sq = tf.reduce_sum(tf.square(mimic - target), axis=-1)
        if uses_alpha(mode) and alpha is not None:
            # tf.where, not a product, so that alpha = 0 gives exactly zero even if the distance is inf/NaN.
            a = tf.cast(alpha, tf.float32)
            sq = tf.where(a > 0, a * sq, tf.zeros_like(sq))
        reg_loss = tf.reduce_sum(sq) / batch
    total = cls_weight * cls_loss + reg_weight * reg_loss
    return {"loss": total, "cls_loss": cls_loss, "reg_loss": reg_loss}
