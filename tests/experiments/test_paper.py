"""Tests for skd_tf.experiments.paper: the whole pipeline on a face-folder TFDS build (the builder's dummy identities)
evaluated on a few LFW View-2 pairs (skipped when ../shared/data is absent)."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_builders.face_folder.face_folder_dataset_builder import Builder
from skd_tf.configs.paper import PaperConfig
from skd_tf.data.uccs import write_synthetic_uccs
from skd_tf.evaluation.verification import roc_auc
from skd_tf.experiments import scface, uccs
from skd_tf.experiments.paper import combine_folds, run_paper
from skd_tf.training import TrainConfig

DUMMY = Path(__file__).resolve().parents[2] / "data_builders" / "face_folder" / "dummy_data"
SCFACE_DUMMY = Path(__file__).resolve().parents[2] / "data_builders" / "scface" / "dummy_data"


@pytest.fixture(scope="module")
def dummy_build(tmp_path_factory):
    builder = Builder(data_dir=str(tmp_path_factory.mktemp("tfds")), config="aligned_150")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(DUMMY)))
    return builder.data_dir


def _config(dataset, lfw_root, modes=("c", "sc"), **kw):
    train = TrainConfig(init_epochs=1, epochs=1, batch_size=8, feature_norm="l2", feature_scale=0.0, seed=0,
                        tensorboard=False)
    return PaperConfig(dataset=dataset, lfw_root=str(lfw_root), eval_folds=(1,), max_test_pairs=20,
                       resolutions=(16,), modes=modes, perturbations=2, keep_fraction=0.7, train=train, **kw)


def test_pipeline_end_to_end_on_a_face_folder_build(dummy_build, lfw_root, tmp_path):
    """One run with every optional step: planted noise, the in-memory student input, UCCS and SCface (the streamed
    input end to end: tests/experiments/test_lfw_lowres.py)."""
    uccs_csv = write_synthetic_uccs(tmp_path / "uccs", num_subjects=185, max_faces=5, seed=0)
    config = _config(dummy_build, lfw_root, student_input="memory", label_noise=0.25, unusable_noise=0.25,
                     uccs_csv=str(uccs_csv), scface_dir=str(SCFACE_DUMMY), scface_student="S-16-sc")
    res = run_paper(config, tmp_path / "run", log=lambda m: None)
    assert res["dataset"]["faces"] == 12 and res["split"]["train_images"] == 12
    assert set(res["reports"]) == {"T", "T-16-up", "S-16-c", "S-16-sc"}
    assert res["reports"]["T"]["n_pairs"] == 20 and res["reports"]["T"]["roc_auc"] > 0.9
    sel = res["selection"]
    assert 0 < sel["kept"] <= 12 and sel["faces"] == 12
    assert "S-16-sc > S-16-c" in res["comparisons"]
    mean = np.load(tmp_path / "run" / "target_mean.npy")
    assert mean.shape == (128,) and np.all(np.isfinite(mean))
    for f in ("results.json", "table.txt", "fig7_lfw_auc.png", "lambda_sweep.png", "lfw_view2/scores.npz"):
        assert (tmp_path / "run" / f).is_file(), f
    stage = json.loads((tmp_path / "run" / "students" / "S-16-sc" / "stage3_sc" / "stage.json").read_text())
    # 12 faces x 2 perturbations, rendered once in memory
    assert stage["train_data"] == {"kind": "arrays", "crops": 24, "resolution": 16} and stage["train_images"] == 24
    assert "cross" in res["reports"]["S-16-sc"]  # the View-2 evaluation found the saved target mean
    fit = res["regression_fit"]["16"]  # 12 training faces: 8 to fit the ceiling's affine map, 4 to score
    assert (fit["num_fit"], fit["num_eval"]) == (8, 4) and set(fit["students"]) == {"S-16-c", "S-16-sc"}
    assert all(np.isfinite(v) and v <= 1 for v in [fit["ceiling"], *fit["students"].values()])
    assert json.loads((tmp_path / "run" / "regression_fit.json").read_text())["fits"]["16"] == fit
    # Planted noise (issue 14): drawn before anything else, its ground truth and Eq. 3's score on it recorded.
    noise = json.loads((tmp_path / "run" / "noise.json").read_text())
    planted = noise["planted"]
    assert (planted["eligible_faces"], planted["wrong_label"], planted["unusable"]) == (12, 3, 3)
    assert res["noise"]["selection"] == noise["selection"] and noise["selection"]["planted"] == 6
    sweep = json.loads((tmp_path / "run" / "selection.json").read_text())["sweep"]
    assert [c["lam"] for c in noise["curve"]] == sweep["lams"]  # Eq. 3 scored at every lambda of the sweep
    assert all(a != b for a, b in zip(planted["wrong_label_new_labels"], planted["wrong_label_true_labels"]))
    assert not set(planted["wrong_label_rows"]) & set(planted["unusable_rows"])
    assert np.load(tmp_path / "run" / "teacher_features_unusable.npy").shape == (3, 128)
    # UCCS (Section IV-D) and SCface (Section IV-E) with the named student, as their own experiments run them.
    sc = str(tmp_path / "run" / "students" / "S-16-sc" / "student.keras")
    assert res["uccs"]["student"] == sc and res["uccs"]["num_subjects"] == 180
    assert res["uccs"] == json.loads((tmp_path / "run" / "uccs" / "results.json").read_text())
    assert res["scface"]["gallery"] == 80 and res["scface"]["resolution"] == 16
    table = (tmp_path / "run" / "table.txt").read_text()
    assert uccs.format_result(res["uccs"]) in table and scface.format_table(res["scface"]) in table


def test_disk_input_renders_the_crops_once_and_a_finished_run_returns_its_results(dummy_build, lfw_root, tmp_path):
    """student_input="disk": every stage and mode of a resolution streams the one crop cache of out_dir/crops; a
    rerun of the finished run returns its results.json without reading the data; a rerun with more modes trains only
    the students it lacks (from the same stage 1) and evaluates them all."""
    run = tmp_path / "run"
    res = run_paper(_config(dummy_build, lfw_root, student_input="disk", modes=("sc",)), run, log=lambda m: None)
    files = list((run / "crops").iterdir())
    assert len(files) == 1 and files[0].name.startswith("crops-16px-")
    assert files[0].stat().st_size == 12 * (8 + 2 * 16 * 16 * 3)  # 12 faces x (row id + 2 crops)
    stage = json.loads((run / "students" / "S-16-sc" / "stage3_sc" / "stage.json").read_text())
    assert stage["train_data"]["kind"] == "tfds" and stage["train_images"] == 24
    logs = []
    again = run_paper(_config(dummy_build, lfw_root, student_input="disk", modes=("sc",)), run, log=logs.append)
    assert again == json.loads((run / "results.json").read_text())
    assert again["reports"]["S-16-sc"]["both"]["roc_auc"] == res["reports"]["S-16-sc"]["both"]["roc_auc"]
    assert any("finished run" in m for m in logs)

    trained = [run / "students" / "S-16-stage1" / "stage1_c", run / "students" / "S-16-sc" / "stage3_sc"]
    before = {d: sorted((f.name, f.stat().st_mtime_ns) for f in d.iterdir() if f.is_file()) for d in trained}
    grown = run_paper(_config(dummy_build, lfw_root, student_input="disk"), run, log=lambda m: None)
    assert set(grown["reports"]) == {"T", "T-16-up", "S-16-c", "S-16-sc"} and "S-16-sc > S-16-c" in grown["comparisons"]
    for d in trained:  # stage 1 and S-16-sc reused, not retrained
        assert sorted((f.name, f.stat().st_mtime_ns) for f in d.iterdir() if f.is_file()) == before[d], d
    assert grown["reports"]["S-16-sc"]["both"]["roc_auc"] == res["reports"]["S-16-sc"]["both"]["roc_auc"]
    assert (run / "students" / "S-16-c" / "stage3_c" / "done.json").is_file()
    assert json.loads((run / "settings.json").read_text())["modes"] == ["c", "sc"]
    assert [f.name for f in (run / "crops").iterdir()] == [files[0].name]


def test_config_is_validated_and_guarded(dummy_build, lfw_root, tmp_path):
    students = r"\['S-16-c', 'S-16-sc'\]"
    with pytest.raises(ValueError, match=rf"^scface_student: expected one of the run's students {students}"):
        _config(dummy_build, lfw_root, scface_dir=str(SCFACE_DUMMY)).validate()  # the default S-64-sc is not trained
    with pytest.raises(FileNotFoundError, match="uccs_csv"):
        _config(dummy_build, lfw_root, uccs_csv=str(tmp_path / "none.csv")).validate()
    with pytest.raises(ValueError, match="sampling"):
        _config(dummy_build, lfw_root, sampling="sometimes").validate()
    with pytest.raises(ValueError, match="folds"):
        dataclasses.replace(_config(dummy_build, lfw_root), eval_folds=(11,)).validate()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "settings.json").write_text(json.dumps({"dataset": "other"}))
    with pytest.raises(ValueError, match="other settings"):
        run_paper(_config(dummy_build, lfw_root), tmp_path / "run", log=lambda m: None)
    assert not (tmp_path / "run" / "teacher_features").exists()  # refused before any work


def test_combine_folds_scores_all_pairs_with_official_folds(tmp_path):
    rng = np.random.default_rng(0)
    dirs, all_same, all_t = [], [], []
    for k in range(3):
        d = tmp_path / f"fold{k + 1}"
        (d / "lfw_view2").mkdir(parents=True)
        same = np.r_[np.ones(10, bool), np.zeros(10, bool)]
        t = same + rng.normal(0, 0.8, 20)
        np.savez(d / "lfw_view2" / "scores.npz", is_same=same, fold=np.full(20, k + 1), T=t,
                 **{"S-16-c__mimic": -t, "S-16-c__both": -t, "S-16-sc__both": t})
        dirs.append(d)
        all_same.append(same)
        all_t.append(t)
    res = combine_folds(tmp_path, dirs)
    same, t = np.concatenate(all_same), np.concatenate(all_t)
    assert res["reports"]["T"]["n_pairs"] == 60 and len(res["reports"]["T"]["accuracy_per_fold"]) == 3
    assert res["reports"]["T"]["roc_auc"] == roc_auc(t, same)
    assert res["reports"]["S-16-c"]["mimic"]["roc_auc"] == roc_auc(-t, same)
    assert res["comparisons"]["S-16-sc > S-16-c"]["difference"] == roc_auc(t, same) - roc_auc(-t, same)
    assert (tmp_path / "results.json").is_file()
    files = [d / "lfw_view2" / "scores.npz" for d in dirs]  # the scores files themselves pool the same
    again = combine_folds(tmp_path / "from_files", files)
    assert again["table"] == res["table"] and again["comparisons"] == res["comparisons"]
    with pytest.raises(FileNotFoundError, match="no scores"):
        combine_folds(tmp_path, [tmp_path / "nowhere"])
    with pytest.raises(FileNotFoundError, match="no scores"):
        combine_folds(tmp_path, [tmp_path / "missing.npz"])
