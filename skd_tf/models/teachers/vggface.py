"""VGGFace (VGG16 of Parkhi et al., BMVC 2015), the paper's teacher T-224 (Ge et al., TIP 2019, section IV-A).

Architecture: 13 conv 3x3 layers (64, 64 | 128, 128 | 256 x3 | 512 x3 | 512 x3, ReLU, 'same' padding) with 2x2 max
pools, then fc6 4096 -> ReLU -> fc7 4096 -> ReLU -> fc8 2622 (the VGGFace identities) -> softmax; input 224x224,
RGB converted to BGR with the VGGFace mean (B 93.5940, G 104.7624, R 129.1863) subtracted. The teacher feature is fc7
after ReLU (D = 4096), as in the paper.

Weights come from a user-supplied ``.h5`` in the layout keras-vggface's VGG16 uses (Keras HDF5 weights: one group per
layer named ``conv1_1`` ... ``conv5_3``, ``fc6``, ``fc7``, ``fc8``, each with a kernel and a bias; a full-model file
with a ``model_weights`` group is accepted too). Layers are matched by name; a missing or mis-shaped layer raises a
``ValueError`` naming the file and the layer. Nothing is downloaded: without `weights` the network is randomly
initialised (useful for efficiency benchmarks).
"""
from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from skd_tf.models.teachers import TeacherSpec

__all__ = ["NAME", "INPUT_SIZE", "FEATURE_DIM", "NUM_CLASSES", "BGR_MEAN", "CONV_LAYERS", "spec", "build",
           "build_full", "load_vggface_h5", "VGGFacePreprocess"]

NAME = "vggface16"
INPUT_SIZE = 224
FEATURE_DIM = 4096
NUM_CLASSES = 2622
#: VGGFace's mean pixel in BGR order (keras-vggface ``preprocess_input`` version 1).
BGR_MEAN = (93.5940, 104.7624, 129.1863)
#: (name, filters) of the 13 conv layers, pool after conv1_2, conv2_2, conv3_3, conv4_3, conv5_3.
CONV_LAYERS = (
    ("conv1_1", 64), ("conv1_2", 64),
    ("conv2_1", 128), ("conv2_2", 128),
    ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256),
    ("conv4_1", 512), ("conv4_2", 512), ("conv4_3", 512),
    ("conv5_1", 512), ("conv5_2", 512), ("conv5_3", 512),
)
_POOL_AFTER = {"conv1_2": "pool1", "conv2_2": "pool2", "conv3_3": "pool3", "conv4_3": "pool4", "conv5_3": "pool5"}


def spec(**_: object) -> TeacherSpec:
    """The teacher's spec (feature fc7 after ReLU, 4096-D)."""
    return TeacherSpec(
        name=NAME,
        input_size=INPUT_SIZE,
        feature_dim=FEATURE_DIM,
        feature_layer="fc7_relu",
        color_order="BGR",
        preprocessing="RGB -> BGR, minus the VGGFace mean (B 93.5940, G 104.7624, R 129.1863); 224x224 input",
        align_padding=0.25,
    )


@keras.saving.register_keras_serializable(package="skd_tf")
class VGGFacePreprocess(keras.layers.Layer):
    """RGB 0..255 (uint8 or float) -> BGR minus the VGGFace mean, float32."""

    def __init__(self, bgr_mean=BGR_MEAN, **kwargs):
        super().__init__(**kwargs)
        self.bgr_mean = tuple(float(m) for m in bgr_mean)

    def call(self, x):
        x = keras.ops.cast(x, "float32")
        x = keras.ops.flip(x, axis=-1)
        return x - keras.ops.convert_to_tensor(np.asarray(self.bgr_mean, dtype=np.float32))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "bgr_mean": list(self.bgr_mean)}


def _graph(include_fc8: bool, num_classes: int, name: str) -> keras.Model:
    inputs = keras.Input(shape=(INPUT_SIZE, INPUT_SIZE, 3), dtype="float32", name="face_rgb")
    x = VGGFacePreprocess(name="preprocess")(inputs)
    for layer_name, filters in CONV_LAYERS:
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=layer_name)(x)
        if layer_name in _POOL_AFTER:
            x = keras.layers.MaxPooling2D(2, strides=2, name=_POOL_AFTER[layer_name])(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(4096, name="fc6")(x)
    x = keras.layers.ReLU(name="fc6_relu")(x)
    x = keras.layers.Dense(4096, name="fc7")(x)
    x = keras.layers.ReLU(name="fc7_relu")(x)
    if include_fc8:
        x = keras.layers.Dense(num_classes, name="fc8")(x)
        x = keras.layers.Softmax(name="fc8_softmax")(x)
    return keras.Model(inputs, x, name=name)


def _weight_layers(model: keras.Model) -> list:
    return [layer for layer in model.layers if layer.weights]


def _layer_arrays(group, layer_name: str, path: str) -> list[np.ndarray]:
    """The arrays of one layer group in weight_names order (else kernels before biases)."""
    import h5py

    names = group.attrs.get("weight_names")
    arrays: list[np.ndarray] = []
    if names is not None and len(names):
        for n in names:
            n = n.decode("utf8") if isinstance(n, bytes) else str(n)
            if n not in group:
                raise ValueError(f"{path}: layer {layer_name!r}: weight {n!r} listed in weight_names is missing")
            arrays.append(np.asarray(group[n]))
        return arrays
    found: list[tuple[str, np.ndarray]] = []
    group.visititems(lambda n, obj: found.append((n, obj)) if isinstance(obj, h5py.Dataset) else None)
    found.sort(key=lambda item: (-item[1].ndim, item[0]))
    return [np.asarray(ds) for _, ds in found]


def load_vggface_h5(model: keras.Model, path: str | os.PathLike) -> keras.Model:
    """Loads a keras-vggface-layout ``.h5`` into `model` by layer name (extra layers in the file are ignored)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VGGFace weights file not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: not an HDF5 weights file ({e})") from None
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        names = root.attrs.get("layer_names")
        available = ([n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names]
                     if names is not None else list(root.keys()))
        missing = [layer.name for layer in _weight_layers(model) if layer.name not in available]
        if missing:
            raise ValueError(f"{path}: missing layer(s) {missing} (expected keras-vggface VGG16 layer groups "
                             f"conv1_1 ... conv5_3, fc6, fc7, fc8; the file has {available[:30]})")
        for layer in _weight_layers(model):
            arrays = _layer_arrays(root[layer.name], layer.name, str(path))
            expected = [tuple(w.shape) for w in layer.weights]
            got = [tuple(a.shape) for a in arrays]
            if got != expected:
                raise ValueError(f"{path}: layer {layer.name!r}: weight shapes {got} do not match the VGGFace "
                                 f"VGG16 layer's {expected}")
            layer.set_weights(arrays)
    return model


def build_full(weights: str | os.PathLike | None = None, num_classes: int = NUM_CLASSES,
               name: str = "vggface16_full") -> keras.Model:
    """The whole VGGFace VGG16 (softmax over `num_classes` identities), optionally loaded from `weights`."""
    model = _graph(True, int(num_classes), name)
    if weights is not None:
        load_vggface_h5(model, weights)
    return model


def build(weights: str | os.PathLike | None = None, name: str = NAME, **_: object) -> keras.Model:
    """The VGGFace teacher: RGB 0..255 ``[B, 224, 224, 3]`` in, fc7 after ReLU ``[B, 4096]`` out.

    `weights` is a keras-vggface-layout VGG16 ``.h5`` (layers conv1_1 ... fc7 are read; fc8 is not needed); without
    it the network is randomly initialised.
    """
    model = _graph(False, NUM_CLASSES, name)
    if weights is not None:
        load_vggface_h5(model, weights)
    return model
