"""Export a trained student as a SavedModel and TFLite models with JSON sidecars (Section IV-F; issue 7).

    python -m experiments.export --checkpoint=runs/students/S-16-sc/student.keras --out_dir=runs/export/S-16-sc
    python -m experiments.export --checkpoint=runs/students/S-16-sc/student.weights.h5 \
        --representative=npz:runs/x/train16.npz --teacher=dlib_resnet --training_data="LFW View-1 train" \
        --metrics_json=runs/students/S-16-sc/result.json --out_dir=...

--checkpoint: a `.keras` file, or a `.weights.h5` with the training run's `config.json` beside it (or `--config`).
--representative: where the full-int8 calibration faces (and the parity faces recorded in the sidecars) come from:
  `npz:PATH` (an `.npz` with `images` [M, p, p, 3] uint8: the student's training arrays), `npy:PATH`, `lfw` (real
  LFW faces aligned by dlib's 5 points, `../shared/data`), `synthetic`, or `auto` (default: lfw when present, else
  synthetic); pass the training faces (npz) for a deployed model. Up to --num_representative are drawn
  with --seed. Writes the artifacts, their sidecars and manifest.json to --out_dir (see `skd_tf.serving`).
"""
from __future__ import annotations

import json
from pathlib import Path

from absl import app, flags

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program)."""
    from skd_tf.serving import KINDS

    flags.DEFINE_string("checkpoint", None, "student .keras file, or .weights.h5 (with config.json)")
    flags.DEFINE_string("config", None, "training config JSON for a .weights.h5 checkpoint (default: beside it)")
    flags.DEFINE_string("out_dir", None, "destination folder")
    flags.DEFINE_integer("resolution", None, "student input side p (default: read from the model; refused when it "
                         "differs from the checkpoint's run record)")
    flags.DEFINE_list("kinds", list(KINDS), f"artifact kinds, a subset of {','.join(KINDS)}")
    flags.DEFINE_string("representative", "auto",
                        "calibration faces: npz:PATH | npy:PATH | lfw | synthetic | auto (lfw when present)")
    flags.DEFINE_integer("num_representative", 200, "calibration faces drawn for full int8")
    flags.DEFINE_string("teacher", None, "teacher the student was distilled from (sidecar field)")
    flags.DEFINE_string("training_data", None, "training data description (sidecar field)")
    flags.DEFINE_string("metrics_json", None, "JSON file of measured metrics copied into the sidecars")
    flags.DEFINE_integer("seed", 0, "seed of the calibration-face draw")
    flags.mark_flags_as_required(["checkpoint", "out_dir"])


def main(argv) -> None:
    del argv
    from skd_tf.data.calibration import representative_faces
    from skd_tf.serving import export_student, load_student, sidecar_path
    from skd_tf.utils.io import write_json

    # A .weights.h5 does not record its resolution: load_student takes it from the run record (config.json) and
    # refuses a --resolution or --config that disagrees with it, before any face is read or any file written.
    model = load_student(FLAGS.checkpoint, config=FLAGS.config, resolution=FLAGS.resolution)
    resolution = FLAGS.resolution or int(model.inputs[0].shape[1])
    images, described = representative_faces(FLAGS.representative, resolution, FLAGS.num_representative, FLAGS.seed)
    metrics = {}
    if FLAGS.metrics_json:
        try:
            metrics = json.loads(Path(FLAGS.metrics_json).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"--metrics_json: {FLAGS.metrics_json} does not exist") from None
    metadata = {"teacher": FLAGS.teacher, "training_data": FLAGS.training_data, "metrics": metrics,
                "checkpoint": str(FLAGS.checkpoint), "calibration_faces": described}
    paths = export_student(model, FLAGS.out_dir, resolution=resolution, representative_images=images,
                           metadata=metadata, kinds=FLAGS.kinds, seed=FLAGS.seed,
                           max_representative=FLAGS.num_representative)
    summary = {}
    for kind, path in paths.items():
        side = json.loads(sidecar_path(kind, path).read_text(encoding="utf-8"))
        emb = side["parity_vs_keras"]["embedding"]
        summary[kind] = {"path": str(path), "size_bytes": side["size_bytes"],
                         "embedding_min_cosine_vs_keras": emb["min_cosine"],
                         "embedding_max_abs_diff_vs_keras": emb["max_abs_diff"]}
        print(f"{kind:13s} {side['size_bytes'] / 1e6:8.3f} MB  min cos {emb['min_cosine']:.6f}  "
              f"max |diff| {emb['max_abs_diff']:.2e}  {path}")
    write_json(Path(FLAGS.out_dir) / "export_summary.json", summary)


if __name__ == "__main__":
    define_flags()
    app.run(main)
