"""Export a trained student as a SavedModel and TFLite models with JSON sidecars (Section IV-F; issue 7); the run is
`skd_tf.experiments.export` (config `skd_tf.configs.export.ExportConfig`, registered as "export").

    python -m experiments.export --checkpoint=runs/students/S-16-sc/student.keras --out_dir=runs/export/S-16-sc
    python -m experiments.export --checkpoint=runs/students/S-16-sc/student.weights.h5 \
        --representative=npz:runs/x/train16.npz --teacher=dlib_resnet --training_data="LFW View-1 train" \
        --metrics_json=runs/students/S-16-sc/result.json --out_dir=...

--checkpoint: a `.keras` file, or a `.weights.h5` with the training run's `config.json` beside it (or `--config`).
--representative: where the full-int8 calibration faces (and the parity faces recorded in the sidecars) come from:
  `npz:PATH` (an `.npz` with `images` [M, p, p, 3] uint8: the student's training arrays), `npy:PATH`, `lfw` (real
  LFW faces aligned by dlib's 5 points, `../shared/data`), `synthetic`, or `auto` (default: lfw when present, else
  synthetic); pass the training faces (npz) for a deployed model. Up to --num_representative are drawn with --seed.
Writes the artifacts, their sidecars, manifest.json and export_summary.json to --out_dir and prints one line per
artifact, its size and its embedding's parity with the Keras model:

    int8            0.850 MB  min cos 0.998765  max |diff| 1.23e-02  OUT/student_16px_int8.tflite

Flags left unset take the value of the config "export".
"""
from __future__ import annotations

from absl import app, flags

from skd_tf.configs import flags as config_flags
from skd_tf.experiments import export

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program)."""
    flags.DEFINE_string("out_dir", None, "destination folder", required=True)
    define = config_flags.define_override
    define("checkpoint", "string", "student .keras file, or .weights.h5 (with config.json)")
    define("config", "string", "training config JSON for a .weights.h5 checkpoint (None: beside it)",
           key="train_config")
    define("resolution", "int", "student input side p (None: read from the model; refused when it differs from the "
           "checkpoint's run record)")
    define("kinds", "strings", "artifact kinds, a subset of skd_tf.serving.KINDS")
    define("representative", "string", "calibration faces: npz:PATH | npy:PATH | lfw | synthetic | auto (lfw when "
           "present)")
    define("num_representative", "int", "calibration faces drawn for full int8")
    define("teacher", "string", "teacher the student was distilled from (sidecar field)")
    define("training_data", "string", "training data description (sidecar field)")
    define("metrics_json", "string", "JSON file of measured metrics copied into the sidecars")
    define("seed", "int", "seed of the calibration-face draw")
    flags.mark_flag_as_required("checkpoint")
    flags.adopt_module_key_flags(config_flags)


def main(argv) -> None:
    del argv
    print(export.format_table(export.run(config_flags.config_from_flags("export"), FLAGS.out_dir)))


if __name__ == "__main__":
    define_flags()
    app.run(main)
