"""TFLite: conversion of the SavedModel's `serving_default` signature, the metadata entry, and the runtime.

Four kinds, all with the SavedModel's `serving_default` signature (uint8 `images` input, float32 `embedding` /
`mimic` outputs, so every artifact returns float embeddings, never quantised values):

* `float32`: plain conversion;
* `float16`: weights stored as float16 (dequantised at load time);
* `dynamic_int8`: int8 weights, activations quantised on the fly (no calibration data);
* `int8`: full integer quantisation (int8 weights and activations, calibrated on representative images, which should
  be training faces at p px; `skd_tf.data.calibration`). The uint8 input is cast in-graph; the outputs are dequantised
  to float32.

The export's JSON sidecar is embedded in each .tflite file as a flatbuffer metadata entry named `skd_tf.sidecar`
(`embed_tflite_metadata` / `read_tflite_metadata`, with TensorFlow's own `flatbuffer_utils`); the TFLite-Support
metadata schema needs the unmaintained `tflite-support` package, which does not install beside TF 2.21.

Models run through ai-edge-litert's signature runner (`tflite_signature_runner`, `run_tflite`), outputs looked up by
name; `tflite_throughput` measures faces per second.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from tensorflow.lite.python import schema_py_generated as schema_fb
from tensorflow.lite.tools import flatbuffer_utils

from skd_tf.serving.signatures import INPUT_NAME, SIGNATURE, as_uint8_images

TFLITE_KINDS = ("float32", "float16", "dynamic_int8", "int8")
TFLITE_METADATA_NAME = "skd_tf.sidecar"


def convert_tflite(saved_model_dir: str | os.PathLike, kind: str,
                   representative_images: np.ndarray | None = None) -> bytes:
    """Converts the `serving_default` signature of an exported SavedModel to TFLite of `kind` (see module doc)."""
    if kind not in TFLITE_KINDS:
        raise ValueError(f"kind: expected one of {TFLITE_KINDS}, got {kind!r}")
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[SIGNATURE])
    if kind != "float32":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if kind == "int8":
        if representative_images is None or len(representative_images) == 0:
            raise ValueError("representative_images: full int8 quantisation needs training faces, got none")
        reps = np.asarray(representative_images)

        def dataset():
            for i in range(len(reps)):
                yield {INPUT_NAME: reps[i:i + 1]}

        conv.representative_dataset = dataset
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # Outputs stay float32 (dequantised): callers compare embeddings, never quantised values.
        conv.inference_output_type = tf.float32
    return conv.convert()


def embed_tflite_metadata(model_bytes: bytes, name: str, data: bytes) -> bytes:
    """Returns `model_bytes` with a flatbuffer metadata entry `name` holding `data` (replacing one of that name).

    Uses TensorFlow's own `tensorflow.lite.tools.flatbuffer_utils` (ships with TF 2.21); the entry is ignored by
    interpreters and read back with `read_tflite_metadata`.
    """
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
    buf = schema_fb.BufferT()
    buf.data = np.frombuffer(data, dtype=np.uint8).copy()
    model.buffers.append(buf)
    entry = schema_fb.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if _md_name(m) != name] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _md_name(m) -> str:
    n = m.name
    return n.decode("utf-8") if isinstance(n, bytes) else str(n)


def read_tflite_metadata(path: str | os.PathLike, name: str = TFLITE_METADATA_NAME) -> dict | None:
    """Reads the JSON metadata entry `name` that `export_student` embedded in a .tflite file (None if absent)."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(Path(path).read_bytes()))
    for m in model.metadata or []:
        if _md_name(m) == name:
            return json.loads(bytes(model.buffers[m.buffer].data).decode("utf-8"))
    return None


def _interpreter(path: str | os.PathLike, num_threads: int | None) -> Interpreter:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TFLite model {path} does not exist")
    return Interpreter(model_path=str(path), num_threads=num_threads)


def tflite_signature_runner(path: str | os.PathLike, *, num_threads: int | None = None,
                            signature: str = SIGNATURE):
    """An ai-edge-litert signature runner for `signature` of the .tflite at `path` (call it with `images=`)."""
    interp = _interpreter(path, num_threads)
    sigs = interp.get_signature_list()
    if signature not in sigs:
        raise ValueError(f"{path}: no signature '{signature}' (has {sorted(sigs)})")
    runner = interp.get_signature_runner(signature)
    runner._skd_interpreter = interp  # keeps the interpreter alive with the runner
    return runner


def run_tflite(path: str | os.PathLike, images_uint8: np.ndarray, *, num_threads: int | None = None,
               signature: str = SIGNATURE) -> dict[str, np.ndarray]:
    """Runs an exported .tflite on uint8 RGB faces `[B, p, p, 3]`; returns `{output name: array}` by signature."""
    runner = tflite_signature_runner(path, num_threads=num_threads, signature=signature)
    details = runner.get_input_details()
    if INPUT_NAME not in details:
        raise ValueError(f"{path}: signature '{signature}' has inputs {sorted(details)}, expected '{INPUT_NAME}'")
    shape = tuple(int(s) for s in details[INPUT_NAME]["shape_signature"][1:])
    images = as_uint8_images(images_uint8, shape[0], what=f"images for {Path(path).name}")
    out = runner(**{INPUT_NAME: images})
    return {k: np.asarray(v) for k, v in out.items()}


def tflite_throughput(path: str | os.PathLike, resolution: int, batch: int, threads: int,
                      seconds: float = 2.0, *, min_iters: int = 3, warmup: int = 2, seed: int = 0) -> float:
    """Faces per second of a .tflite model at `batch` with `threads` CPU threads (random uint8 faces).

    Runs `warmup` untimed calls, then calls until `seconds` have passed and at least `min_iters` calls were made;
    returns batch * calls / elapsed (wall clock, `time.perf_counter`).
    """
    if batch < 1 or threads < 1 or resolution < 1:
        raise ValueError(f"tflite_throughput: batch, threads and resolution must be >= 1, got {batch}, {threads}, "
                         f"{resolution}")
    runner = tflite_signature_runner(path, num_threads=threads)
    x = np.random.default_rng(seed).integers(0, 256, (batch, resolution, resolution, 3), dtype=np.uint8)
    for _ in range(warmup):
        runner(**{INPUT_NAME: x})
    n, t0 = 0, time.perf_counter()
    while True:
        runner(**{INPUT_NAME: x})
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds and n >= min_iters:
            return batch * n / elapsed
