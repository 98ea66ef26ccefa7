"""One student S-p-<supervision> from files (paper Sections III-B, III-D, IV-C): stage 1 (mode c) then stage 3,
`run(TrainStudentConfig(...), model_dir)` around `skd_tf.training.train_student`.

Running the same config into the same `model_dir` after a kill resumes where it stopped. The config is recorded flat
in MODEL_DIR/flags.json (its fields, `train`'s fields and `model_dir`; the name and the layout of the folders the
command line made before) once every check has passed (the config, the folder's recorded settings, the data and
each stage's settings): a refused run leaves flags.json and config.json as they were, and a resumed folder's record
must match (except `verbose`, `tensorboard`, `strategy`). A run whose loss or weights become non-finite raises
`TrainingDiverged` naming the stage, epoch, step and learning rate, writes no student/result files, and cannot be
resumed (use a new model_dir with a lower learning rate).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from absl import logging

from skd_tf.configs.train_student import TrainStudentConfig
from skd_tf.data.sources import Degradation
from skd_tf.training import train_student
from skd_tf.training.data_io import load_student_data
from skd_tf.training.distribute import is_chief, make_strategy
from skd_tf.training.runner import check_run
from skd_tf.utils.io import check_settings, write_json

#: Settings that do not change what the folder holds: a resumed run may change them.
UNRECORDED = ("verbose", "tensorboard", "strategy", "crop_cache")  # none of them changes a batch or a weight


def settings_record(config: TrainStudentConfig, model_dir: str | os.PathLike) -> dict[str, Any]:
    """flags.json's record of a run: the config's data fields and its `train` fields, flat, and `model_dir`."""
    data = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "train"}
    return {**data, **dataclasses.asdict(config.train), "model_dir": str(model_dir)}


def run(config: TrainStudentConfig, model_dir: str | os.PathLike) -> dict[str, Any]:
    """Trains (or resumes) the student the config describes into `model_dir` (module docstring); returns
    {"model_dir", "weights": its student.weights.h5, and the last epoch's metrics}."""
    config = config.validate(require_inputs=True)
    # The strategy comes before any other TensorFlow work (MultiWorkerMirroredStrategy requires it).
    strategy = make_strategy(config.train.strategy)
    # Everything that can refuse the run is checked before anything is written: the config, the recorded settings
    # of a resumed folder, the data files, then every check train_student makes (stage settings, divergence markers,
    # resolutions).
    record = settings_record(config, model_dir)
    check_settings(Path(model_dir) / "flags.json", record, write=False, ignore=UNRECORDED,
                   defaults=settings_record(TrainStudentConfig(), model_dir),
                   hint="use another model_dir, or resume with the recorded settings")
    train = config.train
    degradation = Degradation(train.resolution, config.perturbations, config.sampling, config.jitter,
                              seed=train.seed)
    kwargs = {"degradation": degradation, "data_dir": config.data_dir, "input_shards": config.input_shards}
    cache = Path(config.crop_cache) if config.crop_cache else None
    train_data = load_student_data(config.train_data, config.teacher_features, config.selection, **kwargs,
                                   crop_cache=cache and cache / "train")
    val_data = load_student_data(config.val_data, config.teacher_features, config.selection, **kwargs,
                                 crop_cache=cache and cache / "val") if config.val_data else None
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if data is not None and data.resolution != train.resolution:
            raise ValueError(f"{name}={getattr(config, name)}: expected {train.resolution}x{train.resolution} faces "
                             f"(train.resolution={train.resolution}), got {data.resolution}x{data.resolution}")
    check_run(train, train_data, val_data=val_data, init_weights=config.init_checkpoint, model_dir=model_dir)
    if is_chief(strategy):
        write_json(Path(model_dir) / "flags.json", record)
    logging.info("training S-%d-%s into %s", train.resolution, train.supervision, model_dir)
    result = train_student(train, train_data, val_data=val_data, init_weights=config.init_checkpoint,
                           model_dir=model_dir, strategy=strategy)
    return {"model_dir": str(model_dir), "weights": str(result.weights_path), **result.metrics}
