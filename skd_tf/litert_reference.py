"""Phone-side reference: a student's embeddings with the LiteRT runtime alone (ai-edge-litert, numpy, OpenCV).

This module imports no TensorFlow (nor Keras): it is what an app has to do, in Python, with an exported student
(`skd_tf.serving`, or the shipped `skd_tf.pretrained` files):

1. a face crop of p x p uint8 RGB pixels (NHWC, raw 0..255; the model normalises inside), aligned with dlib's
   5-point template at padding 0.25 and rendered anti-aliased (`crop_from_landmarks`: the same pixels as the
   training crops, `skd_tf.data.degrade.render_chip`, which needs only numpy and OpenCV; a model card's
   `preprocessing.alignment` gives the template and the rule as numbers for a port to another language);
2. the `serving_default` signature of the .tflite: input `images` uint8 `[N, p, p, 3]`, outputs `embedding` (the
   L2-normalised identity layer, 128-D) and `mimic` (the mimic layer, D-D), both float32, looked up by name
   (`embed`);
3. two faces compared by the cosines of their embeddings and of their L2-normalised mimic features, averaged (the
   score the cards' thresholds apply to, Section IV-A of the paper; `both_score`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from skd_tf.data.degrade import render_chip

SIGNATURE = "serving_default"
INPUT_NAME = "images"
OUTPUT_NAMES = ("embedding", "mimic")


class LiteRTStudent:
    """A .tflite student run through ai-edge-litert's signature runner; `resolution` is its input side p."""

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: TFLite model not found")
        self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
        signatures = self._interpreter.get_signature_list()
        if SIGNATURE not in signatures:
            raise ValueError(f"{self.path}: no signature '{SIGNATURE}' (has {sorted(signatures)}); expected a student "
                             "exported by skd_tf.serving")
        self._runner = self._interpreter.get_signature_runner(SIGNATURE)
        inputs, outputs = self._runner.get_input_details(), self._runner.get_output_details()
        if INPUT_NAME not in inputs or not set(OUTPUT_NAMES) <= set(outputs):
            raise ValueError(f"{self.path}: signature inputs {sorted(inputs)} / outputs {sorted(outputs)}, expected "
                             f"input '{INPUT_NAME}' and outputs {list(OUTPUT_NAMES)}")
        self.resolution = int(inputs[INPUT_NAME]["shape_signature"][1])

    def embed(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """`{"embedding", "mimic"}` float32 of uint8 RGB crops `[N, p, p, 3]`."""
        crops = np.asarray(crops)
        p = self.resolution
        if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[1:] != (p, p, 3):
            raise ValueError(f"crops: expected uint8 RGB [N, {p}, {p}, 3] for {self.path.name}, got {crops.dtype} "
                             f"{crops.shape}")
        out = self._runner(**{INPUT_NAME: crops})
        return {name: np.asarray(out[name], np.float32) for name in OUTPUT_NAMES}


def crop_from_landmarks(image: np.ndarray, landmarks, resolution: int) -> np.ndarray:
    """The p x p uint8 crop of the face with 5 landmarks `[5, 2]` (dlib's order, (x, y) pixels) in an RGB image."""
    return render_chip(np.asarray(image), np.asarray(landmarks, np.float64).reshape(5, 2), int(resolution))


def both_score(features_a: dict[str, np.ndarray], features_b: dict[str, np.ndarray]) -> np.ndarray:
    """Row-wise `both` score of two faces' outputs: the mean of the cosines of `embedding` and of `mimic`."""
    def cosine(a, b):
        a = np.asarray(a, np.float64)
        b = np.asarray(b, np.float64)
        return (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)

    return 0.5 * sum(cosine(features_a[k], features_b[k]) for k in OUTPUT_NAMES)
