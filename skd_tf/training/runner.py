"""Student training runs: stage 1 (Eq. 1, mode `c`) then stage 3 (Eq. 4, the chosen supervision), Section III.

`train_student(config, train_data, val_data=None, init_weights=None, model_dir=...)` is the one way the project
trains a student (the demo, the LFW experiment and `experiments/train_student.py` all call it).

model_dir layout:
    config.json                 the resolved TrainConfig (+ data sizes)
    stage1_c/, stage3_<mode>/   per stage: stage.json (its settings; a rerun with other settings is refused),
                                backup/ (BackupAndRestore, removed when the stage completes),
                                best.weights.h5 + best.json (best val_loss, or loss without validation data),
                                final.weights.h5, history.csv, tensorboard/, done.json;
                                diverged.json instead of done.json/final.weights.h5 when the stage's loss or weights
                                became non-finite (epoch, step, learning rate; resuming the folder is refused)
    student.weights.h5          the trained student's weights (best of stage 3 when `restore_best`, else final)
    student.keras               the same student as a full Keras model
    result.json                 final metrics and paths

A run killed at any point and started again with the same arguments skips completed stages and resumes the current
one from its last completed epoch: the data order of epoch e depends only on (seed, e) (`skd_tf.data.pipeline`), so
the resumed run ends with the same weights as an uninterrupted one.

Refusals come before any write: `check_run` (called first by `train_student`) validates the config, the data's
resolution, every stage's recorded settings and the divergence markers without writing anything, so a refused rerun
leaves config.json as it was. Training stops on the first non-finite loss (checked every step) or weight (checked
every epoch) with `skd_tf.training.divergence.TrainingDiverged`, before any checkpoint of the non-finite state is
written; the backup of the last completed epoch is kept.

Optimiser: Adam (lr 1e-3, cosine decay to 1% over each stage) by default. Adam copes with the very different gradient
scales of L_cls and of the raw (un-normalised, D-dimensional) L_reg under the paper's equal weighting without tuning,
and converges in the few epochs a CPU demo affords; `optimizer="sgd"` gives the paper's SGD (momentum 0.9).

Length: over 400 lines because TrainConfig, the stage guards, checkpoints, resumption and the two-stage loop are one
state machine (a stage's settings, backup and done marker are read and written by the same few functions).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from skd_tf.data.pipeline import StudentData, check_join, make_distributed_dataset
from skd_tf.models.student import build_student, resolve_arch
from skd_tf.serving import check_weights_file
from skd_tf.training import losses as L
from skd_tf.training.distribute import STRATEGIES, is_chief, make_strategy, set_mixed_precision
from skd_tf.training.divergence import StopOnNonFinite, TrainingDiverged, check_not_diverged, write_marker
from skd_tf.training.model import DistillationModel
from skd_tf.utils.checks import check_bool, check_float, check_int
from skd_tf.utils.io import atomic_path, check_settings, write_json


@dataclasses.dataclass
class TrainConfig:
    """Everything a student run depends on. Defaults follow the paper where it says something (batch 256, equal
    loss weights, raw features, Xavier init) and are CPU-friendly elsewhere."""
    resolution: int = 32
    supervision: str = "sc"            # c | s | sc | dc  (Section IV-C)
    epochs: int = 10                   # stage 3 (fine-tuning) epochs
    init_epochs: int = 10              # stage 1 (mode c) epochs; skipped when init_weights is given or 0
    batch_size: int = 256
    optimizer: str = "adam"            # adam | sgd
    learning_rate: float = 1e-3        # stage 1
    finetune_learning_rate: float | None = None  # stage 3 (default: learning_rate)
    lr_schedule: str = "cosine"        # cosine | constant
    momentum: float = 0.9              # sgd only
    weight_decay: float = 0.0          # decoupled weight decay (both optimisers)
    cls_weight: float = 1.0            # weight of L_cls in Eq. 4
    reg_weight: float = 1.0            # weight of L_reg in Eq. 4
    feature_norm: str = "raw"          # raw | l2 (target f / ||f|| * feature_scale)
    feature_scale: float = 1.0
    identity_dim: int = 128
    student_arch: Any = "paper"        # a name in skd_tf.models.student.ARCHS or {"widths": [...], "head": ...}
    feature_dim: int | None = None     # D; default: the teacher features' width (4096 when there are none)
    num_classes: int | None = None     # C; default: max label + 1
    shuffle_buffer: int | None = None  # default: the whole training set (a uniform permutation per epoch)
    flip: bool = False                 # mirror half of the training faces each epoch (skd_tf.data.pipeline.mirror)
    seed: int = 0
    strategy: str = "auto"             # auto | one_device | mirrored | multi_worker
    mixed_precision: bool = False
    jit_compile: bool = False
    restore_best: bool = True          # student.weights.h5 = best checkpoint of the last stage (if validated)
    tensorboard: bool = True
    verbose: int = 0

    def validate(self) -> "TrainConfig":
        """Checks every field's type and range (raises ValueError naming the field, the expected range and the value
        given) before anything is built or written."""
        L.check_mode(self.supervision)
        if self.feature_norm not in L.FEATURE_NORMS:
            raise ValueError(f"feature_norm: expected one of {L.FEATURE_NORMS}, got {self.feature_norm!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer: expected 'adam' or 'sgd', got {self.optimizer!r}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule: expected 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy: expected one of {STRATEGIES}, got {self.strategy!r}")
        check_int("resolution", self.resolution, 1)
        for f in ("epochs", "init_epochs", "seed"):
            check_int(f, getattr(self, f), 0)
        if self.verbose != "auto":
            check_int("verbose", self.verbose, 0)
        check_int("batch_size", self.batch_size, 1)
        check_int("identity_dim", self.identity_dim, 1)
        try:
            resolve_arch(self.student_arch)
        except ValueError as err:
            raise ValueError(f"student_arch: {err}") from None
        for f in ("feature_dim", "num_classes", "shuffle_buffer"):
            if getattr(self, f) is not None:
                check_int(f, getattr(self, f), 1)
        check_float("learning_rate", self.learning_rate, positive=True)
        if self.finetune_learning_rate is not None:
            check_float("finetune_learning_rate", self.finetune_learning_rate, positive=True)
        for f in ("weight_decay", "cls_weight", "reg_weight"):
            check_float(f, getattr(self, f))
        check_float("feature_scale", self.feature_scale, positive=True)
        check_float("momentum", self.momentum)
        if self.momentum >= 1:
            raise ValueError(f"momentum: expected a finite number in [0, 1), got {self.momentum!r}")
        if self.epochs > 0:
            used = [w for w, on in (("cls_weight", L.uses_classification(self.supervision)),
                                    ("reg_weight", L.uses_regression(self.supervision))) if on]
            if all(getattr(self, w) == 0 for w in used):
                raise ValueError(f"{' and '.join(used)}: supervision {self.supervision!r} would train on a zero "
                                 f"loss; expected {' or '.join(used)} > 0")
        for f in ("flip", "mixed_precision", "jit_compile", "restore_best", "tensorboard"):
            check_bool(f, getattr(self, f))
        return self

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"TrainConfig: unknown field(s) {sorted(unknown)}")
        return cls(**d)


@dataclasses.dataclass
class TrainResult:
    student: keras.Model
    model_dir: Path
    weights_path: Path               # model_dir/student.weights.h5
    keras_path: Path                 # model_dir/student.keras
    stage1_weights_path: Path | None  # final weights of stage 1 (reuse as init_weights for other modes)
    history: dict                    # {stage name: {metric: [per-epoch values]}}
    metrics: dict                    # last epoch's metrics of the last stage


# ---------------------------------------------------------------------------------------------------------------
# Callbacks


class BestStudentCheckpoint(keras.callbacks.Callback):
    """Saves the student's weights (atomically) whenever `monitor` improves; survives resumption via best.json."""

    def __init__(self, student: keras.Model, path: Path, monitor: str, write: bool = True):
        super().__init__()
        self.student, self.path, self.monitor, self.write = student, Path(path), monitor, write
        self.meta_path = self.path.with_name("best.json")
        self.best = math.inf
        if self.meta_path.is_file():
            self.best = float(json.loads(self.meta_path.read_text())["value"])

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value) or value >= self.best:
            return
        if not all(np.isfinite(w).all() for w in self.student.get_weights()):
            return  # never a best checkpoint with NaN/inf weights (StopOnNonFinite stops such a run)
        self.best = float(value)
        if self.write:
            save_student_weights(self.student, self.path)
            write_json(self.meta_path, {"monitor": self.monitor, "value": self.best, "epoch": epoch + 1})


def save_student_weights(student: keras.Model, path: str | os.PathLike) -> None:
    with atomic_path(path, suffix=".weights.h5") as tmp:
        student.save_weights(tmp)


# ---------------------------------------------------------------------------------------------------------------
# Stages


def make_optimizer(config: TrainConfig, learning_rate: float, total_steps: int) -> keras.optimizers.Optimizer:
    lr: Any = float(learning_rate)
    if config.lr_schedule == "cosine" and total_steps > 0:
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=int(total_steps), alpha=0.01)
    wd = config.weight_decay or None
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=lr, weight_decay=wd)
    return keras.optimizers.SGD(learning_rate=lr, momentum=config.momentum, weight_decay=wd)


_STAGE_KEYS = ("batch_size", "optimizer", "lr_schedule", "momentum", "weight_decay", "cls_weight", "reg_weight",
               "feature_norm", "feature_scale", "identity_dim", "student_arch", "shuffle_buffer", "flip", "seed")


def _tensorboard_available() -> bool:
    """TensorBoard event files need the `tensorboard` package (absent from tensorflow-cpu's minimal installs)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def _backup_epoch(backup_dir: Path) -> int:
    """The epoch BackupAndRestore will resume at (0 without a backup)."""
    meta = backup_dir / "training_metadata.json"
    if not meta.is_file():
        return 0
    return int(json.loads(meta.read_text())["epoch"])


def _history_dict(h) -> dict:
    return {k: [float(v) for v in vs] for k, vs in (h.history if h is not None else {}).items()}


def stage_settings(mode: str, epochs: int, learning_rate: float, train_data: StudentData,
                   val_data: StudentData | None, config: TrainConfig) -> dict:
    """What a stage's result depends on, recorded in its stage.json (a rerun with other settings is refused)."""
    return {"mode": mode, "epochs": epochs, "learning_rate": learning_rate, "resolution": train_data.resolution,
            "train_images": len(train_data), "val_images": len(val_data) if val_data is not None else 0,
            "train_data": train_data.describe(), **{k: getattr(config, k) for k in _STAGE_KEYS}}


def check_stage(stage_dir: Path, mode: str, epochs: int, learning_rate: float, train_data: StudentData,
                val_data: StudentData | None, config: TrainConfig, *, write: bool = False) -> bool:
    """The checks a stage makes before it trains: not diverged before (`diverged.json`), the settings recorded in
    stage.json (written when `write` and absent), and, unless the stage is complete, the data it needs (teacher
    features for s/sc/dc, for validation too; alpha for s/sc). Returns True when the stage is already complete."""
    stage_dir = Path(stage_dir)
    check_not_diverged(stage_dir)
    check_settings(stage_dir / "stage.json", stage_settings(mode, epochs, learning_rate, train_data, val_data, config),
                   write=write, hint="use another model_dir", defaults={"student_arch": "paper", "flip": False})
    if (stage_dir / "done.json").is_file() and (stage_dir / "final.weights.h5").is_file():
        return True
    need_feats = L.uses_regression(mode)
    try:
        check_join(train_data.source.rows_used(train_data.table.row_ids), train_data.table,
                   need_features=need_feats, need_alpha=L.uses_alpha(mode))
    except ValueError as e:
        raise ValueError(f"{stage_dir.name}: supervision {mode!r}: {e}") from None
    if val_data is not None and need_feats and val_data.table.features is None:
        raise ValueError(f"val_data.table.features: supervision {mode!r} needs teacher features for validation too")
    return False


def run_stage(student: keras.Model, mode: str, epochs: int, learning_rate: float, stage_dir: Path,
              train_data: StudentData, val_data: StudentData | None, config: TrainConfig,
              strategy: tf.distribute.Strategy, extra_callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict:
    """Trains `student` in place with supervision `mode` for `epochs` epochs; resumable; returns a summary dict.

    A stage whose `done.json` exists is not rerun: its final weights are loaded instead. A stage whose loss or
    weights become non-finite raises `TrainingDiverged` (epoch, step, learning rate) and leaves `diverged.json`
    (resuming it is refused), its backup of the last good epoch, and no done.json / final / best checkpoint of
    the non-finite state.
    """
    stage_dir = Path(stage_dir)
    done, final_path = stage_dir / "done.json", stage_dir / "final.weights.h5"
    if check_stage(stage_dir, mode, epochs, learning_rate, train_data, val_data, config, write=is_chief(strategy)):
        student.load_weights(final_path)
        return json.loads(done.read_text())
    chief = is_chief(strategy)
    need_feats = L.uses_regression(mode)
    stage_dir.mkdir(parents=True, exist_ok=True)
    backup_dir = stage_dir / "backup" if chief else stage_dir / f"backup_worker{strategy.cluster_resolver.task_id}"
    replicas = strategy.num_replicas_in_sync
    steps = train_data.steps_per_epoch(config.batch_size, replicas)
    with strategy.scope():
        model = DistillationModel(student, mode=mode, cls_weight=config.cls_weight, reg_weight=config.reg_weight,
                                  feature_norm=config.feature_norm, feature_scale=config.feature_scale)
        model.compile(optimizer=make_optimizer(config, learning_rate, steps * epochs),
                      jit_compile=config.jit_compile)
        model.build()
    first_epoch = min(_backup_epoch(backup_dir), epochs)
    history = None
    # fit runs even when the backup already holds the last epoch (killed before done.json was written): its
    # BackupAndRestore restores those weights and trains no further epoch; skipping fit would save the stage's
    # initial weights as final.
    if epochs > 0:
        ds = make_distributed_dataset(strategy, train_data, config.batch_size, with_features=need_feats,
                                      shuffle=True, seed=config.seed, first_epoch=min(first_epoch, epochs - 1),
                                      num_epochs=max(1, epochs - first_epoch), shuffle_buffer=config.shuffle_buffer,
                                      flip=config.flip)
        val_ds = None
        if val_data is not None:
            val_ds = make_distributed_dataset(strategy, val_data, config.batch_size, with_features=need_feats,
                                              shuffle=False, num_epochs=1)
        # StopOnNonFinite first: its on_epoch_end must refuse a non-finite state before anything saves it.
        callbacks = [StopOnNonFinite(stage_dir.name, learning_rate, steps, weights=student, stage_dir=stage_dir),
                     keras.callbacks.BackupAndRestore(str(backup_dir), double_checkpoint=True,
                                                      delete_checkpoint=False),
                     BestStudentCheckpoint(student, stage_dir / "best.weights.h5",
                                           "val_loss" if val_ds is not None else "loss", write=chief)]
        if chief:
            callbacks.append(keras.callbacks.CSVLogger(str(stage_dir / "history.csv"), append=True))
            if config.tensorboard and _tensorboard_available():
                callbacks.append(keras.callbacks.TensorBoard(str(stage_dir / "tensorboard"), write_graph=False,
                                                             profile_batch=0))
        callbacks.extend(extra_callbacks)
        with warnings.catch_warnings():
            # Mode s trains no classifier: Keras would warn that identity/logits get no gradient (Section IV-C).
            warnings.filterwarnings("ignore", message="Gradients do not exist for variables")
            try:
                history = model.fit(ds, epochs=epochs, steps_per_epoch=steps, validation_data=val_ds,
                                    callbacks=callbacks, verbose=config.verbose, shuffle=False,
                                    validation_steps=val_data.steps_per_epoch(config.batch_size, replicas)
                                    if val_ds else None)
            except TrainingDiverged as e:
                if chief:
                    write_marker(stage_dir, {**e.info, "mode": mode, "base_learning_rate": learning_rate})
                raise
    summary = {"mode": mode, "epochs": epochs, "resumed_at_epoch": first_epoch, "history": _history_dict(history),
               "best": json.loads((stage_dir / "best.json").read_text()) if (stage_dir / "best.json").is_file()
               else None}
    if chief:
        save_student_weights(student, final_path)
        write_json(done, summary)
    shutil.rmtree(backup_dir, ignore_errors=True)
    return summary


def _resolve_strategy(config: TrainConfig, strategy):
    return strategy if strategy is not None else make_strategy(config.strategy)


def _stages(config: TrainConfig, init_weights) -> list[tuple[str, str, int, float]]:
    """(folder name, mode, epochs, learning rate) of the stages a run trains, in order."""
    stages = []
    if init_weights is None and config.init_epochs > 0:
        stages.append(("stage1_c", "c", config.init_epochs, config.learning_rate))
    if config.epochs > 0:
        stages.append((f"stage3_{config.supervision}", config.supervision, config.epochs,
                       config.finetune_learning_rate or config.learning_rate))
    return stages


def check_run(config: TrainConfig, train_data: StudentData, val_data: StudentData | None = None,
              init_weights: str | os.PathLike | keras.Model | None = None,
              model_dir: str | os.PathLike = "runs/student") -> TrainConfig:
    """Every check `train_student` makes before it writes or trains anything, writing nothing: the config's fields
    (`TrainConfig.validate`), the resolution of the training and validation data, the init checkpoint's existence,
    that no stage of `model_dir` diverged before, each stage's recorded settings (stage.json) and the data each stage
    needs (features, alpha). Returns the validated config; raises ValueError / FileNotFoundError."""
    config = dataclasses.replace(config).validate()
    for what, data in (("train_data", train_data), ("val_data", val_data)):
        if data is not None and data.resolution != config.resolution:
            raise ValueError(f"{what}: expected {config.resolution}x{config.resolution} faces (config.resolution), "
                             f"got {data.resolution}x{data.resolution}")
    if isinstance(init_weights, (str, os.PathLike)) and not Path(init_weights).is_file():
        raise FileNotFoundError(f"init_weights: {init_weights} does not exist (expected a student .weights.h5)")
    if isinstance(init_weights, (str, os.PathLike)):
        check_weights_file(init_weights, "init_weights:")  # truncated / corrupt: refused naming it, before any work
    model_dir = Path(model_dir)
    if model_dir.is_dir():
        check_not_diverged(*sorted(p for p in model_dir.iterdir() if p.is_dir()))
    for name, mode, epochs, lr in _stages(config, init_weights):
        check_stage(model_dir / name, mode, epochs, lr, train_data, val_data, config, write=False)
    return config


def _require_finite(student: keras.Model, what: str) -> None:
    bad = [w.path for w in student.weights if not np.isfinite(keras.ops.convert_to_numpy(w)).all()]
    if bad:
        raise TrainingDiverged(f"{what}: the student's weights {bad[:3]} are not finite; nothing was saved",
                               {"non_finite": f"weights {bad[:3]}"})


def train_student(config: TrainConfig, train_data: StudentData, val_data: StudentData | None = None,
                  init_weights: str | os.PathLike | keras.Model | None = None,
                  model_dir: str | os.PathLike = "runs/student",
                  strategy: tf.distribute.Strategy | None = None,
                  callbacks: Sequence[keras.callbacks.Callback] = ()) -> TrainResult:
    """Trains a student S-p-<supervision> end to end (Section III): stage 1 (Eq. 1, mode `c`, `init_epochs`) unless
    `init_weights` (a `.weights.h5` path or a student model) is given, then stage 3 (Eq. 4, `config.supervision`,
    `epochs`). Resumable; see the module docstring for `model_dir`'s layout.

    Everything that can refuse the run is checked first (`check_run`), so a refused run writes nothing (config.json
    included). A run whose loss or weights become non-finite raises `TrainingDiverged` (a FloatingPointError and
    ValueError) naming the stage, epoch, step and learning rate, and writes no done.json / final / student / result
    files; resuming its folder is refused.
    """
    config = check_run(config, train_data, val_data, init_weights, model_dir)
    model_dir = Path(model_dir)
    keras.utils.set_random_seed(config.seed)
    previous_policy = keras.mixed_precision.global_policy().name
    policy = set_mixed_precision(config.mixed_precision)
    try:
        strategy = _resolve_strategy(config, strategy)
        chief = is_chief(strategy)
        feature_dim = config.feature_dim or train_data.table.feature_dim or 4096
        num_classes = config.num_classes or max(train_data.table.num_classes,
                                                val_data.table.num_classes if val_data is not None else 0)
        with strategy.scope():
            student = build_student(config.resolution, feature_dim=feature_dim, num_classes=num_classes,
                                    identity_dim=config.identity_dim, seed=config.seed,
                                    synchronized_bn=strategy.num_replicas_in_sync > 1, arch=config.student_arch)
        if init_weights is not None:
            if isinstance(init_weights, keras.Model):
                student.set_weights(init_weights.get_weights())
            else:
                student.load_weights(init_weights)
            _require_finite(student, "init_weights" if isinstance(init_weights, keras.Model) else str(init_weights))
        model_dir.mkdir(parents=True, exist_ok=True)
        if chief:
            write_json(model_dir / "config.json", {
                **dataclasses.asdict(config), "resolved": {
                    "feature_dim": feature_dim, "num_classes": num_classes, "policy": policy,
                    "strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync,
                    "train_images": len(train_data), "val_images": len(val_data) if val_data is not None else 0,
                    "init_weights": str(init_weights) if isinstance(init_weights, (str, os.PathLike)) else
                    (None if init_weights is None else "<model>")}})
        history, stage1_path = {}, None
        if init_weights is None and config.init_epochs > 0:
            s1 = run_stage(student, "c", config.init_epochs, config.learning_rate, model_dir / "stage1_c",
                           train_data, val_data, config, strategy)
            history["stage1_c"] = s1["history"]
            stage1_path = model_dir / "stage1_c" / "final.weights.h5"
        stage3_dir = model_dir / f"stage3_{config.supervision}"
        last = None
        if config.epochs > 0:
            s3 = run_stage(student, config.supervision, config.epochs,
                           config.finetune_learning_rate or config.learning_rate, stage3_dir, train_data, val_data,
                           config, strategy, extra_callbacks=callbacks)
            history[stage3_dir.name] = s3["history"]
            last = stage3_dir
        elif stage1_path is not None:
            last = model_dir / "stage1_c"
        if config.restore_best and val_data is not None and last is not None and (last / "best.weights.h5").is_file():
            student.load_weights(last / "best.weights.h5")
        weights_path, keras_path = model_dir / "student.weights.h5", model_dir / "student.keras"
        final_metrics = {k: v[-1] for k, v in (history[last.name] if last is not None and last.name in history
                                               else {}).items() if v}
        _require_finite(student, str(model_dir))
        if chief:
            save_student_weights(student, weights_path)
            with atomic_path(keras_path, suffix=".keras") as tmp:
                student.save(tmp)
            write_json(model_dir / "result.json", {"metrics": final_metrics, "weights": weights_path,
                                                   "keras": keras_path, "stage1_weights": stage1_path})
        return TrainResult(student=student, model_dir=model_dir, weights_path=weights_path, keras_path=keras_path,
                           stage1_weights_path=stage1_path, history=history, metrics=final_metrics)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
