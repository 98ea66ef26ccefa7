"""UCCS identification CLI (Section IV-D) end to end on synthetic UCCS-format data (skd_tf.data.uccs)."""
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from experiments import eval_uccs
from skd_tf.data.uccs import write_synthetic_uccs
from skd_tf.models.student import build_student

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def uccs_csv(tmp_path_factory):
    return write_synthetic_uccs(tmp_path_factory.mktemp("uccs"), num_subjects=185, max_faces=6, seed=0)


def test_finetune_frozen_student(tmp_path, uccs_csv):
    pretrained = build_student(16, feature_dim=32, num_classes=7, seed=0)
    pretrained.save(tmp_path / "pre.keras")
    r = eval_uccs.run(str(uccs_csv), str(tmp_path / "out"), student=str(tmp_path / "pre.keras"), epochs=1,
                      batch_size=128)
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


def test_cli_from_scratch(tmp_path, uccs_csv):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.eval_uccs", f"--uccs_csv={uccs_csv}", "--num_subjects=40", "--epochs=1",
         "--batch_size=64", f"--out_dir={out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "UCCS 40 subjects" in proc.stdout and "top-5 error" in proc.stdout
    r = json.loads((out / "results.json").read_text())
    assert r["num_subjects"] == 40 and r["frozen_layers"] == [] and r["student"] is None


def test_empty_test_split_is_refused_before_training_naming_the_csv(tmp_path):
    """Subjects of 2-4 faces give the 4:1 split no test face: a clear error instead of Keras' UnboundLocalError."""
    csv = write_synthetic_uccs(tmp_path / "uccs", num_subjects=6, max_faces=4, num_unknown=0, seed=0)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"^{csv}: the test split of the UCCS subset is empty \(\d+ training / 0 test "
                                         r"faces of 6 subjects, at most [234] usable faces per subject"):
        eval_uccs.run(str(csv), str(out), num_subjects=6, epochs=1, batch_size=8)
    assert not out.exists()  # nothing trained, no results.json


@pytest.mark.parametrize("kwargs,exc,pattern", [
    (dict(epochs=0), ValueError, r"^--epochs: expected a positive integer, got 0"),
    (dict(batch_size=-1), ValueError, r"^--batch_size: expected a positive integer"),
    (dict(num_subjects=0), ValueError, r"^--num_subjects: expected a positive integer"),
    (dict(learning_rate=float("nan")), ValueError, r"^--learning_rate: expected a finite number > 0, got nan"),
    (dict(on_corrupt="ignore"), ValueError, r"^--on_corrupt: expected 'fail' or 'skip'"),
    (dict(student="nope.keras"), FileNotFoundError,
     r"^--student .*nope.keras: file not found \(expected a \.keras or \.weights\.h5 file\)"),
    (dict(image_dir="no_such_dir"), FileNotFoundError, r"^--image_dir: .*no_such_dir is not a folder"),
])
def test_bad_flags_are_refused_before_any_image_is_read(tmp_path, monkeypatch, kwargs, exc, pattern):
    import skd_tf.data.uccs as uccs

    def no_read(*args, **kw):
        raise AssertionError("the UCCS images were read although a flag was bad")

    monkeypatch.setattr(uccs, "load_uccs_subset", no_read)
    (tmp_path / "training.csv").write_text("FILE,FACE_ID,SUBJECT_ID,FACE_X,FACE_Y,FACE_WIDTH,FACE_HEIGHT\n")
    kw = {k: str(tmp_path / v) if k in ("student", "image_dir") else v for k, v in kwargs.items()}
    with pytest.raises(exc, match=pattern):
        eval_uccs.run(str(tmp_path / "training.csv"), str(tmp_path / "out"), **kw)
    with pytest.raises(FileNotFoundError, match=r"^--uccs_csv: .*missing.csv does not exist"):
        eval_uccs.run(str(tmp_path / "missing.csv"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
