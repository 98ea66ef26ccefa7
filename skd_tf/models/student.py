"""The student stream phi_s (Section III-B, Fig. 3 of Ge et al., TIP 2019).

Architecture (ten convolutions, three max-pools, batch normalisation, global average pooling, three fully
connected layers), for an input of p x p x 3 RGB in 0..255 (any p >= 16; the paper uses 16/32/64/96):

    stage  resolution  layers                                                     channels
    1      p           conv3x3, conv3x3                                           16, 16
           -> maxpool 2x2 (p/2)
    2      p/2         conv3x3, conv1x1 (bottleneck), conv3x3                     32, 16, 32
           -> maxpool 2x2 (p/4)
    3      p/4         conv3x3, conv1x1 (bottleneck), conv3x3                     64, 32, 64
           -> maxpool 2x2 (p/8)
    4      p/8         conv3x3, conv1x1 (reduction)                               128, 32
           -> global average pooling -> 32-D
    FC     mimic       Dense(D), linear                 (the "1x1xD mimic layer", regresses the teacher feature f_i)
    FC     identity    Dense(identity_dim=128), linear  (identity layer between mimic and softmax, Section III-B)
    FC     logits      Dense(C), linear                 (the softmax layer; the softmax itself lives in the loss)

Every convolution is bias-free and followed by BatchNorm and ReLU; weights use Xavier (Glorot) uniform
initialisation, as the paper states. Mostly 3x3 filters, 1x1 filters reduce the channel count between 3x3
convolutions, and the channel count grows after every pooling step (16 -> 32 -> 64 -> 128), as in Section III-B.

Width choice. With D = 4096 the identity layer alone costs 4096*128 + 128 = 524,416 parameters and the mimic layer
costs (K + 1) * 4096 for a K-channel pooled feature, so the 0.79M budget of the paper (excluding the softmax layer)
leaves only ~0.27M for the convolutions plus the mimic layer. K = 32 gives a 135,168-parameter mimic layer and
~130K for the ten convolutions, which the 16/32/64/128 widths above meet: 789,648 trainable parameters (790,512
including the BatchNorm moving statistics), i.e. 0.7896M, within 0.1% of the paper's 0.79M.

Activations of the fully connected layers. The mimic output is linear: it must regress teacher features that may be
signed (dlib's 128-D descriptor) or non-negative (VGGFace fc7 after ReLU); a ReLU would make signed targets
unreachable. The identity layer is linear too (as the embedding layer of common face-recognition nets): it is a
128-D compression of the mimic feature read directly by the softmax classifier, and a signed embedding keeps cosine
similarities informative for verification. `identity_activation` can change this.

Preprocessing lives inside the graph (x / 127.5 - 1), so the model takes raw RGB 0..255 (float32, or uint8 which is
cast). Under a mixed-precision policy the three heads compute in float32 so losses and features stay in float32.
"""
from __future__ import annotations

import keras
import numpy as np

OUTPUT_NAMES = ("mimic", "identity", "logits")

# (kind, kernel, filters) per convolution, with "pool" markers between stages.
_CONV_PLAN = (
    ("conv", 3, 16), ("conv", 3, 16), ("pool",),
    ("conv", 3, 32), ("conv", 1, 16), ("conv", 3, 32), ("pool",),
    ("conv", 3, 64), ("conv", 1, 32), ("conv", 3, 64), ("pool",),
    ("conv", 3, 128), ("conv", 1, 32),
)
MIN_RESOLUTION = 16


def build_student(resolution: int, feature_dim: int = 4096, num_classes: int = 10, identity_dim: int = 128,
                  name: str = "student", identity_activation: str | None = None,
                  seed: int | None = None, synchronized_bn: bool = False) -> keras.Model:
    """Builds the student network of Fig. 3 for `resolution` x `resolution` RGB faces.

    Args:
      resolution: input side p (>= 16).
      feature_dim: D, the teacher feature dimension the mimic layer regresses (4096 for VGGFace, 128 for dlib).
      num_classes: C, the number of training identities (softmax layer width).
      identity_dim: width of the identity layer (128 by default).
      name: model name.
      identity_activation: activation of the identity layer (None = linear, the default; see the module docstring).
      seed: optional seed for the Glorot initialisers (repeatable initial weights).
      synchronized_bn: BatchNorm statistics over the global batch under tf.distribute (same weights either way).

    Returns:
      A functional `keras.Model` mapping `[B, p, p, 3]` RGB 0..255 to a dict
      `{"mimic": [B, D], "identity": [B, identity_dim], "logits": [B, C]}`; layers named `mimic`, `identity`, `logits`.
    """
    for field, value, low in (("resolution", resolution, MIN_RESOLUTION), ("feature_dim", feature_dim, 1),
                              ("num_classes", num_classes, 1), ("identity_dim", identity_dim, 1)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"build_student: {field} must be an int >= {low}, got {value!r}")
    resolution = int(resolution)
    counter = [0]

    def init():
        if seed is None:
            return keras.initializers.GlorotUniform()
        counter[0] += 1
        return keras.initializers.GlorotUniform(seed=seed * 1000 + counter[0])

    inputs = keras.Input(shape=(resolution, resolution, 3), dtype="float32", name="image")
    # In-graph preprocessing: 0..255 -> [-1, 1].
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(inputs)
    conv_i, pool_i = 0, 0
    for step in _CONV_PLAN:
        if step[0] == "pool":
            pool_i += 1
            x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool{pool_i}")(x)
            continue
        _, kernel, filters = step
        conv_i += 1
        x = keras.layers.Conv2D(filters, kernel, padding="same", use_bias=False, kernel_initializer=init(),
                                name=f"conv{conv_i}")(x)
        x = keras.layers.BatchNormalization(synchronized=synchronized_bn, name=f"bn{conv_i}")(x)
        x = keras.layers.ReLU(name=f"relu{conv_i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    mimic = keras.layers.Dense(feature_dim, kernel_initializer=init(), dtype="float32", name="mimic")(x)
    identity = keras.layers.Dense(identity_dim, activation=identity_activation, kernel_initializer=init(),
                                  dtype="float32", name="identity")(mimic)
    logits = keras.layers.Dense(num_classes, kernel_initializer=init(), dtype="float32", name="logits")(identity)
    return keras.Model(inputs, {"mimic": mimic, "identity": identity, "logits": logits}, name=name)


def count_parameters(model: keras.Model, exclude_softmax: bool = True, trainable_only: bool = True) -> int:
    """Number of parameters of `model`; `exclude_softmax` drops the `logits` (softmax) layer as the paper does.

    `trainable_only=True` counts learned weights (BatchNorm moving statistics are not parameters); pass False to
    count every weight variable.
    """
    weights = model.trainable_weights if trainable_only else model.weights
    total = sum(int(np.prod(w.shape)) for w in weights)
    if exclude_softmax:
        layer = model.get_layer("logits")
        head = layer.trainable_weights if trainable_only else layer.weights
        total -= sum(int(np.prod(w.shape)) for w in head)
    return total
