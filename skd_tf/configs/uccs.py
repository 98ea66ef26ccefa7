"""The UCCS identification experiment (paper Section IV-D): `UccsConfig`, registered as "uccs" (the paper's 180
subjects at 16 px, 30 epochs) and "uccs.quick" (40 subjects, one epoch, a smoke run).

    from skd_tf.experiments import run
    run("uccs", "runs/uccs", {"uccs_csv": "UCCS/training.csv", "student": "runs/s16_sc/student.keras"})
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from skd_tf.configs import register
from skd_tf.data.images import check_on_corrupt
from skd_tf.serving import CHECKPOINT_SUFFIXES, resolve_student_path
from skd_tf.training import TrainConfig
from skd_tf.utils.checks import check_bool, check_file, check_int, check_nested


@dataclasses.dataclass
class UccsConfig:
    """One UCCS run (`skd_tf.experiments.uccs`). `train` is the training schedule (class supervision; its
    `resolution` is the subset's face size, its seed also draws the 4:1 split; from scratch, `train.epochs` are
    stage-1 epochs); the run sets its `num_classes` (and `identity_dim`, `feature_dim` from `student`)."""
    uccs_csv: str | None = None        # the challenge's ground-truth CSV (needed to run)
    image_dir: str | None = None       # folder of the CSV's images; None: the CSV's folder
    num_subjects: int = 180            # subjects with the most faces kept in the subset
    student: str | None = None         # pre-trained student (.keras / .weights.h5 / run dir); None: from scratch
    freeze: bool = True                # with `student`: freeze every layer before the mimic layer
    on_corrupt: str = "fail"           # an unusable face: fail naming file and CSV line, or skip (listed)
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(
        resolution=16, supervision="c", epochs=30, init_epochs=0, batch_size=64, learning_rate=1e-3,
        tensorboard=False, verbose=2))

    def validate(self, require_inputs: bool = False) -> "UccsConfig":
        """Checks every field (ValueError naming it, the expected range and the value given), and every file that
        is given (FileNotFoundError naming it); `require_inputs` (before a run) also needs `uccs_csv`. Nothing is
        read or written."""
        check_int("num_subjects", self.num_subjects, 1)
        check_bool("freeze", self.freeze)
        check_on_corrupt(self.on_corrupt)
        check_nested("train", self.train)
        if self.train.supervision != "c":
            raise ValueError(f"train.supervision: expected 'c' (UCCS trains with class supervision, Section IV-D), "
                             f"got {self.train.supervision!r}")
        check_int("train.epochs", self.train.epochs, 1)
        if require_inputs or self.uccs_csv is not None:
            check_file("uccs_csv", self.uccs_csv, "the UCCS ground-truth CSV")
        if self.image_dir is not None and not Path(self.image_dir).is_dir():
            raise FileNotFoundError(f"image_dir: {self.image_dir} is not a folder (expected the folder of the CSV's "
                                    f"images)")
        if self.student:
            resolve_student_path(self.student, suffixes=CHECKPOINT_SUFFIXES, what="student")  # naming the path
        return self


register("uccs", UccsConfig)
register("uccs.quick", lambda: UccsConfig(num_subjects=40, train=dataclasses.replace(UccsConfig().train, epochs=1)))
