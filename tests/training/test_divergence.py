"""Tests for skd_tf.training.divergence and the up-front refusals of skd_tf.training.runner (issue 13).

A diverging run stops on the first non-finite loss or weight naming the stage, epoch, step and learning rate; no result
file (done.json, final/student weights, student.keras, result.json, a NaN best checkpoint) is written; the backup of
the last good epoch stays; resuming the folder is refused with the reason; a new folder with a sane learning rate
trains. Refused runs (bad config, missing alpha, resolution mismatch, other settings) write nothing.
"""
import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest

from skd_tf.training import StudentData, TrainConfig, train_student
from skd_tf.training.divergence import StopOnNonFinite, TrainingDiverged
from skd_tf.training.runner import BestStudentCheckpoint

RESULT_FILES = ("student.weights.h5", "student.keras", "result.json")
STAGE_RESULT_FILES = ("done.json", "final.weights.h5")


def _data(m=48, n=16, p=16, d=6, c=3, seed=0, alpha=True):
    rng = np.random.default_rng(seed)
    row_ids = np.arange(500, 500 + n)
    src = rng.choice(row_ids, size=m)
    imgs = rng.integers(0, 256, size=(m, p, p, 3)).astype(np.uint8)
    return StudentData.build(imgs, src, row_ids, np.arange(n) % c, rng.normal(size=(n, d)).astype(np.float32),
                             row_ids, (rng.random(n) > 0.3) if alpha else None)


def _cfg(**kw):
    base = dict(resolution=16, supervision="sc", epochs=1, init_epochs=1, batch_size=16, tensorboard=False)
    return TrainConfig(**{**base, **kw})


def _files(d: Path):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*")) if d.exists() else []


def _no_results(run: Path, stage: str):
    for name in RESULT_FILES:
        assert not (run / name).exists(), name
    for name in STAGE_RESULT_FILES:
        assert not (run / stage / name).exists(), f"{stage}/{name}"


def test_huge_learning_rate_diverges_then_resume_is_refused_and_a_new_folder_trains(tmp_path):
    data = _data()
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"stage1_c: training diverged at epoch 1 step \d of 3: non-finite "
                                               r"loss (nan|inf).* learning rate 1e\+06") as exc:
        train_student(_cfg(learning_rate=1e6), data, model_dir=run)
    assert isinstance(exc.value, FloatingPointError) and isinstance(exc.value, ValueError)
    assert "new model_dir with a lower learning rate" in str(exc.value)
    _no_results(run, "stage1_c")
    assert not (run / "stage3_sc").exists()
    assert not (run / "stage1_c" / "best.weights.h5").exists()
    marker = json.loads((run / "stage1_c" / "diverged.json").read_text())
    assert marker["stage"] == "stage1_c" and marker["epoch"] == 1 and 1 <= marker["step"] <= 3
    assert marker["learning_rate"] == 1e6 and marker["non_finite"].startswith("loss")
    assert "NaN" not in (run / "stage1_c" / "diverged.json").read_text()
    config_before = (run / "config.json").read_bytes()
    files_before = _files(run)

    # The same command again, or with a sane learning rate, in the same folder: refused, saying why; nothing changes.
    for lr in (1e6, 1e-3):
        with pytest.raises(ValueError, match=rf"stage1_c/diverged.json: this run diverged at epoch 1 step "
                                             rf"{marker['step']} .*learning rate 1e\+06; resuming it is refused.*"
                                             rf"new model_dir or a lower learning rate"):
            train_student(_cfg(learning_rate=lr), data, model_dir=run)
    assert (run / "config.json").read_bytes() == config_before and _files(run) == files_before

    good = train_student(_cfg(learning_rate=1e-3), data, model_dir=tmp_path / "new")
    assert all(np.isfinite(w).all() for w in good.student.get_weights())
    for name in RESULT_FILES:
        assert (tmp_path / "new" / name).is_file()


class PoisonAt(keras.callbacks.Callback):
    """Sets the student's first kernel to NaN at (epoch, step), 1-based: before that step (`when="begin"`: the step's
    loss is NaN) or after it (`when="end"`: the step's loss was finite, the weights after it are not)."""

    def __init__(self, epoch, step, when="begin"):
        super().__init__()
        self.epoch, self.step, self.when, self._e = epoch, step, when, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._e = epoch + 1

    def _poison(self, batch):
        if (self._e, batch + 1) == (self.epoch, self.step):
            w = self.model.student.trainable_weights[0]
            w.assign(np.full(w.shape, np.nan, np.float32))

    def on_train_batch_begin(self, batch, logs=None):
        if self.when == "begin":
            self._poison(batch)

    def on_train_batch_end(self, batch, logs=None):
        if self.when == "end":
            self._poison(batch)


def _poisoned_run(tmp_path, when, step):
    """Stage 1 done (1 epoch), stage 3 (2 epochs of 3 steps, with validation) poisoned in epoch 2."""
    run = tmp_path / when
    with pytest.raises(TrainingDiverged) as exc:
        train_student(_cfg(epochs=2, finetune_learning_rate=5e-4), _data(), val_data=_data(m=16, seed=2),
                      model_dir=run, callbacks=[PoisonAt(2, step, when)])
    return run, exc.value


def test_nan_loss_in_epoch_two_keeps_epoch_one_as_the_resume_point(tmp_path):
    run, err = _poisoned_run(tmp_path, "begin", step=2)
    msg = str(err)
    assert msg.startswith("stage3_sc: training diverged at epoch 2 step 2 of 3: non-finite loss nan")
    assert "learning rate 0.0005" in msg and "end of epoch 1" in msg and str(run / "stage3_sc" / "backup") in msg
    assert (run / "stage1_c" / "done.json").is_file()  # the completed stage stays complete
    _no_results(run, "stage3_sc")
    stage = run / "stage3_sc"
    assert json.loads((stage / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert json.loads((stage / "best.json").read_text())["epoch"] == 1
    marker = json.loads((stage / "diverged.json").read_text())
    assert (marker["epoch"], marker["step"], marker["last_good_epoch"], marker["mode"]) == (2, 2, 1, "sc")
    assert marker["learning_rate"] == 5e-4 and 0 < marker["learning_rate_now"] <= 5e-4
    # The best checkpoint is epoch 1's, finite.
    from skd_tf.models.student import build_student
    s = build_student(16, feature_dim=6, num_classes=3)
    s.load_weights(stage / "best.weights.h5")
    assert all(np.isfinite(w).all() for w in s.get_weights())
    with pytest.raises(ValueError, match="diverged at epoch 2 step 2"):
        train_student(_cfg(epochs=2, finetune_learning_rate=5e-4), _data(), val_data=_data(m=16, seed=2),
                      model_dir=run)


def test_non_finite_weights_after_the_last_step_are_caught_before_the_epoch_is_saved(tmp_path):
    """The loss of the epoch's last step is finite, the weights after it are not: the epoch-end check (the first
    callback) refuses the state before BackupAndRestore, BestStudentCheckpoint or done.json record it."""
    run, err = _poisoned_run(tmp_path, "end", step=3)
    assert "epoch 2 step 3 of 3 (end of epoch): non-finite weights" in str(err)
    stage = run / "stage3_sc"
    _no_results(run, "stage3_sc")
    assert json.loads((stage / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert json.loads((stage / "best.json").read_text())["epoch"] == 1
    assert json.loads((stage / "diverged.json").read_text())["at_epoch_end"] is True
    history = (stage / "history.csv").read_text().strip().splitlines()
    assert len(history) == 2  # header + epoch 1: the non-finite epoch 2 is not logged as completed


def test_best_checkpoint_never_saves_non_finite_weights(tmp_path):
    from skd_tf.models.student import build_student

    student = build_student(16, feature_dim=4, num_classes=2, seed=0)
    cb = BestStudentCheckpoint(student, tmp_path / "best.weights.h5", "loss")
    w = student.trainable_weights[0]
    w.assign(np.full(w.shape, np.inf, np.float32))
    cb.on_epoch_end(0, {"loss": 1.0})
    assert not (tmp_path / "best.weights.h5").exists() and not (tmp_path / "best.json").exists()
    assert math.isinf(cb.best)


def test_stop_on_non_finite_with_plain_keras_model():
    """The callback on its own: a NaN in the 5th batch of epoch 1 (batches of 4) stops fit at step 5."""
    x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    x[17] = np.nan
    y = np.zeros((32, 1), np.float32)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    with pytest.raises(TrainingDiverged, match=r"toy: training diverged at epoch 1 step 5 of 8: non-finite loss nan "
                                               r"with learning rate 0.01 \(current 0.01\)") as exc:
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0,
                  callbacks=[StopOnNonFinite("toy", 0.01, steps_per_epoch=8)])
    assert exc.value.info["epoch"] == 1 and exc.value.info["step"] == 5


# ---------------------------------------------------------------------------------------------------------------
# Refused before anything is written


@pytest.mark.parametrize("field,value,expected", [
    ("learning_rate", -1.0, "learning_rate: expected a finite number > 0, got -1.0"),
    ("learning_rate", float("nan"), "learning_rate: expected a finite number > 0, got nan"),
    ("learning_rate", 0.0, "learning_rate: expected a finite number > 0, got 0.0"),
    ("finetune_learning_rate", float("inf"), "finetune_learning_rate: expected a finite number > 0, got inf"),
    ("cls_weight", -1.0, "cls_weight: expected a finite number >= 0, got -1.0"),
    ("reg_weight", float("nan"), "reg_weight: expected a finite number >= 0, got nan"),
    ("weight_decay", -0.1, "weight_decay: expected a finite number >= 0, got -0.1"),
    ("feature_scale", 0.0, "feature_scale: expected a finite number > 0, got 0.0"),
    ("momentum", 1.5, "momentum: expected a finite number in [0, 1), got 1.5"),
    ("batch_size", 0, "batch_size: expected an integer >= 1, got 0"),
    ("epochs", 1.5, "epochs: expected an integer >= 0, got 1.5"),
    ("strategy", "tpu", "strategy: expected one of"),
])
def test_bad_config_is_refused_before_any_file_is_written(tmp_path, field, value, expected):
    with pytest.raises(ValueError) as exc:
        train_student(_cfg(**{field: value}), _data(m=16), model_dir=tmp_path / "run")
    assert str(exc.value).startswith(expected), str(exc.value)
    assert not (tmp_path / "run").exists()


def test_zero_loss_weights_are_refused():
    with pytest.raises(ValueError, match=r"cls_weight and reg_weight: supervision 'sc' would train on a zero loss"):
        _cfg(cls_weight=0.0, reg_weight=0.0).validate()
    _cfg(supervision="c", reg_weight=0.0).validate()  # mode c does not use L_reg


def test_sc_without_alpha_is_refused_before_stage_1(tmp_path):
    with pytest.raises(ValueError, match=r"stage3_sc: supervision 'sc': SourceTable.alpha: this supervision mode "
                                         r"needs the selection alpha"):
        train_student(_cfg(init_epochs=1), _data(alpha=False), model_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()  # no stage1_c/, no config.json


def test_val_data_of_another_resolution_is_refused_up_front(tmp_path):
    with pytest.raises(ValueError, match=r"val_data: expected 16x16 faces \(config.resolution\), got 32x32"):
        train_student(_cfg(), _data(), val_data=_data(m=16, p=32), model_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_refused_rerun_leaves_config_json_unchanged(tmp_path):
    data = _data(m=32)
    run = tmp_path / "run"
    train_student(_cfg(supervision="c", init_epochs=0), data, model_dir=run)
    before = {p: p.read_bytes() for p in run.rglob("*.json")}
    with pytest.raises(ValueError, match=r"stage3_c/stage.json: this folder was made with other settings "
                                         r"\{'epochs': \(1, 2\)\}"):
        train_student(_cfg(supervision="c", init_epochs=0, epochs=2), data, model_dir=run)
    with pytest.raises(FileNotFoundError, match="init_weights: .*nope.weights.h5 does not exist"):
        train_student(_cfg(supervision="c", init_epochs=0), data, model_dir=run,
                      init_weights=tmp_path / "nope.weights.h5")
    assert {p: p.read_bytes() for p in run.rglob("*.json")} == before


def test_truncated_init_weights_are_refused_naming_the_file(tmp_path):
    ckpt = tmp_path / "init.weights.h5"
    ckpt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)  # an HDF5 signature and nothing after it
    with pytest.raises(ValueError, match=rf"^init_weights: {ckpt}: corrupt \.weights\.h5 file \(truncated or "
                                         r"damaged HDF5"):
        train_student(_cfg(supervision="c", init_epochs=0), _data(m=16), model_dir=tmp_path / "run",
                      init_weights=ckpt)
    assert not (tmp_path / "run").exists()
