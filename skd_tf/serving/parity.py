"""Parity of an exported artifact with the Keras student it came from.

Every artifact is run on the same uint8 faces as the Keras model (`keras_reference`, through the exported
computation `serving_outputs`) and compared output by output (`parity`: max abs difference, min / mean cosine).
`PARITY_BOUNDS` are the bounds the tests hold each kind to; the export records them, with the measured parity, in
each artifact's sidecar so that a caller knows what to expect.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import tensorflow as tf

from skd_tf.serving.signatures import OUTPUT_NAMES, serving_outputs

# Cosine of the embedding against the Keras model (saved_model and float32 by max abs difference instead).
PARITY_BOUNDS = {
    "saved_model": {"max_abs_diff": 1e-5},
    "float32": {"max_abs_diff": 1e-4},
    "float16": {"min_cosine": 0.999},
    "dynamic_int8": {"min_cosine": 0.99},
    # Full int8 of a briefly trained student: worst LFW face 0.986-0.993, mean 0.997 (tests/serving/test_tflite.py).
    "int8": {"mean_cosine": 0.99, "p10_cosine": 0.99, "min_cosine": 0.98},
}


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two `[N, D]` arrays (float64)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(na * nb, 1e-30)


def parity(reference: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray]) -> dict:
    """Max abs difference and min / mean cosine of each output of `other` against `reference`."""
    res = {}
    for name in OUTPUT_NAMES:
        r, o = np.asarray(reference[name]), np.asarray(other[name])
        cos = cosine_rows(r, o)
        res[name] = {"max_abs_diff": float(np.abs(r - o).max()), "min_cosine": float(cos.min()),
                     "mean_cosine": float(cos.mean()), "n_faces": int(len(r))}
    return res


def keras_reference(model, images_uint8: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
    """The Keras model's `embedding` / `mimic` on uint8 faces (the reference every artifact is compared with)."""
    fn = tf.function(lambda x: serving_outputs(model, x))
    outs = [fn(tf.constant(images_uint8[i:i + batch_size])) for i in range(0, len(images_uint8), batch_size)]
    return {k: np.concatenate([o[k].numpy() for o in outs]) for k in OUTPUT_NAMES}
