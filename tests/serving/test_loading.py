"""skd_tf.serving.loading: the resolution of a `.weights.h5` from its run record, damaged checkpoints named as
corrupt, weights that do not fit their config, student paths and the student check."""
import json
import zipfile

import keras
import pytest

from skd_tf.evaluation.view2_students import load_eval_student
from skd_tf.models.student import build_student
from skd_tf.serving import (
    CHECKPOINT_SUFFIXES,
    check_student,
    check_weights_file,
    export_student,
    load_student,
    resolve_student_path,
    run_records,
)


def _weights_run(tmp_path, p=16):
    """A training run's layout: model_dir/student.weights.h5, config.json and a stage's stage.json, all at p px."""
    model = build_student(p, feature_dim=8, num_classes=3, seed=0)
    run = tmp_path / "run"
    (run / "stage3_sc").mkdir(parents=True)
    model.save_weights(run / "student.weights.h5")
    (run / "config.json").write_text(json.dumps({"resolution": p, "feature_dim": None, "num_classes": None,
                                                 "resolved": {"feature_dim": 8, "num_classes": 3}}))
    (run / "stage3_sc" / "stage.json").write_text(json.dumps({"mode": "sc", "resolution": p}))
    return model, run


def _cut(src, dst, keep=0.5):
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def test_weights_checkpoint_resolution_comes_from_its_run_record(tmp_path):
    """The weights of a 16 px student load into a network of any p (no weight shape depends on it): a mismatching
    resolution or config is refused, naming both values and files, before anything is written."""
    model, run = _weights_run(tmp_path)
    weights = run / "student.weights.h5"
    assert run_records(weights) == [run / "config.json", run / "stage3_sc" / "stage.json"]
    loaded = load_student(weights, resolution=16)
    assert tuple(loaded.inputs[0].shape) == (None, 16, 16, 3)
    with pytest.raises(ValueError) as exc:
        load_student(weights, resolution=32)
    msg = str(exc.value)
    assert msg.startswith(f"{weights}: asked for resolution 32 but {run / 'config.json'} (the checkpoint's run "
                          f"record) says resolution 16"), msg
    cfg32 = tmp_path / "cfg32.json"
    cfg32.write_text(json.dumps({"resolution": 32, "feature_dim": 8, "num_classes": 3}))
    with pytest.raises(ValueError, match=rf"{cfg32} says resolution 32 but the checkpoint's run record "
                                         rf"{run / 'config.json'} says resolution 16"):
        load_student(weights, config=cfg32)
    with pytest.raises(ValueError, match=r"config dict says resolution 32 but"):
        load_student(weights, config={"resolution": 32, "feature_dim": 8, "num_classes": 3})
    # config.json overwritten with 32 by a refused rerun (before issue 13): the stage records still say 16.
    (run / "config.json").write_text(json.dumps({"resolution": 32, "feature_dim": 8, "num_classes": 3}))
    with pytest.raises(ValueError, match=rf"{run / 'config.json'} says resolution 32 but the checkpoint's run "
                                         rf"record {run / 'stage3_sc' / 'stage.json'} says resolution 16"):
        load_student(weights)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="says resolution 16"):
        export_student(weights, out, resolution=32, representative_images=None, kinds=("float32",),
                       config=cfg32)
    assert not out.exists()
    with pytest.raises(ValueError, match=r"asked for resolution 32 but the model's input is 16x16 px"):
        load_student(model, resolution=32)


def test_stage_checkpoint_records(tmp_path):
    _, run = _weights_run(tmp_path)
    stage_ckpt = run / "stage3_sc" / "best.weights.h5"
    build_student(16, feature_dim=8, num_classes=3, seed=0).save_weights(stage_ckpt)
    assert run_records(stage_ckpt) == [run / "stage3_sc" / "stage.json", run / "config.json"]
    assert tuple(load_student(stage_ckpt).inputs[0].shape) == (None, 16, 16, 3)
    with pytest.raises(ValueError, match=r"asked for resolution 64"):
        load_student(stage_ckpt, resolution=64)


def test_corrupt_checkpoints_are_reported_as_corrupt_naming_the_file(tmp_path):
    """Keras says "File not found" for a truncated .keras and h5py names no file for a truncated .weights.h5: both are
    refused as corrupt, naming the file, by load_student, the evaluation loader and export (which writes nothing)."""
    model, run = _weights_run(tmp_path)
    model.save(tmp_path / "good.keras")
    bad_keras = _cut(tmp_path / "good.keras", tmp_path / "bad.keras")
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip archive")
    for path in (bad_keras, garbage):
        pattern = rf"^student checkpoint {path}: corrupt \.keras file \(not a readable zip archive"
        with pytest.raises(ValueError, match=pattern):
            load_student(path)
        with pytest.raises(ValueError, match=pattern) as err:
            load_eval_student(path)
        assert "File not found" not in str(err.value)
    damaged = tmp_path / "damaged.keras"  # whole archive, one member's bytes flipped
    data = bytearray((tmp_path / "good.keras").read_bytes())
    with zipfile.ZipFile(tmp_path / "good.keras") as zf:
        info = max(zf.infolist(), key=lambda i: i.compress_size)
    middle = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    data[middle:middle + 16] = bytes(b ^ 0xFF for b in data[middle:middle + 16])
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"^student checkpoint {damaged}: corrupt \.keras file"):
        load_student(damaged)
    bad_h5 = _cut(run / "student.weights.h5", run / "cut.weights.h5")
    for load in (load_student, load_eval_student):
        with pytest.raises(ValueError, match=rf"^student checkpoint {bad_h5}: corrupt \.weights\.h5 file \(truncated "
                                             r"or damaged HDF5"):
            load(bad_h5)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"{bad_keras}: corrupt \.keras file"):
        export_student(bad_keras, out, resolution=16, representative_images=None, kinds=("float32",))
    assert not out.exists()
    assert load_student(tmp_path / "good.keras").name == model.name  # the intact files still load
    with pytest.raises(ValueError, match=rf"init_weights: {bad_h5}: corrupt \.weights\.h5 file"):
        check_weights_file(bad_h5, "init_weights:")
    check_weights_file(run / "student.weights.h5")


def test_weights_that_do_not_fit_the_config_name_the_checkpoint(tmp_path):
    _, run = _weights_run(tmp_path)
    with pytest.raises(ValueError, match=rf"^student checkpoint {run / 'student.weights.h5'}: its weights do not fit "
                                         r"the student config dict describes \(resolution 16, feature_dim 8, "
                                         r"num_classes 5\)"):
        load_student(run / "student.weights.h5", config={"resolution": 16, "feature_dim": 8, "num_classes": 5})


def test_resolve_student_path(tmp_path):
    """A run folder gives its student.keras; a missing file, a folder without one or another file type is refused,
    naming the path, what it is (`what`) and the file types the caller takes (`suffixes`)."""
    run = tmp_path / "S-16-sc"
    run.mkdir()
    (run / "student.keras").write_bytes(b"")
    (run / "student.tflite").write_bytes(b"")
    (run / "notes.txt").write_text("")
    assert resolve_student_path(run) == run / "student.keras"
    assert resolve_student_path(run / "student.tflite") == run / "student.tflite"
    with pytest.raises(FileNotFoundError, match=rf"^student {tmp_path / 'nope.keras'}: file not found \(expected a "
                                                r"\.keras, \.weights\.h5 or \.tflite file\)"):
        resolve_student_path(tmp_path / "nope.keras")
    with pytest.raises(FileNotFoundError, match=rf"^student {tmp_path}: a folder without student.keras"):
        resolve_student_path(tmp_path)
    with pytest.raises(ValueError, match=rf"^student {run / 'notes.txt'}: unknown file type \(expected \.keras, "
                                         r"\.weights\.h5 or \.tflite\)"):
        resolve_student_path(run / "notes.txt")
    with pytest.raises(ValueError, match=rf"^--student {run / 'student.tflite'}: unknown file type \(expected "
                                         r"\.keras or \.weights\.h5\)"):
        resolve_student_path(run / "student.tflite", suffixes=CHECKPOINT_SUFFIXES, what="--student")


def test_check_student():
    student = build_student(16, feature_dim=8, num_classes=3, seed=0)
    assert check_student(student) is student and check_student(student, 16) is student
    with pytest.raises(ValueError, match=r"input shape \(None, 16, 16, 3\) does not match resolution=32"):
        check_student(student, 32)
    x = keras.Input((16, 16, 3))
    plain = keras.Model(x, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x)), name="plain")
    with pytest.raises(ValueError, match=r"^--student p.keras: expected dict outputs with 'identity' and 'mimic'"):
        check_student(plain, what="--student p.keras")
    y = keras.Input((16, 8, 3))
    rect = keras.Model(y, keras.layers.Flatten()(y), name="rect")
    with pytest.raises(ValueError, match=r"^model 'rect': input shape \(None, 16, 8, 3\), expected square RGB faces"):
        check_student(rect)
