"""Tests for skd_tf.training.runner: two-stage runs, resumption after a kill, MirroredStrategy equivalence."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from skd_tf.training import StudentData, TrainConfig, train_student

ROOT = Path(__file__).resolve().parents[2]


def _data(m=48, n=16, p=16, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    row_ids = np.arange(500, 500 + n)
    labels = np.arange(n) % c
    feats = rng.normal(size=(n, d)).astype(np.float32)
    alpha = rng.random(n) > 0.3
    src = rng.choice(row_ids, size=m)
    imgs = rng.integers(0, 256, size=(m, p, p, 3)).astype(np.uint8)
    return StudentData.build(imgs, src, row_ids, labels, feats, row_ids, alpha)


class Killed(Exception):
    pass


class KillAfter(keras.callbacks.Callback):
    def __init__(self, k):
        super().__init__()
        self.k = k

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.k:
            raise Killed(f"killed after epoch {epoch + 1}")


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    data = _data()
    cfg = TrainConfig(resolution=16, supervision="sc", epochs=3, init_epochs=1, batch_size=24, seed=3,
                      tensorboard=False)
    ref = train_student(cfg, data, model_dir=tmp_path / "ref")
    with pytest.raises(Killed):
        train_student(cfg, data, model_dir=tmp_path / "run", callbacks=[KillAfter(2)])
    stage3 = tmp_path / "run" / "stage3_sc"
    assert json.loads((stage3 / "backup" / "training_metadata.json").read_text())["epoch"] == 2
    assert not (stage3 / "done.json").exists() and (tmp_path / "run" / "stage1_c" / "done.json").exists()
    resumed = train_student(cfg, data, model_dir=tmp_path / "run")
    done = json.loads((stage3 / "done.json").read_text())
    assert done["resumed_at_epoch"] == 2 and len(done["history"]["loss"]) == 1
    for a, b in zip(ref.student.get_weights(), resumed.student.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert not (stage3 / "backup").exists()
    # The CSV log spans every epoch, and the artefacts the other stages read exist.
    assert len((stage3 / "history.csv").read_text().strip().splitlines()) == 1 + 3
    for name in ("config.json", "result.json", "student.weights.h5", "student.keras"):
        assert (tmp_path / "run" / name).is_file()
    loaded = keras.models.load_model(tmp_path / "run" / "student.keras")
    x = data.source.images[:2].astype(np.float32)
    np.testing.assert_allclose(loaded(x)["identity"], resumed.student(x)["identity"], atol=1e-5)
    # A finished run started again trains nothing and returns the same student.
    again = train_student(cfg, data, model_dir=tmp_path / "run")
    for a, b in zip(again.student.get_weights(), resumed.student.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_killed_streaming_run_resumes_to_the_same_weights(tmp_path, umdfaces_dummy_dir):
    """A student streamed from TFDS (crops made on the fly, fresh perturbation per epoch) killed after an epoch and
    resumed ends with the weights of an uninterrupted run: each epoch's batches depend only on (seed, epoch)."""
    from skd_tf.data.pipeline import SourceTable
    from skd_tf.data.sources import Degradation, TfdsFaces

    faces = TfdsFaces(umdfaces_dummy_dir, id_key=None, face_buffer=4)
    rng = np.random.default_rng(0)
    table = SourceTable(faces.row_ids, faces.labels, rng.normal(size=(len(faces), 6)).astype(np.float32),
                        rng.random(len(faces)) > 0.3)
    data = StudentData.stream(faces, Degradation(16, sampling="fresh", seed=2), table)
    cfg = TrainConfig(resolution=16, supervision="sc", epochs=3, init_epochs=1, batch_size=4, seed=3,
                      tensorboard=False)
    ref = train_student(cfg, data, model_dir=tmp_path / "ref")
    with pytest.raises(Killed):
        train_student(cfg, data, model_dir=tmp_path / "run", callbacks=[KillAfter(2)])
    resumed = train_student(cfg, data, model_dir=tmp_path / "run")
    assert json.loads((tmp_path / "run" / "stage3_sc" / "done.json").read_text())["resumed_at_epoch"] == 2
    for a, b in zip(ref.student.get_weights(), resumed.student.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    stage = json.loads((tmp_path / "run" / "stage3_sc" / "stage.json").read_text())
    assert stage["train_data"]["sampling"] == "fresh" and stage["train_images"] == 12


def test_finetune_from_stage1_checkpoint_with_validation(tmp_path):
    data, val = _data(seed=1), _data(m=16, seed=2)
    cfg = TrainConfig(resolution=16, supervision="c", epochs=1, init_epochs=2, batch_size=16, tensorboard=False)
    base = train_student(cfg, data, val_data=val, model_dir=tmp_path / "c")
    assert set(base.history) == {"stage1_c", "stage3_c"} and base.stage1_weights_path.is_file()
    assert "val_loss" in base.metrics and (tmp_path / "c" / "stage3_c" / "best.weights.h5").is_file()
    for mode in ("s",):
        cfg_m = TrainConfig(resolution=16, supervision=mode, epochs=1, batch_size=16, feature_norm="l2",
                            feature_scale=2.0, tensorboard=False)
        res = train_student(cfg_m, data, val_data=val, init_weights=base.stage1_weights_path,
                            model_dir=tmp_path / mode)
        assert set(res.history) == {f"stage3_{mode}"}
        assert res.metrics["reg_loss"] > 0
        assert (res.metrics["cls_loss"] == 0) == (mode == "s")
    cfg_json = json.loads((tmp_path / "s" / "config.json").read_text())
    assert cfg_json["supervision"] == "s" and cfg_json["resolved"]["init_weights"].endswith("final.weights.h5")
    with pytest.raises(ValueError, match="alpha"):
        no_alpha = StudentData(data.source, type(data.table)(data.table.row_ids, data.table.labels,
                                                             data.table.features))
        train_student(TrainConfig(resolution=16, supervision="sc", epochs=1, init_epochs=0, batch_size=16,
                                  tensorboard=False), no_alpha, model_dir=tmp_path / "bad")
    with pytest.raises(ValueError, match="resolution"):
        train_student(TrainConfig(resolution=32), data, model_dir=tmp_path / "bad2")


_MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from skd_tf.models.student import build_student
    from skd_tf.training import DistillationModel
    from skd_tf.training.distribute import make_strategy

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(8, 16, 16, 3)).astype(np.uint8)
    y = {"label": rng.integers(0, 3, size=8), "feature": rng.normal(size=(8, 6)).astype(np.float32),
         "alpha": np.array([1, 0, 1, 1, 0, 1, 1, 0], np.float32)}

    def one_step(strategy):
        with strategy.scope():
            student = build_student(16, 6, 3, seed=0, synchronized_bn=strategy.num_replicas_in_sync > 1)
            model = DistillationModel(student, mode="sc")
            model.compile(optimizer=keras.optimizers.SGD(0.05))
        ds = tf.data.Dataset.from_tensors((x, y))
        logs = model.fit(ds, epochs=1, verbose=0).history
        return {k: v[0] for k, v in logs.items()}, [w.tolist() for w in student.get_weights()]

    mirrored = make_strategy("mirrored")
    assert mirrored.num_replicas_in_sync == 2, mirrored.num_replicas_in_sync
    one = one_step(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two = one_step(mirrored)
    json.dump({"one": one, "two": two}, sys.stdout)
""")


def test_mirrored_strategy_on_two_logical_cpus_matches_one_device():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", _MIRRORED], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    (logs1, w1), (logs2, w2) = res["one"], res["two"]
    for k in ("loss", "cls_loss", "reg_loss"):
        np.testing.assert_allclose(logs2[k], logs1[k], rtol=1e-5)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-4, atol=1e-5)


def test_mixed_precision_run_keeps_float32_heads_and_restores_policy(tmp_path):
    data = _data(m=32)
    cfg = TrainConfig(resolution=16, supervision="sc", epochs=1, init_epochs=0, batch_size=16, mixed_precision=True,
                      tensorboard=False)
    res = train_student(cfg, data, model_dir=tmp_path / "mp")
    assert keras.mixed_precision.global_policy().name == "float32"
    assert json.loads((tmp_path / "mp" / "config.json").read_text())["resolved"]["policy"].startswith("mixed_")
    assert res.student.get_layer("conv1").compute_dtype in ("bfloat16", "float16")
    out = res.student(data.source.images[:2].astype(np.float32))
    assert all(v.dtype == "float32" for v in out.values())
    assert np.isfinite(res.metrics["loss"])


def test_stage_folder_with_other_settings_is_refused(tmp_path):
    data = _data(m=32)
    cfg = TrainConfig(resolution=16, supervision="c", epochs=1, init_epochs=0, batch_size=16, tensorboard=False)
    train_student(cfg, data, model_dir=tmp_path / "r")
    with pytest.raises(ValueError, match="other settings.*epochs"):
        train_student(TrainConfig(**{**cfg.__dict__, "epochs": 2}), data, model_dir=tmp_path / "r")


def test_run_killed_after_the_last_epochs_backup_resumes_to_the_same_weights(tmp_path):
    """Killed after the backup of the stage's last epoch but before done.json: the resumed stage restores the backup
    (it used to skip fit and save the stage's initial weights as final)."""
    data = _data()
    cfg = TrainConfig(resolution=16, supervision="sc", epochs=2, init_epochs=1, batch_size=24, seed=3,
                      tensorboard=False)
    ref = train_student(cfg, data, model_dir=tmp_path / "ref")
    with pytest.raises(Killed):
        train_student(cfg, data, model_dir=tmp_path / "run", callbacks=[KillAfter(2)])
    stage3 = tmp_path / "run" / "stage3_sc"
    assert json.loads((stage3 / "backup" / "training_metadata.json").read_text())["epoch"] == 2
    assert not (stage3 / "done.json").exists()
    resumed = train_student(cfg, data, model_dir=tmp_path / "run")
    assert json.loads((stage3 / "done.json").read_text())["resumed_at_epoch"] == 2
    for a, b in zip(ref.student.get_weights(), resumed.student.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_student_arch_is_trained_recorded_and_reloaded(tmp_path):
    # A custom architecture (TrainConfig.student_arch, issue 14) is what trains, goes into config.json, and is what
    # the loader rebuilds around student.weights.h5: same outputs as the trained model.
    from skd_tf.models.student import arch_of
    from skd_tf.serving import load_student

    arch = {"widths": [8, 8, 16, 8, 16, 16, 8, 16, 24, 40], "head": "bn_relu"}
    cfg = TrainConfig(resolution=16, supervision="sc", epochs=1, init_epochs=1, batch_size=24, seed=1,
                      tensorboard=False, student_arch=arch)
    result = train_student(cfg, _data(), model_dir=tmp_path / "run")
    assert arch_of(result.student).widths == tuple(arch["widths"])
    assert arch_of(result.student).head == "bn_relu"
    loaded = load_student(tmp_path / "run" / "student.weights.h5")
    assert arch_of(loaded) == arch_of(result.student)
    x = np.random.default_rng(0).integers(0, 256, size=(3, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)["identity"]), np.asarray(result.student(x)["identity"]),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="student_arch"):
        TrainConfig(student_arch="huge").validate()
