"""The exported student every serving test reads (tests/serving/test_*.py; issue 7), built once per session.

Each resolution builds a student, trains it for 400 steps (softmax on face identities) and sets its BatchNorm moving
statistics to the training faces' statistics, so that embeddings are not degenerate, then exports every artifact
kind once. With only 40 steps the full-int8 embedding of one LFW face at 32 px reached cosine 0.989 (mean 0.998):
a barely trained trunk has small, badly conditioned embeddings for some faces; 400 steps give 0.993 (mean 0.997).
Faces are real LFW faces when `../shared/data` is present (aligned by dlib's 5 points, area-downsampled to p),
synthetic faces otherwise; the int8 calibration set is drawn from the training faces and the parity faces are disjoint
from them. The cosine bounds are checked to be meaningful: different faces must have clearly different embeddings
(median cosine < 0.9, tests/serving/test_parity.py).
"""
import numpy as np
import pytest
import tensorflow as tf

from skd_tf.data.calibration import lfw_faces, synthetic_faces
from skd_tf.models.student import build_student
from skd_tf.serving import export_student, keras_reference

RESOLUTIONS = (16, 32)
TRAIN_FACES, TEST_FACES = 192, 48


def _faces(p):
    try:
        train, labels = lfw_faces(p, TRAIN_FACES, seed=7)
        test, _ = lfw_faces(p, TEST_FACES, seed=7, offset=TRAIN_FACES)
        return train, labels, test, "lfw"
    except FileNotFoundError:
        train, labels = synthetic_faces(p, 24, 8, seed=3)
        test, _ = synthetic_faces(p, 12, 4, seed=11)
        return train, labels, test, "synthetic"


def _train_few_steps(model, images, labels, steps=400, batch=32, seed=0):
    opt = tf.keras.optimizers.Adam(1e-3)
    rng = np.random.default_rng(seed)
    x_all = tf.constant(images, tf.float32)
    y_all = tf.constant(labels)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, out["logits"], from_logits=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    for _ in range(steps):
        idx = rng.choice(len(images), batch, replace=False)
        step(tf.gather(x_all, idx), tf.gather(y_all, idx))
    # A few steps leave BatchNorm's moving statistics (momentum 0.99) near their initial 0/1, which makes every
    # face's embedding nearly the same (median cosine ~0.9995): set them to the training faces' statistics.
    bns = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    for layer in bns:
        layer.momentum = 0.0
    model(x_all, training=True)
    for layer in bns:
        layer.momentum = 0.99


@pytest.fixture(scope="session", params=RESOLUTIONS, ids=[f"{p}px" for p in RESOLUTIONS])
def exported(request, tmp_path_factory):
    """`{"p", "model", "paths" (kind -> artifact), "test" (faces), "ref" (Keras outputs on them), "out", "source"}`."""
    p = request.param
    train, labels, test, source = _faces(p)
    model = build_student(p, feature_dim=128, num_classes=int(labels.max()) + 1, seed=p)
    _train_few_steps(model, train, labels)
    out = tmp_path_factory.mktemp(f"export{p}")
    paths = export_student(model, out, resolution=p, representative_images=train,
                           metadata={"teacher": "dlib_resnet", "training_data": f"{source} (test fixture)",
                                     "metrics": {"note": "untrained beyond a few steps"}})
    ref = keras_reference(model, test)
    return {"p": p, "model": model, "paths": paths, "test": test, "ref": ref, "out": out, "source": source}
