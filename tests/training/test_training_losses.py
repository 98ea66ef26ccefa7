"""Tests for skd_tf.training: Eq. 4-6 losses, supervision modes, the training step (Section III-D, IV-C)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from skd_tf.models.student import build_student
from skd_tf.training import DistillationModel, distillation_losses

P, D, C, B = 16, 6, 3, 5


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(B, P, P, 3)).astype(np.uint8)
    y = {"label": rng.integers(0, C, size=B).astype(np.int64),
         "feature": rng.normal(size=(B, D)).astype(np.float32),
         "alpha": np.array([1, 0, 1, 1, 0], np.float32)}
    return x, y


def _np_losses(out, y, mode, norm="raw", scale=1.0):
    logits = out["logits"].astype(np.float64)
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    cls = -logp[np.arange(B), y["label"]].mean()
    f = y["feature"].astype(np.float64)
    if norm == "l2":
        f = f / np.linalg.norm(f, axis=1, keepdims=True) * scale
    sq = ((out["mimic"] - f) ** 2).sum(1)
    a = y["alpha"] if mode in ("s", "sc") else np.ones(B)
    reg = (a * sq).sum() / B  # divided by the batch size, not by sum(alpha)
    use_c, use_r = mode in ("c", "sc", "dc"), mode in ("s", "sc", "dc")
    return use_c * cls + use_r * reg, cls if use_c else 0.0, reg if use_r else 0.0


@pytest.mark.parametrize("mode", ["c", "s", "sc", "dc"])
@pytest.mark.parametrize("norm", ["raw", "l2"])
def test_losses_match_hand_computation(mode, norm):
    rng = np.random.default_rng(1)
    out = {"logits": rng.normal(size=(B, C)).astype(np.float32), "mimic": rng.normal(size=(B, D)).astype(np.float32)}
    _, y = _batch()
    got = distillation_losses({k: tf.constant(v) for k, v in out.items()}, y["label"], y["feature"], y["alpha"],
                              mode=mode, feature_norm=norm, feature_scale=3.0)
    want = _np_losses(out, y, mode, norm, 3.0)
    np.testing.assert_allclose([got["loss"], got["cls_loss"], got["reg_loss"]], want, rtol=1e-5)


def test_reg_weight_and_mode_relations():
    rng = np.random.default_rng(2)
    out = {"logits": tf.constant(rng.normal(size=(B, C)), tf.float32),
           "mimic": tf.constant(rng.normal(size=(B, D)), tf.float32)}
    _, y = _batch()
    sc = distillation_losses(out, y["label"], y["feature"], y["alpha"], mode="sc", reg_weight=2.5)
    np.testing.assert_allclose(sc["loss"], sc["cls_loss"] + 2.5 * sc["reg_loss"], rtol=1e-6)
    # Mode c ignores features entirely.
    c1 = distillation_losses(out, y["label"], y["feature"], y["alpha"], mode="c")
    c2 = distillation_losses(out, y["label"], None, None, mode="c")
    c3 = distillation_losses(out, y["label"], np.full((B, D), np.nan, np.float32), y["alpha"] * 0, mode="c")
    assert float(c1["loss"]) == float(c2["loss"]) == float(c3["loss"])
    # dc == sc with alpha = 1.
    dc = distillation_losses(out, y["label"], y["feature"], y["alpha"], mode="dc")
    sc1 = distillation_losses(out, y["label"], y["feature"], np.ones(B, np.float32), mode="sc")
    assert float(dc["loss"]) == float(sc1["loss"])
    with pytest.raises(ValueError, match="supervision"):
        distillation_losses(out, y["label"], mode="x")
    with pytest.raises(ValueError, match="features"):
        distillation_losses(out, y["label"], None, None, mode="s")


def _grads(student, x, y, mode, training):
    with tf.GradientTape() as tape:
        out = student(tf.cast(x, tf.float32), training=training)
        terms = distillation_losses(out, y["label"], y.get("feature"), y.get("alpha"), mode=mode)
    return terms, tape.gradient(terms["reg_loss"] if mode == "s" else terms["loss"], student.trainable_weights)


def test_alpha_zero_face_contributes_exactly_zero_regression_gradient():
    student = build_student(P, feature_dim=D, num_classes=C, seed=0)
    x, y = _batch()
    # Per-face: the gradient of L_reg w.r.t. an alpha = 0 face's mimic output is exactly zero (training mode too).
    with tf.GradientTape() as tape:
        out = student(tf.cast(x, tf.float32), training=True)
        tape.watch(out["mimic"])
        terms = distillation_losses(out, y["label"], y["feature"], y["alpha"], mode="s")
    g = tape.gradient(terms["reg_loss"], out["mimic"]).numpy()
    assert np.all(g[y["alpha"] == 0] == 0.0) and np.all(np.abs(g[y["alpha"] == 1]).sum(1) > 0)
    # Whole-network: with and without the face (inference-mode BN, so faces do not interact), the summed
    # regression gradients are equal: the alpha = 0 face adds nothing.
    keep = np.flatnonzero(y["alpha"] > 0)
    _, g_with = _grads(student, x, y, "s", training=False)
    y_wo = {k: v[keep] for k, v in y.items()}
    _, g_wo = _grads(student, x[keep], y_wo, "s", training=False)
    n_with, n_wo = len(x), len(keep)
    for a, b in zip(g_with, g_wo):
        if a is None:
            assert b is None
            continue
        np.testing.assert_allclose(a.numpy() * n_with, b.numpy() * n_wo, rtol=2e-4, atol=1e-6)
    # Mode s gives no gradient to the classifier head.
    _, g_s = _grads(student, x, y, "s", training=True)
    for w, g_ in zip(student.trainable_weights, g_s):
        if w.path.startswith("logits"):
            assert g_ is None or np.all(g_.numpy() == 0)


def test_one_training_step_matches_hand_computed_loss_and_update():
    student = build_student(P, feature_dim=D, num_classes=C, seed=4)
    x, y = _batch(seed=3)
    before = [w.numpy().copy() for w in student.trainable_weights]
    # Hand computation on the same batch (training-mode BN statistics, as in the step).
    _, grads = _grads(student, x, y, "sc", training=True)
    out = {k: v.numpy().astype(np.float64) for k, v in student(tf.cast(x, tf.float32), training=True).items()}
    want_loss, want_cls, want_reg = _np_losses(out, y, "sc")
    lr = 0.01
    model = DistillationModel(student, mode="sc")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr))
    logs = model.train_on_batch(x, y, return_dict=True)
    np.testing.assert_allclose(logs["loss"], want_loss, rtol=1e-4)
    np.testing.assert_allclose(logs["cls_loss"], want_cls, rtol=1e-4)
    np.testing.assert_allclose(logs["reg_loss"], want_reg, rtol=1e-4)
    for w, w0, g in zip(student.trainable_weights, before, grads):
        np.testing.assert_allclose(w.numpy(), w0 - lr * g.numpy(), rtol=1e-4, atol=1e-6)


def test_only_the_students_weights_exist_and_change():
    student = build_student(P, feature_dim=D, num_classes=C, seed=5)
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(D, name="teacher_fc")])
    t_before = [w.numpy().copy() for w in teacher.weights]
    model = DistillationModel(student, mode="sc")
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    assert {id(v) for v in model.trainable_weights} == {id(v) for v in student.trainable_weights}
    assert {id(v) for v in model.weights} == {id(v) for v in student.weights}
    x, y = _batch(seed=6)
    feats = y["feature"].copy()
    before = [w.numpy().copy() for w in student.trainable_weights]
    model.train_on_batch(x, y)
    changed = [not np.array_equal(w.numpy(), b) for w, b in zip(student.trainable_weights, before)]
    assert all(changed)
    np.testing.assert_array_equal(y["feature"], feats)
    for w, b in zip(teacher.weights, t_before):
        np.testing.assert_array_equal(w.numpy(), b)


def test_mode_c_training_ignores_features():
    x, y = _batch(seed=7)
    res = []
    for feats in (y["feature"], y["feature"] * 100 + 5):
        student = build_student(P, feature_dim=D, num_classes=C, seed=8)
        model = DistillationModel(student, mode="c")
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        logs = model.train_on_batch(x, {**y, "feature": feats}, return_dict=True)
        res.append((logs["loss"], [w.numpy() for w in student.trainable_weights]))
    assert res[0][0] == res[1][0]
    for a, b in zip(res[0][1], res[1][1]):
        np.testing.assert_array_equal(a, b)
