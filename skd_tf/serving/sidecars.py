"""The JSON sidecar written beside each artifact (`<artifact>.json`; `saved_model.json` for the SavedModel folder).

It says what a caller needs to use the artifact without reading this code: input size, colour order, value range,
alignment and preprocessing, the signatures with their inputs' and outputs' names, dtypes and meaning, the
quantisation, the teacher, training data and metrics, the artifact's measured parity with the Keras model and the
bound it is held to, its size and sha256 (`artifact_size_bytes`, `artifact_sha256`: of the file, or of every file of
a folder with its relative path), and the software versions.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Mapping

import keras
import tensorflow as tf

import skd_tf
from skd_tf.serving.parity import PARITY_BOUNDS
from skd_tf.serving.signatures import BYTES_INPUT_NAME, BYTES_SIGNATURE, INPUT_NAME, OUTPUT_NAMES, SIGNATURE

OUTPUT_MEANING = {
    "embedding": ("L2-normalised output of the student's identity layer (Section III-B); compare faces by the dot "
                  "product (= cosine similarity) of two embeddings."),
    "mimic": ("Output of the student's 1x1xD mimic layer, which regresses the teacher's feature (Eq. 4-6); not "
              "normalised. L2-normalise it before comparing faces with it."),
}

TFLITE_DESCRIPTION = {
    "float32": "float32 weights and activations",
    "float16": "float16 weights (dequantised to float32 at load), float32 activations",
    "dynamic_int8": "int8 weights, dynamic-range quantised activations (no calibration data)",
    "int8": ("full integer quantisation: int8 weights and activations calibrated on training faces; uint8 input "
             "cast in-graph; float32 (dequantised) outputs"),
}


def sidecar_path(kind: str, artifact: str | os.PathLike) -> Path:
    """Where the sidecar of the artifact of `kind` at `artifact` lies: `saved_model.json` beside the SavedModel
    folder, `<file>.json` beside a .tflite file."""
    artifact = Path(artifact)
    return artifact.parent / ("saved_model.json" if kind == "saved_model" else f"{artifact.name}.json")


def artifact_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, or of a folder: every file's path relative to it and bytes, in sorted order."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def artifact_size_bytes(path: str | os.PathLike) -> int:
    """Size of a file, or the total size of the files in a folder."""
    path = Path(path)
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def build_sidecar(kind: str, resolution: int, model, metadata: Mapping, parity_res: dict | None) -> dict:
    """The sidecar of the artifact of `kind` exported from the student `model` at `resolution` (without the file's
    name, size and sha256, which the caller adds once it is written). `metadata`: `teacher`, `training_data`,
    `metrics`; other keys go under `extra`. `parity_res`: `skd_tf.serving.parity.parity` of the artifact."""
    dims = {"embedding": int(model.output["identity"].shape[-1]), "mimic": int(model.output["mimic"].shape[-1])}
    signatures = {SIGNATURE: {"inputs": {INPUT_NAME: {"dtype": "uint8", "shape": [None, resolution, resolution, 3]}},
                              "outputs": {n: {"dtype": "float32", "shape": [None, dims[n]]} for n in OUTPUT_NAMES}}}
    if kind == "saved_model":
        signatures[BYTES_SIGNATURE] = {
            "inputs": {BYTES_INPUT_NAME: {"dtype": "string", "shape": [None],
                                          "meaning": ("encoded images (PNG/JPEG/BMP/GIF) of aligned face crops; "
                                                      f"resized to {resolution}x{resolution} in-graph if needed")}},
            "outputs": signatures[SIGNATURE]["outputs"]}
    side = {
        "format": "tf_saved_model" if kind == "saved_model" else "tflite",
        "kind": kind,
        "quantisation": None if kind == "saved_model" else TFLITE_DESCRIPTION[kind],
        "model": "student (Ge et al., TIP 2019, Section III-B, Fig. 3)",
        "input": {
            "name": INPUT_NAME, "size": [resolution, resolution], "channels": 3, "colour_order": "RGB",
            "dtype": "uint8", "value_range": [0, 255], "layout": "NHWC",
            "alignment": ("dlib 5-point face-chip template (skd_tf.data.align.align_face, padding=0.25), "
                          f"at {resolution}x{resolution} px"),
            "preprocessing": "inside the graph (x / 127.5 - 1); pass raw RGB pixels",
        },
        "signatures": signatures,
        "outputs": {n: {"dim": dims[n], "dtype": "float32", "meaning": OUTPUT_MEANING[n]} for n in OUTPUT_NAMES},
        "parity_bounds": PARITY_BOUNDS[kind],
        "parity_vs_keras": parity_res,
        "teacher": metadata.get("teacher"),
        "training_data": metadata.get("training_data"),
        "metrics": metadata.get("metrics", {}),
        "software": {"skd_tf": skd_tf.__version__, "tensorflow": tf.__version__, "keras": keras.__version__},
        "created_unix": int(time.time()),
    }
    extra = {k: v for k, v in metadata.items() if k not in ("teacher", "training_data", "metrics")}
    if extra:
        side["extra"] = extra
    return side
