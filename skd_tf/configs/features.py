"""Teacher feature extraction (paper Section III-C, Eq. 2: f_i = phi^_t(F_i)): `FeaturesConfig`, registered as
"features" (no teacher or source chosen: a run gives both, as the command line does), "features.lfw" (the dlib
ResNet teacher on every LFW face of the shared data, the LFW experiment's teacher step) and "features.lfw.quick" (its
first 64 faces).

    from skd_tf.experiments import run
    run("features.lfw", "runs/cache/lfw_dlib", {})
"""
from __future__ import annotations

import dataclasses
from typing import Any

from skd_tf.configs import register
from skd_tf.data.images import DEFAULT_MARGIN, check_margin, check_on_corrupt
from skd_tf.utils.checks import check_bool, check_choice, check_int

DTYPES = ("float32", "float16")


@dataclasses.dataclass
class FeaturesConfig:
    """One extraction into a resumable sharded cache (`skd_tf.experiments.features`). `teacher` and `source` have no
    default (a run needs both); the other fields follow the source they belong to."""
    teacher: str | None = None           # a registered teacher (skd_tf.models.teachers.names())
    teacher_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. {"weights": PATH}
    layer: str | None = None             # name recorded for the feature layer; None: the spec's feature_layer
    source: str | None = None            # synthetic | lfw | tfds:<builder name>
    shard_size: int = 1024               # faces per shard
    batch_size: int = 64                 # faces per forward pass
    limit: int | None = None             # only the first N faces of the source (quick runs); None: all
    on_corrupt: str = "fail"             # an unusable face: fail naming the file, or skip it (listed in the manifest)
    landmark_margin: float = DEFAULT_MARGIN  # how far (fraction of the image size) a landmark may lie outside
    dtype: str = "float32"               # stored feature dtype: float32 | float16
    progress: bool = True                # a progress bar
    # source="lfw"
    lfw_dir: str | None = None           # LFW-layout image folder; None: the shared data's lfw/lfw-deepfunneled
    landmarks: str | None = None         # landmarks CSV; None: the shared data's lfw/dlib/landmarks5.csv
    # source="synthetic"
    faceset: str | None = None           # a FaceSet .npz (skd_tf.data.synthetic.save_faceset); None: generated
    num_identities: int = 20
    images_per_identity: int = 10
    image_size: int = 160
    noisy_fraction: float = 0.1
    seed: int = 0                        # synthetic generation seed
    # source="tfds:NAME"
    tfds_split: str = "train"
    tfds_data_dir: str | None = None
    image_key: str = "image"
    landmarks_key: str = "landmarks"     # [5, 2], dlib order
    id_key: str = "auto"                 # row ids: auto (row_id when present, else positions) | position | a feature
    tfds_prealigned: bool = False        # images are aligned chips of the teacher's input size: used as they are

    def validate(self, require_inputs: bool = False) -> "FeaturesConfig":
        """Every field, before any data is read or the teacher is built (ValueError naming it); `require_inputs`
        (before a run) also needs `teacher` and `source`."""
        for name in ("teacher", "source"):
            if require_inputs and not getattr(self, name):
                raise ValueError(f"{name}: required, got {getattr(self, name)!r}")
        if self.source is not None and self.source not in ("lfw", "synthetic") and not (
                self.source.startswith("tfds:") and len(self.source) > 5):
            raise ValueError(f"source: expected 'synthetic', 'lfw' or 'tfds:<name>', got {self.source!r}")
        if not isinstance(self.teacher_kwargs, dict):
            raise ValueError(f"teacher_kwargs: expected a dict of keyword arguments, got {self.teacher_kwargs!r}")
        if self.limit is not None:
            try:
                check_int("limit", self.limit, 1)
            except ValueError:
                raise ValueError(f"limit: expected a positive number of faces (>= 1), got {self.limit!r}; leave it "
                                 f"unset (None) to extract every face") from None
        for name in ("shard_size", "batch_size", "num_identities", "images_per_identity", "image_size"):
            check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        check_on_corrupt(self.on_corrupt)
        check_margin(self.landmark_margin, "landmark_margin")
        check_choice("dtype", self.dtype, DTYPES)
        check_bool("progress", self.progress)
        check_bool("tfds_prealigned", self.tfds_prealigned)
        return self


register("features", FeaturesConfig)
register("features.lfw", lambda: FeaturesConfig(teacher="dlib_resnet", source="lfw"))
register("features.lfw.quick", lambda: FeaturesConfig(teacher="dlib_resnet", source="lfw", limit=64))
