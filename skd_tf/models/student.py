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

from collections.abc import Mapping
from dataclasses import dataclass

import keras
import numpy as np

OUTPUT_NAMES = ("mimic", "identity", "logits")

# Kernel size per convolution, with "pool" markers between stages (the layout of Fig. 3).
_LAYOUT = (3, 3, "pool", 3, 1, 3, "pool", 3, 1, 3, "pool", 3, 1)
#: The paper's widths of the ten convolutions, in order (module docstring); the last is the pooled width K.
PAPER_WIDTHS = (16, 16, 32, 16, 32, 64, 32, 64, 128, 32)
HEADS = ("linear", "bn_relu")


@dataclass(frozen=True)
class StudentArch:
    """The student's widths and head: a named point in the design space of Fig. 3.

    `widths` are the output channels of the ten convolutions in order (the last one is the pooled width K fed to
    the mimic layer). `head` is what lies between the mimic and identity layers: "linear" (the paper's Fig. 3) or
    "bn_relu" (BatchNorm and ReLU on the mimic feature before the identity layer; the mimic output itself stays
    linear, it is the regression of Eq. 5).

    Rank argument: the mimic layer is affine in the K-D pooled feature, so its outputs span at most a K-dimensional
    affine subspace of R^D. With K = 32 < D = 128 (dlib) the student cannot reproduce more than 32 directions of the
    teacher's feature whatever it learns, which is why a budget-matched student at D = 128 pools to K >= D.
    """

    widths: tuple = PAPER_WIDTHS
    head: str = "linear"

    def __post_init__(self):
        widths = tuple(self.widths)
        if len(widths) != len(PAPER_WIDTHS) or not all(isinstance(w, (int, np.integer)) and w >= 1 for w in widths):
            raise ValueError(f"StudentArch.widths: expected {len(PAPER_WIDTHS)} positive ints (one per convolution), "
                             f"got {self.widths!r}")
        if self.head not in HEADS:
            raise ValueError(f"StudentArch.head: expected one of {HEADS}, got {self.head!r}")
        object.__setattr__(self, "widths", tuple(int(w) for w in widths))

    def scaled(self, multiplier: float, pooled_width: int | None = None) -> "StudentArch":
        """Every width times `multiplier` (rounded to a multiple of 8), the pooled width `pooled_width` if given."""
        if not multiplier > 0:
            raise ValueError(f"StudentArch.scaled: multiplier must be > 0, got {multiplier!r}")
        widths = [max(8, int(round(w * multiplier / 8.0)) * 8) for w in self.widths]
        if pooled_width is not None:
            widths[-1] = int(pooled_width)
        return StudentArch(tuple(widths), self.head)


#: Named architectures. "paper": Fig. 3 as built (789,648 parameters at D = 4,096). "budget_d128": the paper's
#: 0.79M budget (excluding the softmax) spent at dlib's D = 128, where the paper's widths use only 150,800: every
#: width x 2.4 (multiples of 8) and the pooled width K = 128 = D (rank argument above); 797,320 parameters.
#: "paper_bn_relu": the paper's widths with the BN + ReLU head (the head factor of issue 14's recipe study).
#: "budget_d128_bn_relu": both (797,576 parameters at D = 128).
ARCHS = {
    "paper": StudentArch(),
    "budget_d128": StudentArch().scaled(2.4, pooled_width=128),
    "paper_bn_relu": StudentArch(head="bn_relu"),
    "budget_d128_bn_relu": StudentArch(head="bn_relu").scaled(2.4, pooled_width=128),
}


def resolve_arch(arch: "StudentArch | str | Mapping") -> StudentArch:
    """A `StudentArch` from itself, a name in `ARCHS`, or its dict form (as written in a run's config.json)."""
    if isinstance(arch, StudentArch):
        return arch
    if isinstance(arch, str):
        if arch not in ARCHS:
            raise ValueError(f"student arch: unknown name {arch!r}; expected one of {sorted(ARCHS)}")
        return ARCHS[arch]
    if isinstance(arch, Mapping):
        unknown = set(arch) - {"widths", "head"}
        if unknown:
            raise ValueError(f"student arch: unknown fields {sorted(unknown)}; expected widths and head")
        return StudentArch(**arch)
    raise ValueError(f"student arch: expected a name, a StudentArch or a dict, got {arch!r}")


MIN_RESOLUTION = 16


def build_student(resolution: int, feature_dim: int = 4096, num_classes: int = 10, identity_dim: int = 128,
                  name: str = "student", identity_activation: str | None = None,
                  seed: int | None = None, synchronized_bn: bool = False,
                  arch: StudentArch | str | Mapping = "paper") -> keras.Model:
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
      arch: widths and head (`StudentArch`, a name in `ARCHS` or its dict form); "paper" is Fig. 3.

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
    arch = resolve_arch(arch)
    widths = iter(arch.widths)
    conv_i, pool_i = 0, 0
    for kernel in _LAYOUT:
        if kernel == "pool":
            pool_i += 1
            x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool{pool_i}")(x)
            continue
        conv_i += 1
        x = keras.layers.Conv2D(next(widths), kernel, padding="same", use_bias=False, kernel_initializer=init(),
                                name=f"conv{conv_i}")(x)
        x = keras.layers.BatchNormalization(synchronized=synchronized_bn, name=f"bn{conv_i}")(x)
        x = keras.layers.ReLU(name=f"relu{conv_i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    mimic = keras.layers.Dense(feature_dim, kernel_initializer=init(), dtype="float32", name="mimic")(x)
    head = mimic
    if arch.head == "bn_relu":
        head = keras.layers.BatchNormalization(synchronized=synchronized_bn, dtype="float32", name="head_bn")(head)
        head = keras.layers.ReLU(dtype="float32", name="head_relu")(head)
    identity = keras.layers.Dense(identity_dim, activation=identity_activation, kernel_initializer=init(),
                                  dtype="float32", name="identity")(head)
    logits = keras.layers.Dense(num_classes, kernel_initializer=init(), dtype="float32", name="logits")(identity)
    return keras.Model(inputs, {"mimic": mimic, "identity": identity, "logits": logits}, name=name)


def arch_of(model: keras.Model) -> StudentArch:
    """The `StudentArch` a built student has (its convolution widths and head), e.g. to transfer it (Sec. IV-D)."""
    widths = tuple(model.get_layer(f"conv{i}").filters for i in range(1, len(PAPER_WIDTHS) + 1))
    head = "bn_relu" if any(layer.name == "head_bn" for layer in model.layers) else "linear"
    return StudentArch(widths, head)


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
