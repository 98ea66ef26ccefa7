"""Model complexity of a Keras model: parameters, multiply-accumulates and activation memory (Section IV-F, Fig. 8).

Counted analytically from each layer's config and its input/output shapes in the functional graph (batch 1):

* **MACs** (multiply-accumulates) of Conv2D / DepthwiseConv2D / SeparableConv2D / Conv2DTranspose / Conv1D and
  Dense layers (also `EinsumDense` is not handled and shows up in `uncounted`). Bias additions are not MACs.
  `flops = 2 * macs` is the usual "FLOPs" convention (one multiply and one add per MAC); this module reports both.
* **other_ops**: the remaining arithmetic, one op per element touched: pooling (kernel window per output; global
  pooling one per input element), BatchNormalization (2 per element: scale and shift, foldable at inference),
  element-wise activations / Rescaling / Add / Multiply (1 per output element). Not included in `flops`.
* **activation memory**: the sum of the sizes of all tensors the network produces at batch 1, in float32 bytes,
  which is what Fig. 8 plots. Two conventions:
    - `activation_bytes`: the input plus every layer's output (each Keras layer materialises a tensor);
    - `activation_bytes_inplace`: the input plus the outputs of layers that cannot run in place, i.e. without the
      outputs of same-shape element-wise layers (activations, BatchNormalization, Dropout, Rescaling), which a
      runtime can compute in place (Caffe does; the paper's own implementation is TensorFlow [63], Section IV-A,
      whose runtime may also reuse those buffers). This makes a net with fused `Conv2D(activation="relu")`
      and one with separate BN/ReLU layers comparable.
  Neither is peak live memory (a runtime frees or reuses buffers); both are the totals the paper compares.

Nested functional / Sequential models are expanded; a layer whose cost cannot be derived (a subclassed layer with
weights) is listed in `uncounted` with its parameter count, so a caller can see what is missing.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Sequence

import numpy as np

BYTES_PER_FLOAT = 4

# Same-shape, element-wise layers a runtime may run in place (e.g. Caffe for ReLU, BatchNorm/Scale, Dropout).
_INPLACE = {"ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Activation", "BatchNormalization", "Dropout",
            "Rescaling", "GaussianNoise", "GaussianDropout", "SpatialDropout2D", "LayerNormalization",
            "Normalization", "ChannelAffine", "DlibInputNormalization"}
_ELEMENTWISE_1 = {"ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Activation", "Rescaling", "Add", "Subtract",
                  "Multiply", "Average", "Maximum", "Minimum"}
# Per-channel scale-and-shift layers (2 ops per element, in place); dlib's "affine" layer is one.
_AFFINE = {"BatchNormalization", "ChannelAffine"}
# Parameter-free element-wise preprocessing layers of this project's models.
_ELEMENTWISE_1_EXTRA = {"DlibInputNormalization"}
_NO_COST = {"ChannelZeroPad", "InputLayer", "Flatten", "Reshape", "Dropout", "Concatenate", "ZeroPadding2D", "Permute",
            "Cropping2D", "Identity", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "Lambda",
            "UnitNormalization"}


@dataclasses.dataclass(frozen=True)
class LayerCost:
    """One call of one layer: its output shape (batch 1), parameters, MACs, other ops and output size."""
    name: str
    class_name: str
    output_shape: tuple
    params: int
    macs: int
    other_ops: int
    output_floats: int
    inplace: bool


@dataclasses.dataclass(frozen=True)
class ModelComplexity:
    """Totals for a model at batch 1 (see the module docstring for what each counts)."""
    name: str
    params: int                    # every weight variable (incl. BatchNorm moving statistics)
    trainable_params: int
    excluded_params: int           # parameters of `exclude_layers` (e.g. the softmax / logits layer)
    macs: int
    other_ops: int
    input_floats: int
    activation_floats: int         # input + every layer output
    activation_floats_inplace: int  # input + outputs of layers that cannot run in place
    layers: tuple[LayerCost, ...]
    uncounted: tuple[str, ...]

    @property
    def flops(self) -> int:
        """2 x MACs."""
        return 2 * self.macs

    @property
    def params_without_excluded(self) -> int:
        return self.params - self.excluded_params

    @property
    def trainable_params_without_excluded(self) -> int:
        return self.trainable_params - self.excluded_trainable_params

    excluded_trainable_params: int = 0

    @property
    def activation_bytes(self) -> int:
        return self.activation_floats * BYTES_PER_FLOAT

    @property
    def activation_bytes_inplace(self) -> int:
        return self.activation_floats_inplace * BYTES_PER_FLOAT

    def summary(self) -> dict:
        """Plain-dict totals (JSON-ready), without the per-layer list."""
        return {
            "name": self.name, "params": self.params, "trainable_params": self.trainable_params,
            "params_without_excluded": self.params_without_excluded,
            "trainable_params_without_excluded": self.trainable_params_without_excluded,
            "macs": self.macs, "flops": self.flops, "other_ops": self.other_ops,
            "input_floats": self.input_floats,
            "activation_bytes": self.activation_bytes, "activation_bytes_inplace": self.activation_bytes_inplace,
            "uncounted": list(self.uncounted),
        }


def _prod(shape: Iterable) -> int:
    return int(np.prod([int(s) for s in shape])) if shape is not None else 0


def _shape1(shape) -> tuple:
    """A symbolic shape with the batch dimension set to 1."""
    shape = tuple(shape)
    return (1,) + tuple(None if s is None else int(s) for s in shape[1:]) if shape else ()


def _n_params(layer, trainable_only: bool = False) -> int:
    ws = layer.trainable_weights if trainable_only else layer.weights
    return sum(_prod(w.shape) for w in ws)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(a) for a in v)


def _layer_ops(layer, in_shapes: Sequence[tuple], out_shape: tuple) -> tuple[int, int, bool]:
    """(MACs, other ops, known) of one call of `layer` at batch 1."""
    cls = type(layer).__name__
    cfg = layer.get_config()
    out_n = _prod(out_shape)
    in_shape = in_shapes[0] if in_shapes else ()
    in_n = _prod(in_shape)
    if cls in ("Conv2D", "Conv1D", "Conv3D"):
        # out elements x (kernel volume x in_channels / groups)
        k = int(np.prod(cfg["kernel_size"]))
        in_c = int(in_shape[-1]) if cfg.get("data_format", "channels_last") == "channels_last" else int(in_shape[1])
        return out_n * k * in_c // int(cfg.get("groups", 1)), 0, True
    if cls == "DepthwiseConv2D":
        return out_n * int(np.prod(cfg["kernel_size"])), 0, True
    if cls == "SeparableConv2D":
        k = int(np.prod(cfg["kernel_size"]))
        in_c = int(in_shape[-1])
        spatial = out_n // int(out_shape[-1])
        mult = int(cfg.get("depth_multiplier", 1))
        return spatial * in_c * mult * k + spatial * in_c * mult * int(out_shape[-1]), 0, True
    if cls in ("Conv2DTranspose", "Conv1DTranspose"):
        k = int(np.prod(cfg["kernel_size"]))
        return in_n * k * int(out_shape[-1]), 0, True
    if cls == "Dense":
        return out_n * int(in_shape[-1]), 0, True
    if cls in ("MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D"):
        return 0, out_n * int(np.prod(_pair(cfg["pool_size"]) if "2D" in cls else cfg["pool_size"])), True
    if cls.startswith("Global") and "Pooling" in cls:
        return 0, in_n, True
    if cls in _AFFINE:
        return 0, 2 * out_n, True
    if cls in _ELEMENTWISE_1_EXTRA:
        return 0, 2 * out_n, True
    if cls in _ELEMENTWISE_1:
        return 0, out_n * max(1, len(in_shapes) - 1 if cls in ("Add", "Subtract", "Multiply", "Average",
                                                                 "Maximum", "Minimum") else 1), True
    if cls in _NO_COST:
        return 0, 0, True
    return 0, 0, _n_params(layer) == 0


def analyze(model, *, exclude_layers: Sequence[str] = ()) -> ModelComplexity:
    """Parameters, MACs and activation memory (batch 1, float32) of a functional or Sequential Keras model.

    `exclude_layers`: layer names whose parameters are reported separately (`excluded_params`), e.g. ("logits",)
    for the student's softmax layer; their MACs and activations still count (they run at inference only when the
    softmax is used; see `analyze(...).layers` to drop them).
    """
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"analyze: expected a keras.Model, got {type(model).__name__}")
    graph = _graph_model(model)
    if graph is None:
        raise ValueError(f"analyze: model '{model.name}' is subclassed; expected a functional or Sequential model")
    if not model.inputs:
        raise ValueError(f"analyze: model '{model.name}' has no symbolic inputs (build it as a functional model)")
    layers: list[LayerCost] = []
    uncounted: list[str] = []
    excluded = {"all": 0, "trainable": 0}
    missing = set(exclude_layers)
    input_floats = sum(_prod(_shape1(t.shape)) for t in model.inputs)
    _walk(graph, layers, uncounted, set(exclude_layers), missing, excluded, prefix="")
    if missing:
        raise ValueError(f"analyze: exclude_layers {sorted(missing)} not found in model '{model.name}'")
    act = input_floats + sum(c.output_floats for c in layers)
    act_inplace = input_floats + sum(c.output_floats for c in layers if not c.inplace)
    return ModelComplexity(
        name=model.name, params=model.count_params() if model.built else 0,
        trainable_params=sum(_prod(w.shape) for w in model.trainable_weights),
        excluded_params=excluded["all"], excluded_trainable_params=excluded["trainable"],
        macs=sum(c.macs for c in layers), other_ops=sum(c.other_ops for c in layers),
        input_floats=input_floats, activation_floats=act, activation_floats_inplace=act_inplace,
        layers=tuple(layers), uncounted=tuple(uncounted))


def _walk(model, layers, uncounted, exclude, missing, excluded, prefix: str) -> None:
    import keras

    for op in model.operations:
        cls = type(op).__name__
        if cls == "InputLayer":
            continue
        name = prefix + op.name
        if op.name in exclude:
            missing.discard(op.name)
            excluded["all"] += _n_params(op)
            excluded["trainable"] += _n_params(op, trainable_only=True)
        graph = _graph_model(op) if isinstance(op, keras.Model) else None
        if graph is not None:
            _walk(graph, layers, uncounted, exclude, missing, excluded, prefix=name + "/")
            continue
        nodes = [n for n in getattr(op, "_inbound_nodes", []) if _node_in_model(n, model)] or \
            list(getattr(op, "_inbound_nodes", []))[:1]
        for node in nodes:
            in_shapes = [_shape1(t.shape) for t in node.input_tensors]
            outs = node.outputs
            out_shapes = [_shape1(t.shape) for t in outs]
            out_n = sum(_prod(s) for s in out_shapes)
            macs, other, known = _layer_ops(op, in_shapes, out_shapes[0] if out_shapes else ())
            if not known:
                uncounted.append(f"{name} ({cls}, {_n_params(op)} params)")
            same_shape = bool(in_shapes) and len(in_shapes) == 1 and in_shapes[0] == out_shapes[0]
            layers.append(LayerCost(name=name, class_name=cls, output_shape=out_shapes[0] if out_shapes else (),
                                    params=_n_params(op) if node is nodes[0] else 0, macs=macs, other_ops=other,
                                    output_floats=out_n, inplace=cls in _INPLACE and same_shape))


def _graph_model(model):
    """The functional graph of a nested model (Sequential keeps one in `_functional`), or None (subclassed)."""
    if hasattr(model, "operations") and getattr(model, "_nodes_by_depth", None):
        return model
    inner = getattr(model, "_functional", None)
    if inner is not None and hasattr(inner, "operations"):
        return inner
    return None


def _node_in_model(node, model) -> bool:
    """Whether a layer call belongs to `model`'s graph (a shared layer may also be called in another model)."""
    nodes_by_depth = getattr(model, "_nodes_by_depth", None)
    if not nodes_by_depth:  # private Keras internals changed: accept every node
        return True
    return any(node is n for ns in nodes_by_depth.values() for n in ns)


def megabytes(n_bytes: int) -> float:
    """Bytes -> MB (10^6 bytes, as the paper's "0.15MB")."""
    return n_bytes / 1e6


def ratio(a: float, b: float) -> float:
    return a / b if b else math.inf
