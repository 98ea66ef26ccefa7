"""A compact CNN teacher trained on synthetic faces (registry name ``"compact"``).

The paper's teacher (section III-B) is a large network pre-trained on high-resolution faces (VGGFace). No
pre-trained network knows the synthetic identities of ``skd_tf.data.synthetic``, so the demo trains this small
teacher with softmax on high-resolution aligned chips of its training identities, and then uses the layer before the
softmax as the teacher feature ``f_i = phi_t^(F_i)`` of Eq. (2).

Architecture (input RGB 0..255 at ``input_size``, default 112; ``x / 127.5 - 1`` inside the graph):
conv 5x5/2 (16) -> max pool -> conv 3x3 (32) -> max pool -> conv 3x3 (48) -> conv 3x3 (64) -> max pool ->
conv 3x3 (96),
every conv followed by batch norm and ReLU, then flatten (the spatial layout of an aligned face matters) ->
dense ``feature_dim`` -> batch norm, named ``feature`` (D = 256 by default). For training a softmax layer
``logits`` is stacked on top (``build_classifier``). About 0.02 GMAC per 112 px image.

Measured on the synthetic data (150 identities x 20 images at 160 px, 15% planted noise, 112 px chips, 6 epochs,
2 shared CPU cores: 40-60 s of training):

* as in the paper, train the teacher on identities the student set does not contain (``generate_faces(...,
  identity_offset=...)``, its own D_t). Trained on the student set itself it memorises the wrong labels (cosine of
  a wrong-label face to its annotated class centroid 0.27 instead of 0.07, centred features);
* centre the features (subtract their mean) before the selection of Eq. (3): raw features share a common component
  (mean cosine 0.2 between a face and other classes' centroids) that swamps the unary term. With both, lambda = -3.5
  (``skd_tf.selection.select_informative``, "similarity") kept 97.8% of clean faces and discarded 90.7% of
  wrong-label, 69% of extreme-pose and 57% of heavily occluded faces; without centring, no lambda reaches 90/90.
"""
from __future__ import annotations

import os
import time

import keras
import numpy as np

from skd_tf.models.teachers import TeacherSpec
from skd_tf.utils.io import atomic_path

__all__ = ["NAME", "INPUT_SIZE", "FEATURE_DIM", "FEATURE_LAYER", "spec", "SPEC", "build", "build_classifier",
           "train_compact_teacher"]

NAME = "compact"
INPUT_SIZE = 112
FEATURE_DIM = 256
FEATURE_LAYER = "feature"
PREPROCESSING = "x / 127.5 - 1 (in the graph); input: chip aligned by skd_tf.data.align (dlib 5-point, padding 0.25)"


def spec(feature_dim: int = FEATURE_DIM, input_size: int = INPUT_SIZE, **_: object) -> TeacherSpec:
    """The teacher's spec for the given feature dimension and input size (other build kwargs are ignored)."""
    return TeacherSpec(
        name=NAME,
        input_size=int(input_size),
        feature_dim=int(feature_dim),
        feature_layer=FEATURE_LAYER,
        color_order="RGB",
        preprocessing=PREPROCESSING,
        align_padding=0.25,
    )


#: The default spec (D = 256, 112 px chips).
SPEC = spec()


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str):
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def build(*, feature_dim: int = FEATURE_DIM, weights: str | os.PathLike | None = None,
          input_size: int = INPUT_SIZE, **_: object) -> keras.Model:
    """The feature model: RGB 0..255 ``[B, input_size, input_size, 3]`` in, ``[B, feature_dim]`` out.

    `weights` is a ``.weights.h5`` file written by ``train_compact_teacher`` (random initialisation without it).
    """
    feature_dim, input_size = int(feature_dim), int(input_size)
    if feature_dim < 1:
        raise ValueError(f"compact teacher: feature_dim must be >= 1, got {feature_dim}")
    if input_size < 32:
        raise ValueError(f"compact teacher: input_size must be >= 32 pixels, got {input_size}")
    inp = keras.Input((input_size, input_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(inp)
    x = _conv_bn(x, 16, 5, 2, "block1")
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = _conv_bn(x, 32, 3, 1, "block2")
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = _conv_bn(x, 48, 3, 1, "block3a")
    x = _conv_bn(x, 64, 3, 1, "block3b")
    x = keras.layers.MaxPooling2D(2, name="pool3")(x)
    x = _conv_bn(x, 96, 3, 1, "block4")
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(0.2, name="dropout")(x)
    x = keras.layers.Dense(feature_dim, name="feature_dense")(x)
    out = keras.layers.BatchNormalization(name=FEATURE_LAYER)(x)
    model = keras.Model(inp, out, name=f"{NAME}_teacher")
    if weights is not None:
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"compact teacher weights not found: {weights}")
        try:
            model.load_weights(str(weights))
        except ValueError as e:
            raise ValueError(f"{weights}: weights do not fit a compact teacher with feature_dim={feature_dim}, "
                             f"input_size={input_size}: {e}") from e
    return model


def build_classifier(feature_model: keras.Model, num_classes: int) -> keras.Model:
    """The training model: the feature model followed by a softmax layer ``logits`` over `num_classes`."""
    if int(num_classes) < 2:
        raise ValueError(f"compact teacher: need >= 2 classes to train with softmax, got {num_classes}")
    x = keras.layers.ReLU(name="feature_relu")(feature_model.output)
    probs = keras.layers.Dense(int(num_classes), activation="softmax", name="logits")(x)
    return keras.Model(feature_model.input, probs, name=f"{NAME}_classifier")


def train_compact_teacher(
    chips,
    labels,
    *,
    feature_dim: int = FEATURE_DIM,
    epochs: int = 6,
    batch_size: int = 64,
    seed: int = 0,
    out_path: str | os.PathLike | None = None,
    learning_rate: float = 2e-3,
    verbose: int = 0,
) -> keras.Model:
    """Trains the compact teacher with softmax on aligned chips and returns its feature model.

    `chips` are uint8 RGB ``[N, S, S, 3]`` (S becomes the input size), `labels` contiguous int ids ``0..C-1``.
    Adam with a cosine-decayed learning rate; ``keras.utils.set_random_seed(seed)`` makes it repeatable as far as TF
    on CPU allows. When `out_path` (ending in ``.weights.h5``) is given, the feature model's weights are written
    there atomically (a temporary name in the same folder, then a rename); reload with ``build(weights=out_path)``.
    The model's ``train_seconds`` attribute holds the wall time of ``fit``.
    """
    chips = np.asarray(chips)
    labels = np.asarray(labels)
    if chips.ndim != 4 or chips.shape[1] != chips.shape[2] or chips.shape[3] != 3:
        raise ValueError(f"chips: expected square RGB chips [N, S, S, 3], got shape {chips.shape}")
    if labels.shape != (len(chips),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels: expected integer class ids of shape ({len(chips)},), "
                         f"got {labels.dtype} {labels.shape}")
    if len(labels) and labels.min() < 0:
        raise ValueError("labels: class ids must be >= 0")
    if out_path is not None and not str(out_path).endswith(".weights.h5"):
        raise ValueError(f"out_path: Keras weight files must end in '.weights.h5', got {out_path}")
    num_classes = int(labels.max()) + 1
    keras.utils.set_random_seed(int(seed))
    features = build(feature_dim=feature_dim, input_size=chips.shape[1])
    classifier = build_classifier(features, num_classes)
    steps = max(1, int(np.ceil(len(chips) / int(batch_size)))) * max(1, int(epochs))
    schedule = keras.optimizers.schedules.CosineDecay(float(learning_rate), decay_steps=steps, alpha=0.05)
    classifier.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])
    start = time.perf_counter()
    classifier.fit(chips.astype(np.float32), labels.astype(np.int64), batch_size=int(batch_size), epochs=int(epochs),
                   shuffle=True, verbose=verbose)
    features.train_seconds = time.perf_counter() - start
    if out_path is not None:
        with atomic_path(out_path, suffix=".weights.h5") as tmp:
            features.save_weights(str(tmp))
    return features
