"""The SCface retrieval experiment (paper Section IV-E, Table II): `ScfaceConfig`, registered as "scface" (the
paper's protocol, S-64-sc's identity layer of 128) and "scface.quick" (one epoch at 16 px, a smoke run).

    from skd_tf.experiments import run
    run("scface", "runs/scface", {"scface_dir": "SCFACE", "student": "runs/s64_sc/student.keras"})
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from skd_tf.configs import register
from skd_tf.data.images import check_on_corrupt
from skd_tf.training import TrainConfig
from skd_tf.utils.checks import check_choice, check_file, check_int, check_nested
from skd_tf.utils.paths import shared_data_dir

PROTOCOLS = ("paper", "close", "medium", "far", "combined")
EMBEDDINGS = ("identity", "mimic")


@dataclasses.dataclass
class ScfaceConfig:
    """One SCface run (`skd_tf.experiments.scface`). `train` is the fine-tuning schedule (class supervision; from
    scratch, `train.epochs` are stage-1 epochs) and its seed also draws the paper protocol's subjects; the run sets
    its `resolution`, `num_classes` and `feature_dim`."""
    scface_dir: str | None = None      # the release root (official layout); None: the shared data's scface/
    annotations: str | None = None     # None: SCFACE_DIR/scface_annotations.txt
    protocol: str = "paper"            # paper | close | medium | far | combined (bob.db.scface)
    student: str | None = None         # pre-trained student (.keras / .weights.h5 / run dir); None: from scratch
    resolution: int | None = None      # input size p; None: the pre-trained student's, else 64
    embedding: str = "identity"        # features matched between probe and gallery: identity | mimic
    on_corrupt: str = "fail"           # an unusable face: fail naming file and annotation line, or skip (listed)
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(
        supervision="c", epochs=20, init_epochs=0, batch_size=64, learning_rate=1e-3, identity_dim=128,
        tensorboard=False, verbose=2))

    def validate(self, require_inputs: bool = False) -> "ScfaceConfig":
        """Checks every field (ValueError naming it, the expected range and the value given); with `require_inputs`
        (before a run) also that the release folder and the annotation file exist."""
        check_choice("protocol", self.protocol, PROTOCOLS)
        check_choice("embedding", self.embedding, EMBEDDINGS)
        check_on_corrupt(self.on_corrupt)
        if self.resolution is not None:
            check_int("resolution", self.resolution, 1)
        check_nested("train", self.train)
        if self.train.supervision != "c":
            raise ValueError(f"train.supervision: expected 'c' (SCface fine-tunes with class supervision, Section "
                             f"IV-E), got {self.train.supervision!r}")
        if require_inputs:
            if not self.release_dir.is_dir():
                raise FileNotFoundError(f"scface_dir: {self.release_dir} is not a folder (expected the SCface "
                                        f"release root)")
            check_file("annotations", self.annotation_file, "the SCface annotation file")
        return self

    @property
    def release_dir(self) -> Path:
        return Path(self.scface_dir) if self.scface_dir else shared_data_dir() / "scface"

    @property
    def annotation_file(self) -> Path:
        return Path(self.annotations) if self.annotations else self.release_dir / "scface_annotations.txt"


register("scface", ScfaceConfig)
register("scface.quick", lambda: ScfaceConfig(resolution=16, train=dataclasses.replace(
    ScfaceConfig().train, epochs=1, batch_size=128)))
