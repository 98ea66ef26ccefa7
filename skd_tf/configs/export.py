"""The deployable artifacts of a trained student (paper Section IV-F): `ExportConfig`, registered as "export" (the
SavedModel and every TFLite kind, 200 calibration faces) and "export.quick" (the SavedModel and float32 TFLite
only: no calibration, the quickest check that a checkpoint exports).

    from skd_tf.experiments import run
    run("export", "runs/export/S-16-sc", {"checkpoint": "runs/students/S-16-sc/student.keras"})
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from skd_tf.configs import register
from skd_tf.serving import KINDS
from skd_tf.utils.checks import check_int

REPRESENTATIVE = ("lfw", "synthetic", "auto")


@dataclasses.dataclass
class ExportConfig:
    """One export (`skd_tf.experiments.export`, writing through `skd_tf.serving.export_student`)."""
    checkpoint: str | None = None       # student .keras, or .weights.h5 with its run's config.json (needed to run)
    train_config: str | None = None     # training config JSON of a .weights.h5; None: the config.json beside it
    resolution: int | None = None       # input side p; None: the model's (refused when it differs from the record)
    kinds: tuple[str, ...] = KINDS      # artifact kinds, a subset of skd_tf.serving.KINDS
    representative: str = "auto"        # calibration faces: npz:PATH | npy:PATH | lfw | synthetic | auto
    num_representative: int = 200       # calibration faces drawn for full int8
    teacher: str | None = None          # the teacher the student was distilled from (sidecar field)
    training_data: str | None = None    # the training data's description (sidecar field)
    metrics_json: str | None = None     # JSON file of measured metrics copied into the sidecars
    seed: int = 0                       # seed of the calibration-face draw

    def validate(self, require_inputs: bool = False) -> "ExportConfig":
        """Every field (ValueError naming it, the expected range and the value given) and every file given
        (FileNotFoundError); `require_inputs` (before a run) also needs `checkpoint`. The checkpoint itself (and
        its resolution against its run record) is checked when it is loaded, before anything is written."""
        if require_inputs and not self.checkpoint:
            raise ValueError(f"checkpoint: required (a student .keras or .weights.h5), got {self.checkpoint!r}")
        unknown = [k for k in self.kinds if k not in KINDS]
        if not self.kinds or unknown:
            raise ValueError(f"kinds: expected a non-empty subset of {KINDS}, got {tuple(self.kinds)}")
        if self.resolution is not None:
            check_int("resolution", self.resolution, 1)
        if self.representative not in REPRESENTATIVE and not self.representative.startswith(("npz:", "npy:")):
            raise ValueError(f"representative: expected npz:PATH, npy:PATH, lfw, synthetic or auto, got "
                             f"{self.representative!r}")
        check_int("num_representative", self.num_representative, 1)
        check_int("seed", self.seed, 0)
        if self.metrics_json and not Path(self.metrics_json).is_file():
            raise FileNotFoundError(f"metrics_json: {self.metrics_json} does not exist")
        return self


register("export", ExportConfig)
register("export.quick", lambda: ExportConfig(kinds=("saved_model", "float32")))
