"""skd_tf.experiments.uccs (Section IV-D) on synthetic UCCS-format data (skd_tf.data.uccs); the CLI is tested in
test_eval_uccs.py."""
import json

import keras
import numpy as np
import pytest

from skd_tf import experiments
from skd_tf.configs import apply_overrides
from skd_tf.configs.uccs import UccsConfig
from skd_tf.data.uccs import write_synthetic_uccs
from skd_tf.experiments import uccs
from skd_tf.models.student import build_student


@pytest.fixture(scope="module")
def uccs_csv(tmp_path_factory):
    return write_synthetic_uccs(tmp_path_factory.mktemp("uccs"), num_subjects=185, max_faces=6, seed=0)


def test_finetune_frozen_student(tmp_path, uccs_csv):
    pretrained = build_student(16, feature_dim=32, num_classes=7, seed=0)
    pretrained.save(tmp_path / "pre.keras")
    r = experiments.run("uccs", tmp_path / "out", {"uccs_csv": str(uccs_csv), "student": str(tmp_path / "pre.keras"),
                                                   "train.epochs": 1, "train.batch_size": 128})
    assert r["num_subjects"] == 180 and r["test_images"] > 0 and r["num_skipped"] == 0 and r["skipped"] == []
    assert 0.0 <= r["top5_error"] <= r["top1_error"] <= 1.0
    assert r["top1_correct"] == round((1 - r["top1_error"]) * r["test_images"])
    assert "conv1" in r["frozen_layers"] and "bn10" in r["frozen_layers"] and "mimic" not in r["frozen_layers"]
    tuned = keras.models.load_model(tmp_path / "out" / "student" / "student.keras", compile=False)
    assert tuned.get_layer("logits").units == 180
    for name in ("conv1", "conv10", "bn4"):  # frozen: unchanged, BN statistics included
        for a, b in zip(tuned.get_layer(name).get_weights(), pretrained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(tuned.get_layer("mimic").get_weights()[0], pretrained.get_layer("mimic").get_weights()[0])
    assert json.loads((tmp_path / "out" / "results.json").read_text())["top5_error"] == r["top5_error"]
    assert uccs.format_result(r).startswith(f"UCCS 180 subjects, {r['train_images']} training / {r['test_images']} "
                                            f"test faces at 16x16: top-1 error {100 * r['top1_error']:.2f}%")


def test_empty_test_split_is_refused_before_training_naming_the_csv(tmp_path):
    """Subjects of 2-4 faces give the 4:1 split no test face: a clear error instead of Keras' UnboundLocalError."""
    csv = write_synthetic_uccs(tmp_path / "uccs", num_subjects=6, max_faces=4, num_unknown=0, seed=0)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"^{csv}: the test split of the UCCS subset is empty \(\d+ training / 0 test "
                                         r"faces of 6 subjects, at most [234] usable faces per subject"):
        experiments.run("uccs.quick", out, {"uccs_csv": str(csv), "num_subjects": 6, "train.batch_size": 8})
    assert not out.exists()  # nothing trained, no results.json


@pytest.mark.parametrize("overrides,exc,pattern", [
    ({"train.epochs": 0}, ValueError, r"^train\.epochs: expected an integer >= 1, got 0"),
    ({"train.batch_size": -1}, ValueError, r"^train\.batch_size: expected an integer >= 1, got -1"),
    ({"num_subjects": 0}, ValueError, r"^num_subjects: expected an integer >= 1, got 0"),
    ({"train.learning_rate": float("nan")}, ValueError,
     r"^train\.learning_rate: expected a finite number > 0, got nan"),
    ({"train.supervision": "sc"}, ValueError, r"^train\.supervision: expected 'c' \(UCCS trains with class"),
    ({"on_corrupt": "ignore"}, ValueError, r"^on_corrupt='ignore': expected 'fail'"),
    ({"student": "nope.keras"}, FileNotFoundError,
     r"^student .*nope.keras: file not found \(expected a \.keras or \.weights\.h5 file\)"),
    ({"image_dir": "no_such_dir"}, FileNotFoundError, r"^image_dir: .*no_such_dir is not a folder"),
    ({"uccs_csv": "missing.csv"}, FileNotFoundError, r"^uccs_csv: .*missing.csv does not exist"),
    ({"uccs_csv": None}, FileNotFoundError, r"^uccs_csv: None does not exist"),
])
def test_bad_fields_are_refused_before_any_image_is_read(tmp_path, monkeypatch, overrides, exc, pattern):
    def no_read(*args, **kw):
        raise AssertionError("the UCCS images were read although a field was bad")

    monkeypatch.setattr(uccs, "load_uccs_subset", no_read)
    (tmp_path / "training.csv").write_text("FILE,FACE_ID,SUBJECT_ID,FACE_X,FACE_Y,FACE_WIDTH,FACE_HEIGHT\n")
    paths = {k: str(tmp_path / v) for k, v in overrides.items() if k in ("student", "image_dir", "uccs_csv") and v}
    with pytest.raises(exc, match=pattern):
        config = apply_overrides(UccsConfig(uccs_csv=str(tmp_path / "training.csv")), {**overrides, **paths})
        uccs.run(config, tmp_path / "out")
    assert not (tmp_path / "out").exists()
