"""One student S-p-<supervision> trained from files (paper Sections III-B, III-D, IV-C): `TrainStudentConfig`, the
data a run reads around the `TrainConfig` it trains with, registered as "train_student" (S-32-sc, the library's
schedule) and "train_student.quick" (one epoch of each stage at batch 16, a smoke run).

    from skd_tf.experiments import run
    run("train_student", "runs/students/S-32-sc", {"train_data": "runs/x/train32.npz",
        "teacher_features": "runs/cache/x", "selection": "runs/select/x/alpha.npy"})
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from skd_tf.configs import register
from skd_tf.data.sources import SAMPLINGS
from skd_tf.training import TrainConfig
from skd_tf.training.losses import uses_regression
from skd_tf.utils.checks import check_choice, check_float, check_int, check_nested


@dataclasses.dataclass
class TrainStudentConfig:
    """What `skd_tf.experiments.train_student` reads (module docstring of `experiments/train_student.py` for the
    file formats) and `train`, the run's `TrainConfig` (Keras logs one line per epoch: verbose 2)."""
    train_data: str | None = None        # tfds:NAME, a prepared TFDS dataset folder, or a student set .npz
    val_data: str | None = None          # optional validation set (same kinds; best checkpoint on val_loss)
    data_dir: str | None = None          # TFDS data directory for tfds:NAME
    perturbations: int = 16              # TFDS sources: landmark perturbations per face (Section IV-A)
    sampling: str = "fixed"              # TFDS sources: the same perturbations every epoch (the paper) | fresh
    jitter: float = 0.05                 # TFDS sources: landmark jitter in inter-ocular distances
    input_shards: int = 1                # TFDS sources: parts each global batch draws from equally (x workers)
    crop_cache: str | None = None        # TFDS sources, fixed sampling: render the crops once into this folder
    teacher_features: str | None = None  # teacher feature cache directory or .npz (features, row_ids)
    selection: str | None = None         # alpha.npy of experiments.select / its folder / .npz (alpha, row_ids)
    init_checkpoint: str | None = None   # student .weights.h5 to fine-tune from (skips stage 1)
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(verbose=2))

    def validate(self, require_inputs: bool = False) -> "TrainStudentConfig":
        """Every field (ValueError naming it, the expected range and the value given) and that the init checkpoint
        exists; `require_inputs` (before a run) also needs the inputs named: `train_data`, and what the supervision
        mode regresses and weights by (Section IV-C). The data files themselves are read (and checked) by the run,
        before it writes anything."""
        check_nested("train", self.train)
        check_int("perturbations", self.perturbations, 1)
        check_choice("sampling", self.sampling, SAMPLINGS)
        check_float("jitter", self.jitter)
        check_int("input_shards", self.input_shards, 1)
        if self.crop_cache and self.sampling != "fixed":
            raise ValueError(f"crop_cache: only sampling 'fixed' renders the same crops every epoch, got sampling "
                             f"{self.sampling!r}")
        mode = self.train.supervision
        if require_inputs:
            if not self.train_data:
                raise ValueError(f"train_data: required (tfds:NAME, a prepared TFDS dataset folder or a student set "
                                 f".npz), got {self.train_data!r}")
            if self.train.epochs > 0 and uses_regression(mode) and not self.teacher_features:
                raise ValueError(f"train.supervision={mode!r} regresses the teacher's features (Eq. 6): give "
                                 f"teacher_features (a feature-cache directory or an .npz of features and row_ids)")
            if self.train.epochs > 0 and mode in ("s", "sc") and not self.selection:
                raise ValueError(f"train.supervision={mode!r} weights L_reg by the selection alpha (Eq. 6): give "
                                 f"selection (alpha.npy of experiments.select, its folder or an .npz); supervision "
                                 f"'dc' uses every face")
        if self.init_checkpoint and not Path(self.init_checkpoint).is_file():
            raise FileNotFoundError(f"init_checkpoint: {self.init_checkpoint} does not exist (expected a student "
                                    f".weights.h5)")
        return self


register("train_student", TrainStudentConfig)
register("train_student.quick", lambda: TrainStudentConfig(train=dataclasses.replace(
    TrainStudentConfig().train, epochs=1, init_epochs=1, batch_size=16)))
