"""Stopping a diverging student run on the first non-finite loss or weight, and refusing to resume it.

`StopOnNonFinite` (a Keras callback, first in each stage's callback list) checks the training loss (and its
`cls_loss` / `reg_loss` terms) after every step and the student's weights after every epoch, and raises
`TrainingDiverged` naming the stage, the epoch and step and the learning rate. Because it runs before
`BackupAndRestore` and `BestStudentCheckpoint` in `on_epoch_end`, no checkpoint of a non-finite state is written:
the backup of the last completed epoch stays the last good state, and no `done.json`, `final.weights.h5` or
`student.*` is written. `run_stage` then records the divergence in `stage_dir/diverged.json` (`write_marker`), and
`check_not_diverged` refuses to resume a folder holding such a marker: the same settings would diverge again (the data
order of each epoch is fixed by the seed), and other settings are refused by the stage guard anyway.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np

from skd_tf.utils.io import write_json

MARKER = "diverged.json"
LOSS_KEYS = ("loss", "cls_loss", "reg_loss")


class TrainingDiverged(FloatingPointError, ValueError):
    """Training produced a non-finite loss or weight. `info` holds stage, epoch, step (both 1-based), learning
    rates, the offending value and what was non-finite."""

    def __init__(self, message: str, info: dict):
        super().__init__(message)
        self.info = info


def _lr_now(model) -> float | None:
    """The optimizer's current learning rate (after the schedule), or None when it cannot be read."""
    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except Exception:  # noqa: BLE001 - reporting only; the base learning rate is reported too
        return None


def _fmt(x: float | None) -> str:
    return "unknown" if x is None else f"{x:g}"


class StopOnNonFinite(keras.callbacks.Callback):
    """Raises `TrainingDiverged` on the first step whose loss (running epoch mean, which turns non-finite with the
    first non-finite batch loss) is NaN or infinite, and at the end of an epoch whose weights are not all finite.

    `stage`: name used in the message (e.g. "stage3_sc"); `learning_rate`: the stage's base learning rate;
    `steps_per_epoch`: for the message; `weights`: the model whose weights are checked (the student).
    """

    def __init__(self, stage: str, learning_rate: float, steps_per_epoch: int | None = None,
                 weights: keras.Model | None = None, stage_dir: str | Path | None = None):
        super().__init__()
        self.stage, self.learning_rate, self.steps_per_epoch = stage, float(learning_rate), steps_per_epoch
        self.weights_model = weights
        self.stage_dir = None if stage_dir is None else Path(stage_dir)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for key in LOSS_KEYS:
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(float(np.asarray(value))):
                self._raise(step=batch + 1, what=f"{'loss' if key == 'loss' else key} {float(np.asarray(value))}")

    def on_epoch_end(self, epoch, logs=None):
        model = self.weights_model if self.weights_model is not None else self.model
        bad = [w.path for w in model.weights if not np.isfinite(keras.ops.convert_to_numpy(w)).all()]
        if bad:
            self._raise(step=self.steps_per_epoch, what=f"weights {bad[:3]}{' ...' if len(bad) > 3 else ''}",
                        at_epoch_end=True)

    def _raise(self, step: int | None, what: str, at_epoch_end: bool = False):
        epoch = self._epoch + 1
        lr_now = _lr_now(self.model)
        info = {"stage": self.stage, "epoch": epoch, "step": step, "steps_per_epoch": self.steps_per_epoch,
                "non_finite": what, "at_epoch_end": at_epoch_end, "learning_rate": self.learning_rate,
                "learning_rate_now": lr_now, "last_good_epoch": epoch - 1}
        where = f"epoch {epoch} step {step}" + (f" of {self.steps_per_epoch}" if self.steps_per_epoch else "")
        kept = (f" the last good state (end of epoch {epoch - 1}) is kept in {self.stage_dir / 'backup'};"
                if self.stage_dir is not None and epoch > 1 else "")
        raise TrainingDiverged(
            f"{self.stage}: training diverged at {where}{' (end of epoch)' if at_epoch_end else ''}: non-finite "
            f"{what} with learning rate {_fmt(self.learning_rate)} (current {_fmt(lr_now)});{kept} nothing of this "
            f"stage was saved as a result. Rerun in a new model_dir with a lower learning rate", info)


def write_marker(stage_dir: str | Path, info: dict) -> Path:
    """Records a divergence in `stage_dir/diverged.json` (refused on resume by `check_not_diverged`)."""
    path = Path(stage_dir) / MARKER
    write_json(path, info)
    return path


def describe(info: dict) -> str:
    where = f"epoch {info.get('epoch')} step {info.get('step')}"
    return (f"diverged at {where} (non-finite {info.get('non_finite')}) with learning rate "
            f"{_fmt(info.get('learning_rate'))}")


def check_not_diverged(*stage_dirs: str | Path) -> None:
    """Raises `ValueError` when any of `stage_dirs` holds a `diverged.json` marker, saying why resuming is refused."""
    for d in stage_dirs:
        path = Path(d) / MARKER
        if not path.is_file():
            continue
        try:
            info: Any = json.loads(path.read_text())
        except (OSError, ValueError):
            info = {}
        reason = describe(info) if isinstance(info, dict) else "diverged"
        raise ValueError(f"{path}: this run {reason}; resuming it is refused (it would diverge again, and its "
                         f"weights are not a result). Use a new model_dir or a lower learning rate")
