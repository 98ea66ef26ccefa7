"""The serving computation and the SavedModel that carries it (the TFLite models are converted from it).

The exported computation takes raw pixels, so a caller needs nothing but TensorFlow: uint8 RGB `[B, p, p, 3]` ->
float 0..255 -> the student's in-graph `x / 127.5 - 1` -> `{"embedding": [B, 128] float32 (L2-normalised identity
layer), "mimic": [B, D] float32 (mimic-layer feature, unnormalised)}` (`serving_outputs`; the `logits` head is not
exported). `write_saved_model` writes it under two signatures:

* `serving_default(images: uint8 [B, p, p, 3] RGB)`;
* `serving_bytes(image_bytes: string [B])`: encoded PNG/JPEG/BMP/GIF face crops, decoded to RGB inside the graph and
  resized with antialiased bilinear interpolation to p x p when they are not p x p already.

`load_saved_model_signature` calls a signature by its input and output names, never by tensor order.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from skd_tf.utils.io import atomic_dir

SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"
INPUT_NAME = "images"
BYTES_INPUT_NAME = "image_bytes"
OUTPUT_NAMES = ("embedding", "mimic")


def as_uint8_images(images: Any, resolution: int, what: str = "images") -> np.ndarray:
    """Validates `images` as RGB `[N, p, p, 3]` (uint8, or float in 0..255, which is rounded) and returns uint8."""
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[1:] != (resolution, resolution, 3) or arr.shape[0] == 0:
        raise ValueError(f"{what}: expected a non-empty RGB array [N, {resolution}, {resolution}, 3], got shape "
                         f"{arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{what}: expected uint8 or float RGB values in 0..255, got dtype {arr.dtype}")
    if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 255 or not np.isfinite(arr).all()):
        raise ValueError(f"{what}: values must be finite and in 0..255, got range [{np.nanmin(arr)}, {np.nanmax(arr)}]")
    return np.round(arr).astype(np.uint8)


def serving_outputs(model, images_uint8):
    """The exported computation: uint8 RGB -> {"embedding": L2-normalised identity, "mimic": mimic feature}."""
    out = model(tf.cast(images_uint8, tf.float32), training=False)
    return {"embedding": tf.math.l2_normalize(tf.cast(out["identity"], tf.float32), axis=-1),
            "mimic": tf.cast(out["mimic"], tf.float32)}


def _decode_to_uint8(image_bytes, resolution: int):
    """Encoded images `[B]` -> uint8 RGB `[B, p, p, 3]` (resized, antialiased bilinear, when not p x p)."""

    def decode(b):
        img = tf.io.decode_image(b, channels=3, dtype=tf.uint8, expand_animations=False)
        img.set_shape([None, None, 3])
        shape = tf.shape(img)

        def resize():
            r = tf.image.resize(img, [resolution, resolution], method="bilinear", antialias=True)
            return tf.cast(tf.clip_by_value(tf.round(r), 0.0, 255.0), tf.uint8)

        same = tf.logical_and(tf.equal(shape[0], resolution), tf.equal(shape[1], resolution))
        return tf.cond(same, lambda: tf.reshape(img, [resolution, resolution, 3]), resize)

    return tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec([resolution, resolution, 3], tf.uint8))


def write_saved_model(model, path: str | os.PathLike, resolution: int, *, with_bytes: bool) -> None:
    """Writes a SavedModel with the `serving_default` signature (and `serving_bytes` when `with_bytes`) through
    Keras' `ExportArchive` (the machinery behind `model.export()`), atomically (`skd_tf.utils.io.atomic_dir`)."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SIGNATURE, lambda images: serving_outputs(model, images),
                         input_signature=[tf.TensorSpec([None, resolution, resolution, 3], tf.uint8,
                                                        name=INPUT_NAME)])
    if with_bytes:
        archive.add_endpoint(BYTES_SIGNATURE,
                             lambda image_bytes: serving_outputs(model, _decode_to_uint8(image_bytes, resolution)),
                             input_signature=[tf.TensorSpec([None], tf.string, name=BYTES_INPUT_NAME)])
    with atomic_dir(path) as tmp:
        archive.write_out(str(tmp), verbose=False)


def load_saved_model_signature(path: str | os.PathLike, signature: str = SIGNATURE) -> Callable[..., dict]:
    """Loads an exported SavedModel and returns `fn(**inputs) -> {output name: np.ndarray}` for `signature`."""
    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(f"{path}: not a SavedModel folder (no saved_model.pb)")
    loaded = tf.saved_model.load(str(path))
    if signature not in loaded.signatures:
        raise ValueError(f"{path}: no signature '{signature}' (has {sorted(loaded.signatures)})")
    fn = loaded.signatures[signature]

    def call(**inputs):
        out = fn(**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in out.items()}

    call.loaded = loaded  # keeps the trackable objects alive
    return call
