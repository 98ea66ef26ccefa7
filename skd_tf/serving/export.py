"""`export_student`: every deployable artifact of a trained student, each with its sidecar, and a manifest.

From a Keras student (`skd_tf.models.student.build_student`) or its checkpoint (`skd_tf.serving.loading`), writes
the SavedModel (`skd_tf.serving.signatures`), the TFLite models of the requested kinds converted from it
(`skd_tf.serving.tflite`), each artifact's parity with the Keras model measured on the representative faces
(`skd_tf.serving.parity`), its JSON sidecar (`skd_tf.serving.sidecars`; embedded in each .tflite too) and
`manifest.json` listing them. Nothing is written before the student and the arguments are checked.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from skd_tf.serving.loading import check_student, load_student
from skd_tf.serving.parity import keras_reference, parity
from skd_tf.serving.sidecars import artifact_sha256, artifact_size_bytes, build_sidecar, sidecar_path
from skd_tf.serving.signatures import INPUT_NAME, as_uint8_images, load_saved_model_signature, write_saved_model
from skd_tf.serving.tflite import TFLITE_KINDS, TFLITE_METADATA_NAME, convert_tflite, embed_tflite_metadata, run_tflite
from skd_tf.utils.io import dumps_json, write_bytes, write_json

KINDS = ("saved_model",) + TFLITE_KINDS


def export_student(model_or_checkpoint: Any, out_dir: str | os.PathLike, *, resolution: int,
                   representative_images: np.ndarray | None, metadata: Mapping | None = None,
                   kinds: Iterable[str] = KINDS, config: str | os.PathLike | Mapping | None = None,
                   max_representative: int = 200, parity_faces: int = 64, seed: int = 0,
                   basename: str | None = None) -> dict[str, Path]:
    """Exports a student to a SavedModel and TFLite models, each with a JSON sidecar; returns `{kind: path}`.

    Args:
      model_or_checkpoint: a `keras.Model` (the student), a `.keras` file, or a `.weights.h5` file (with `config`).
      out_dir: destination folder; artifacts are `saved_model/` and `<basename>_<kind>.tflite`, sidecars
        `saved_model.json` and `<basename>_<kind>.tflite.json`, plus `manifest.json` listing them.
      resolution: p, the student's input side (checked against the model).
      representative_images: training faces, uint8 (or float 0..255) RGB `[N, p, p, 3]`, already aligned and
        degraded like the training inputs; up to `max_representative` (drawn with `seed`) calibrate the full-int8
        model, and up to `parity_faces` of them measure each artifact's parity with Keras (recorded in its sidecar).
        May be None only when "int8" is not among `kinds` (parity is then measured on random pixels).
      metadata: `teacher`, `training_data`, `metrics` and any extra keys, copied into every sidecar.
      kinds: a subset of `KINDS`. TFLite kinds are converted from the SavedModel (written to a temporary folder when
        "saved_model" itself is not requested).
      config: the training config for a `.weights.h5` checkpoint (see `load_student`).
      basename: TFLite file stem (default `student_<p>px`).

    Raises:
      ValueError: unknown kind, a model whose input is not p x p x 3, or bad representative images.
    """
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"kinds: expected a non-empty subset of {KINDS}, got {kinds}")
    resolution = int(resolution)
    metadata = dict(metadata or {})
    model = load_student(model_or_checkpoint, config=config, resolution=resolution)
    check_student(model, resolution)
    rng = np.random.default_rng(seed)
    if representative_images is None:
        if "int8" in kinds:
            raise ValueError("representative_images: required for kind 'int8' (training faces [N, p, p, 3])")
        reps = rng.integers(0, 256, (16, resolution, resolution, 3), dtype=np.uint8)
        parity_source = "uniform random pixels (no representative images given)"
    else:
        reps = as_uint8_images(representative_images, resolution, what="representative_images")
        parity_source = "representative_images (training faces)"
    if len(reps) > max_representative:
        reps = reps[np.sort(rng.choice(len(reps), max_representative, replace=False))]
    check = reps[:parity_faces]
    reference = keras_reference(model, check)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    basename = basename or f"student_{resolution}px"
    paths: dict[str, Path] = {}
    sm_path = out_dir / "saved_model"
    with contextlib.ExitStack() as stack:
        if "saved_model" in kinds:
            write_saved_model(model, sm_path, resolution, with_bytes=True)
            fn = load_saved_model_signature(sm_path)
            par = parity(reference, fn(**{INPUT_NAME: check}))
            par["source"] = parity_source
            side = build_sidecar("saved_model", resolution, model, metadata, par)
            side.update(file=sm_path.name, size_bytes=artifact_size_bytes(sm_path), sha256=artifact_sha256(sm_path))
            write_json(sidecar_path("saved_model", sm_path), side)
            paths["saved_model"] = sm_path
            conv_src = sm_path
        elif any(k in TFLITE_KINDS for k in kinds):
            conv_src = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=out_dir))) / "saved_model"
            write_saved_model(model, conv_src, resolution, with_bytes=False)
        for kind in (k for k in TFLITE_KINDS if k in kinds):
            tfl = out_dir / f"{basename}_{kind}.tflite"
            model_bytes = convert_tflite(conv_src, kind, reps if kind == "int8" else None)
            with tempfile.TemporaryDirectory(dir=out_dir) as td:
                probe = Path(td) / "probe.tflite"
                probe.write_bytes(model_bytes)
                par = parity(reference, run_tflite(probe, check))
            par["source"] = parity_source
            side = build_sidecar(kind, resolution, model, metadata, par)
            if kind == "int8":
                side["calibration"] = {"n_faces": int(len(reps)), "source": parity_source, "seed": seed}
            side["file"] = tfl.name
            side["tflite_metadata_entry"] = TFLITE_METADATA_NAME
            model_bytes = embed_tflite_metadata(model_bytes, TFLITE_METADATA_NAME,
                                                dumps_json(side, indent=None).encode("utf-8"))
            write_bytes(tfl, model_bytes)
            side.update(size_bytes=artifact_size_bytes(tfl), sha256=artifact_sha256(tfl))
            write_json(sidecar_path(kind, tfl), side)
            paths[kind] = tfl
    write_json(out_dir / "manifest.json", {
        "resolution": resolution,
        "artifacts": {k: {"path": p.name, "sidecar": sidecar_path(k, p).name} for k, p in paths.items()}})
    return paths
