"""skd_tf.evaluation.lfw_view2: any student on LFW View 2 (real LFW; skipped when ../shared/data is absent)."""
import json

import numpy as np
import pytest

from skd_tf import grid
from skd_tf.data.align import align_face
from skd_tf.data.degrade import degrade_faces, upscale_to
from skd_tf.evaluation import lfw_view2 as V
from skd_tf.evaluation.verification import cosine_scores, roc_auc
from skd_tf.evaluation.view2_faces import descriptor_features
from skd_tf.features.extract import read_rgb
from skd_tf.models import teachers
from skd_tf.models.student import build_student


def _no_work(monkeypatch):
    """Makes any teacher build or image read fail: validation errors must come first."""
    def boom(*a, **k):
        raise AssertionError("work started before the inputs were validated")

    monkeypatch.setattr(teachers, "build", boom)
    monkeypatch.setattr(V, "prepare_faces", boom)


# ----------------------------------------------------------------------------------------------------------- inputs

def test_bad_inputs_fail_before_any_work(lfw_root, tmp_path, student16, save_run, monkeypatch):
    good = save_run(student16, tmp_path / "run" / "S-16-c")
    out = tmp_path / "out"
    _no_work(monkeypatch)

    def fails(exc, match, students=(good,), **kw):
        kw.setdefault("lfw_root", lfw_root)
        with pytest.raises(exc, match=match):
            V.evaluate_view2(list(students), out, log=None, **kw)

    fails(FileNotFoundError, "nope.keras", students=[tmp_path / "nope.keras"])
    (tmp_path / "model.txt").write_text("x")
    fails(ValueError, "model.txt.*expected .keras", students=[tmp_path / "model.txt"])
    (tmp_path / "corrupt.keras").write_bytes(b"not a zip" * 8)
    fails(ValueError, "corrupt.keras", students=[tmp_path / "corrupt.keras"])
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer" * 8)
    fails(ValueError, "junk.tflite", students=[tmp_path / "junk.tflite"])
    student16.save_weights(tmp_path / "lonely.weights.h5")
    fails(FileNotFoundError, "lonely.weights.h5.*config", students=[tmp_path / "lonely.weights.h5"])
    fails(ValueError, "folds: expected integers 1..10", folds=[11])
    fails(FileNotFoundError, "exclude_people .*absent.txt", exclude_people=tmp_path / "absent.txt")
    np.save(tmp_path / "tm.npy", np.zeros(64, np.float32))
    fails(ValueError, r"tm.npy: expected D = 128", target_mean=tmp_path / "tm.npy")
    fails(FileNotFoundError, "tm_missing.npy", target_mean=tmp_path / "tm_missing.npy")
    fails(FileNotFoundError, "pairs.txt", lfw_root=tmp_path)
    fails(ValueError, "teacher_features", teacher_features="dlib")
    big = save_run(build_student(160, feature_dim=128, num_classes=3), tmp_path / "big")
    fails(ValueError, r"big/student.keras: input resolution 160 px, expected 8..150", students=[big])
    assert not (out / "results.json").exists()


def test_json_safe_writes_null_for_nan_and_inf():
    obj = V.json_safe({"a": float("nan"), "b": np.array([1.0, np.inf]), "c": np.float32(2.5), "d": (1, -np.inf)})
    assert obj == {"a": None, "b": [1.0, None], "c": 2.5, "d": [1, None]}
    json.dumps(obj, allow_nan=False)


# --------------------------------------------------------------------------------------------------- figures

def test_teacher_on_descriptors_reproduces_dlib_view2(lfw_root, tmp_path):
    """T on dlib/descriptors.npy over all 6,000 pairs: dlib/README.md's cosine row (AUC 0.99806, 98.77 +- 0.52)."""
    if not (lfw_root / "dlib" / "descriptors.npy").is_file():
        pytest.skip(f"{lfw_root / 'dlib' / 'descriptors.npy'} not found")
    ev = V.evaluate_view2([], tmp_path, lfw_root=lfw_root, teacher_features="descriptors", log=None)
    t = ev.results["reports"]["T"]
    assert t["n_pairs"] == 6000 and len(t["accuracy_per_fold"]) == 10
    assert round(t["roc_auc"], 5) == 0.99806
    assert round(100 * t["accuracy_mean"], 2) == 98.77 and round(100 * t["accuracy_std"], 2) == 0.52
    ref = json.loads((lfw_root / "dlib" / "lfw_eval.json").read_text())["cosine"]
    assert abs(t["roc_auc"] - ref["roc_auc"]) < 1e-9
    assert abs(t["accuracy_mean"] - ref["tenfold_accuracy_mean"]) < 1e-9
    res = V.load_results(tmp_path / "results.json")  # strict JSON
    assert res["rows"][0]["model"] == "T" and abs(res["rows"][0]["auc"] - 99.8055) < 1e-3
    assert res["pairs"]["n_images"] == 7701 and (tmp_path / "roc.png").is_file()


def test_scores_equal_grid_pair_scores_by_hand(lfw_root, tmp_path, student16, save_run):
    """Every row on 20 pairs of fold 1 against the same computation done by hand with the shared library pieces."""
    path = save_run(student16, tmp_path / "run" / "students" / "S-16-sc")
    mean = np.random.default_rng(0).normal(0.0, 0.05, 128).astype(np.float32)
    np.save(tmp_path / "run" / "target_mean.npy", mean)  # lfw_lowres layout: <out_dir>/students/S-16-sc/
    out = tmp_path / "out"
    ev = V.evaluate_view2([path], out, lfw_root=lfw_root, folds=[1], max_pairs=20, teacher_features="port", log=None)
    pairs = ev.pairs
    assert list(ev.results["reports"]) == ["T", "T-16-up", "S-16-sc"]
    assert ev.results["students"][0]["target_mean"] == str(tmp_path / "run" / "target_mean.npy")

    images = np.stack([read_rgb(lfw_root / "lfw-deepfunneled" / p) for p in pairs.paths])
    crops = degrade_faces(images, pairs.landmarks, pairs.rows, 16, num_perturbations=1, jitter=0.0, seed=0)[0]
    chips = np.stack([align_face(im, lm, 150) for im, lm in zip(images, pairs.landmarks)])
    teacher = teachers.build("dlib_resnet")
    t_hr = teacher.predict(chips, verbose=0)
    t_up = teacher.predict(upscale_to(crops, 150), verbose=0)
    a, b = pairs.pair_a, pairs.pair_b
    np.testing.assert_allclose(ev.scores["T"], cosine_scores(t_hr[a], t_hr[b]), atol=1e-5)
    np.testing.assert_allclose(ev.scores["T-16-up"], cosine_scores(t_up[a], t_up[b]), atol=1e-5)
    hand = grid.pair_scores(grid.embed(student16, crops), a, b, teacher_hr=t_hr - mean)
    for k in ("identity", "mimic", "both", "cross"):
        np.testing.assert_allclose(ev.scores[f"S-16-sc/{k}"], hand[k], atol=1e-5, err_msg=k)
    uncentred = grid.pair_scores(grid.embed(student16, crops), a, b, teacher_hr=t_hr)["cross"]
    assert np.abs(uncentred - hand["cross"]).max() > 1e-3  # the centring is applied
    # The port matches real dlib's descriptors on these faces.
    desc = descriptor_features(lfw_root, pairs.rows)
    assert cosine_scores(desc, t_hr).min() > 0.9999

    rep = ev.results["reports"]["S-16-sc"]["both"]
    assert abs(rep["roc_auc"] - roc_auc(hand["both"], pairs.is_same)) < 1e-12
    for key in ("tar_at_far_1e-3", "tar_at_far_1e-2", "eer", "accuracy_mean", "accuracy_std"):
        assert key in rep
    with np.load(out / "scores.npz") as z:
        np.testing.assert_array_equal(z["S-16-sc__cross"], ev.scores["S-16-sc/cross"])
        assert z["is_same"].sum() == 10 and set(z["fold"].tolist()) == {1}
    res = V.load_results(out / "results.json")
    assert [(r["model"], r["feature"]) for r in res["rows"]] == [
        ("T", None), ("T-16-up", None)] + [("S-16-sc", k) for k in ("identity", "mimic", "both", "cross")]
    # A rerun reads the teacher features from the cache.
    again = V.evaluate_view2([path], out, lfw_root=lfw_root, folds=[1], max_pairs=20, log=None)
    assert again.results["teacher"]["hr_cache"]["faces_computed"] == 0
    np.testing.assert_array_equal(again.scores["T"], ev.scores["T"])


def test_weights_h5_descriptors_without_teacher_rows(lfw_root, tmp_path, student16):
    run = tmp_path / "S-16-dc"
    run.mkdir()
    student16.save_weights(run / "student.weights.h5")
    (run / "config.json").write_text(json.dumps({"resolved": {"resolution": 16, "feature_dim": 128,
                                                               "num_classes": 10}}))
    ev = V.evaluate_view2([run / "student.weights.h5"], tmp_path / "out", lfw_root=lfw_root, folds=[1], max_pairs=20,
                          teacher_features="descriptors", teacher_rows=False, log=None)
    assert list(ev.results["reports"]) == ["S-16-dc"]
    assert any("uncentred" in n for n in ev.results["notes"])
    desc = descriptor_features(lfw_root, ev.pairs.rows)
    images = np.stack([read_rgb(lfw_root / "lfw-deepfunneled" / p) for p in ev.pairs.paths])
    crops = degrade_faces(images, ev.pairs.landmarks, ev.pairs.rows, 16, num_perturbations=1, jitter=0.0, seed=0)[0]
    hand = grid.pair_scores(grid.embed(student16, crops), ev.pairs.pair_a, ev.pairs.pair_b, teacher_hr=desc)
    np.testing.assert_allclose(ev.scores["S-16-dc/cross"], hand["cross"], atol=1e-5)
    np.testing.assert_allclose(ev.scores["S-16-dc/both"], hand["both"], atol=1e-5)
