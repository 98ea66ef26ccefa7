"""Reader of dlib's serialised DNN files (the face-recognition ResNet ``dlib_face_recognition_resnet_model_v1.dat``).

The format (see ``../shared/docs/dlib_resnet_format.md``): dlib's variable-length integers, mantissa/exponent floats,
length-prefixed strings and float32 tensors; the network is nested from the loss layer inwards, so the file holds the
layer-kind version integers outermost first, then the input layer, then each layer's details in forward order.

`parse_dlib_dnn(path)` reads the whole file, checks that every byte is accounted for and returns a `DlibNetwork`:
the input layer (channel means, size) and the computational layers in forward order with their parameters as numpy
arrays. It knows the layer kinds this network uses (con_4, affine_, relu_, max_pool_2, avg_pool_2, add_prev_, fc_2);
anything else raises ``ValueError`` naming the file, the byte offset and what was found.
"""
from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DlibLayer", "DlibNetwork", "parse_dlib_dnn", "load_dlib_dnn", "find_model_file", "RESNET_FILE"]

RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
_PACKAGE = "face_recognition_models"
_PIP_HINT = "pip install face-recognition-models==0.3.0"


@dataclass
class DlibLayer:
    """One computational layer: its dlib kind (``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``,
    ``add_prev``, ``fc``), its serialised tag (e.g. ``con_4``), integer hyper-parameters and parameter arrays."""

    kind: str
    tag: str
    config: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)

    def num_params(self) -> int:
        return int(sum(a.size for a in self.params.values()))


@dataclass
class DlibNetwork:
    """A parsed dlib DNN: loss details, input layer and layers in forward order (the input layer excluded)."""

    path: str
    loss: dict[str, Any]
    input: dict[str, Any]
    layers: list[DlibLayer]
    num_tag_layers: int
    bytes_read: int
    file_size: int

    def num_params(self) -> int:
        return int(sum(layer.num_params() for layer in self.layers))

    def kinds(self) -> list[str]:
        return [layer.kind for layer in self.layers]


class _Reader:
    def __init__(self, data: bytes, path: str):
        self.data = data
        self.pos = 0
        self.path = path

    def fail(self, what: str, at: int | None = None) -> ValueError:
        at = self.pos if at is None else at
        return ValueError(f"{self.path}: at byte {at} of {len(self.data)}: {what}")

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("unexpected end of file")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def integer(self) -> int:
        start = self.pos
        ctrl = self.byte()
        n = ctrl & 0x0F
        if n < 1 or n > 8 or (ctrl & 0x70):
            raise self.fail(f"bad integer control byte 0x{ctrl:02x}", start)
        if self.pos + n > len(self.data):
            raise self.fail("unexpected end of file inside an integer", start)
        value = int.from_bytes(self.data[self.pos:self.pos + n], "little")
        self.pos += n
        return -value if ctrl & 0x80 else value

    def expect_int(self, expected: int, what: str) -> int:
        start = self.pos
        value = self.integer()
        if value != expected:
            raise self.fail(f"{what}: expected {expected}, found {value}", start)
        return value

    def boolean(self) -> bool:
        start = self.pos
        b = self.byte()
        if b not in (ord("0"), ord("1")):
            raise self.fail(f"bad bool byte 0x{b:02x} (expected '0' or '1')", start)
        return b == ord("1")

    def string(self) -> str:
        start = self.pos
        n = self.integer()
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"bad string length {n}", start)
        s = self.data[self.pos:self.pos + n]
        self.pos += n
        try:
            return s.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"non-ASCII string {s[:40]!r}", start) from None

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        if exponent == 32000:
            return float("inf")
        if exponent == 32001:
            return float("-inf")
        if exponent == 32002:
            return float("nan")
        return float(np.ldexp(np.float64(mantissa), exponent))

    def tensor(self) -> np.ndarray:
        start = self.pos
        self.expect_int(2, "tensor version")
        dims = [self.integer() for _ in range(4)]
        if any(d < 0 for d in dims):
            raise self.fail(f"negative tensor dimension {dims}", start)
        count = int(np.prod(dims, dtype=np.int64))
        nbytes = 4 * count
        if self.pos + nbytes > len(self.data):
            raise self.fail(f"tensor {dims} runs past the end of the file", start)
        arr = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos).reshape(dims).astype(np.float32)
        self.pos += nbytes
        return arr

    def alias_tensor(self) -> tuple[int, int, int, int]:
        self.expect_int(1, "alias_tensor version")
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]


def _read_details(r: _Reader) -> DlibLayer:
    start = r.pos
    tag = r.string()
    if tag == "con_4":
        params = r.tensor()
        cfg = {k: r.integer() for k in ("num_filters", "nr", "nc", "stride_y", "stride_x", "pad_y", "pad_x")}
        f_shape = r.alias_tensor()
        b_shape = r.alias_tensor()
        cfg["multipliers"] = [r.real() for _ in range(4)]
        f, c, kh, kw = f_shape
        if f != cfg["num_filters"] or (kh, kw) != (cfg["nr"], cfg["nc"]) or b_shape != (1, f, 1, 1):
            raise r.fail(f"con_4: inconsistent shapes filters {f_shape}, biases {b_shape}, config {cfg}", start)
        n_w = f * c * kh * kw
        flat = params.reshape(-1)
        if flat.size != n_w + f:
            raise r.fail(f"con_4: params hold {flat.size} floats, expected {n_w + f} for filters {f_shape}", start)
        return DlibLayer("con", tag, cfg, {"filters": flat[:n_w].reshape(f, c, kh, kw), "biases": flat[n_w:].copy()})
    if tag == "affine_":
        params = r.tensor()
        g_shape = r.alias_tensor()
        b_shape = r.alias_tensor()
        mode = r.integer()
        flat = params.reshape(-1)
        k = flat.size // 2
        if mode != 0 or flat.size != 2 * k or g_shape[1] != k or b_shape[1] != k:
            raise r.fail(f"affine_: unsupported mode {mode} or shapes {g_shape}/{b_shape} for {flat.size} params",
                         start)
        return DlibLayer("affine", tag, {"mode": mode}, {"gamma": flat[:k].copy(), "beta": flat[k:].copy()})
    if tag == "relu_":
        return DlibLayer("relu", tag)
    if tag in ("max_pool_2", "avg_pool_2"):
        cfg = {k: r.integer() for k in ("nr", "nc", "stride_y", "stride_x", "pad_y", "pad_x")}
        return DlibLayer(tag[:-2], tag, cfg)
    if tag == "add_prev_":
        return DlibLayer("add_prev", tag)
    if tag == "fc_2":
        num_outputs = r.integer()
        num_inputs = r.integer()
        params = r.tensor()
        w_shape = r.alias_tensor()
        b_shape = r.alias_tensor()
        bias_mode = r.integer()
        multipliers = [r.real() for _ in range(4)]
        cfg = {"num_outputs": num_outputs, "num_inputs": num_inputs, "bias_mode": bias_mode, "multipliers": multipliers}
        n_w = num_inputs * num_outputs
        flat = params.reshape(-1)
        n_b = 0 if bias_mode == 1 else num_outputs
        if flat.size != n_w + n_b or w_shape[:2] != (num_inputs, num_outputs):
            raise r.fail(f"fc_2: params hold {flat.size} floats; weights {w_shape}, bias mode {bias_mode}", start)
        out = {"weights": flat[:n_w].reshape(num_inputs, num_outputs)}
        if n_b:
            out["biases"] = flat[n_w:].copy()
        return DlibLayer("fc", tag, cfg, out)
    raise r.fail(f"unsupported layer details {tag!r}", start)


def _read_layer_tail(r: _Reader) -> None:
    for _ in range(3):
        r.boolean()
    for _ in range(3):  # x_grad, cached_output, params_grad (empty in a released model)
        r.tensor()


def parse_dlib_dnn(path: str | os.PathLike) -> DlibNetwork:
    """Parses a whole dlib DNN file; raises ``ValueError`` unless every byte is accounted for."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dlib model file not found: {path}")
    data = path.read_bytes()
    r = _Reader(data, str(path))
    r.expect_int(1, "loss layer version")
    loss_tag = r.string()
    if loss_tag != "loss_metric_2":
        raise r.fail(f"unsupported loss layer {loss_tag!r} (expected 'loss_metric_2')")
    loss = {"tag": loss_tag, "margin": r.real(), "distance_threshold": r.real()}
    # Version integers from the outermost layer inwards: 2 = ordinary layer, 1 = tag/skip layer, 3 = innermost.
    n_ordinary = 0
    n_tags = 0
    while True:
        start = r.pos
        v = r.integer()
        if v == 2:
            n_ordinary += 1
        elif v == 1:
            n_tags += 1
        elif v == 3:
            break
        else:
            raise r.fail(f"unexpected layer version {v} (expected 1, 2 or 3)", start)
    input_tag = r.string()
    if input_tag != "input_rgb_image_sized":
        raise r.fail(f"unsupported input layer {input_tag!r} (expected 'input_rgb_image_sized')")
    means = [r.real() for _ in range(3)]
    nr, nc = r.integer(), r.integer()
    net_input = {"tag": input_tag, "mean_rgb": means, "nr": nr, "nc": nc}
    layers = [_read_details(r)]
    _read_layer_tail(r)
    net_input["sample_expansion_factor"] = r.expect_int(1, "sample_expansion_factor")
    for _ in range(n_ordinary):
        layers.append(_read_details(r))
        _read_layer_tail(r)
    if r.pos != len(data):
        raise r.fail(f"{len(data) - r.pos} trailing bytes after the network")
    return DlibNetwork(str(path), loss, net_input, layers, n_tags, r.pos, len(data))


def find_model_file(filename: str = RESNET_FILE) -> Path:
    """The path of `filename` in the installed ``face-recognition-models`` package (found without importing it)."""
    try:
        found = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        found = None
    locations = list(found.submodule_search_locations or []) if found is not None else []
    for loc in locations:
        candidate = Path(loc) / "models" / filename
        if candidate.is_file():
            return candidate
    if not locations:
        raise FileNotFoundError(
            f"the dlib model file {filename} comes from the Python package 'face-recognition-models', which is not "
            f"installed; run: {_PIP_HINT}")
    raise FileNotFoundError(
        f"{filename} not found under {[str(Path(p) / 'models') for p in locations]}; reinstall with: {_PIP_HINT}")


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int, size: int) -> DlibNetwork:
    return parse_dlib_dnn(path)


def load_dlib_dnn(path: str | os.PathLike | None = None) -> DlibNetwork:
    """Parses `path` (default: the ResNet in the installed package) once per process; later calls reuse it.

    The returned object is shared: treat its arrays as read-only.
    """
    p = Path(path) if path is not None else find_model_file()
    if not p.is_file():
        raise FileNotFoundError(f"dlib model file not found: {p}")
    st = p.stat()
    return _load_cached(str(p.resolve()), st.st_mtime_ns, st.st_size)
