"""A trained student as a SavedModel and TFLite models with JSON sidecars (paper Section IV-F: the student is what
runs in the wild): `run(ExportConfig(...), out_dir)` around `skd_tf.serving.export_student`.

`checkpoint`: a `.keras` file, or a `.weights.h5` with the training run's `config.json` beside it (or
`train_config`); a `.weights.h5` does not record its resolution, so it comes from the run record, and a `resolution`
or `train_config` that disagrees with it is refused before any face is read or any file written. `representative`:
where the full-int8 calibration faces (and the parity faces recorded in the sidecars) come from
(`skd_tf.data.calibration.representative_faces`); pass the training faces (`npz:PATH`) for a deployed model. Writes
the artifacts, their sidecars, manifest.json and export_summary.json (size and parity per kind) to `out_dir`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from skd_tf.configs.export import ExportConfig
from skd_tf.data.calibration import representative_faces
from skd_tf.serving import export_student, load_student, sidecar_path
from skd_tf.utils.io import write_json


def run(config: ExportConfig, out_dir: str | os.PathLike) -> dict:
    """Exports the checkpoint; returns (and writes as export_summary.json) {kind: path, size, embedding parity}."""
    config = config.validate(require_inputs=True)
    model = load_student(config.checkpoint, config=config.train_config, resolution=config.resolution)
    resolution = config.resolution or int(model.inputs[0].shape[1])
    images, described = representative_faces(config.representative, resolution, config.num_representative,
                                             config.seed)
    metrics = json.loads(Path(config.metrics_json).read_text(encoding="utf-8")) if config.metrics_json else {}
    metadata = {"teacher": config.teacher, "training_data": config.training_data, "metrics": metrics,
                "checkpoint": str(config.checkpoint), "calibration_faces": described}
    paths = export_student(model, out_dir, resolution=resolution, representative_images=images, metadata=metadata,
                           kinds=config.kinds, seed=config.seed, max_representative=config.num_representative)
    summary = {}
    for kind, path in paths.items():
        side = json.loads(sidecar_path(kind, path).read_text(encoding="utf-8"))
        embedding = side["parity_vs_keras"]["embedding"]
        summary[kind] = {"path": str(path), "size_bytes": side["size_bytes"],
                         "embedding_min_cosine_vs_keras": embedding["min_cosine"],
                         "embedding_max_abs_diff_vs_keras": embedding["max_abs_diff"]}
    write_json(Path(out_dir) / "export_summary.json", summary)
    return summary


def format_table(summary: dict) -> str:
    """One line per artifact: kind, size, embedding parity with the Keras model, path."""
    return "\n".join(f"{kind:13s} {s['size_bytes'] / 1e6:8.3f} MB  min cos {s['embedding_min_cosine_vs_keras']:.6f}  "
                     f"max |diff| {s['embedding_max_abs_diff_vs_keras']:.2e}  {s['path']}"
                     for kind, s in summary.items())
