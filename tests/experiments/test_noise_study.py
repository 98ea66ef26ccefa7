"""End-to-end test of skd_tf.experiments.noise_study on real LFW (skipped when ../shared/data is absent): 80 training
people of fold 3, clean and with 20% unusable faces planted (the wrong-label path is tested on `run_paper` in
tests/experiments/test_paper.py), tiny students; and its table and figure."""
import json

import numpy as np
import pytest

from skd_tf.configs.noise_study import NoiseStudyConfig
from skd_tf.data.lfw_folds import fold_split
from skd_tf.data.noise import plant_noise
from skd_tf.experiments.noise_study import format_noise_table, run
from skd_tf.features.cache import load_features
from skd_tf.plots.noise import plot_noise_study
from skd_tf.training import TrainConfig


@pytest.fixture(scope="module")
def study(lfw_root, training_people_build, tmp_path_factory):
    train = TrainConfig(init_epochs=1, epochs=1, batch_size=32, finetune_learning_rate=5e-4, feature_norm="l2",
                        feature_scale=0.0, seed=0, tensorboard=False)
    config = NoiseStudyConfig(dataset=training_people_build, lfw_root=str(lfw_root), test_folds=(3,),
                              max_train_people=80, max_test_pairs=20, perturbations=1, label_rates=(),
                              unusable_rates=(0.2,), train=train)
    out = tmp_path_factory.mktemp("noise_study")
    return config, out, run(config, out, log=lambda m: None)


def test_every_condition_is_a_pipeline_run_with_its_planted_noise(lfw_root, study):
    config, out, result = study
    assert [r["condition"] for r in result["conditions"]] == ["clean", "unusable20"]
    split = fold_split(lfw_root, 3, max_train_people=80, seed=0)
    for name, label_rate, unusable_rate in config.conditions()[1:]:
        noise = json.loads((out / name / "noise.json").read_text())
        expected = plant_noise(split.train_rows, split.train_labels, label_rate=label_rate,
                               unusable_rate=unusable_rate, seed=0)  # the same draw, recomputed
        assert noise["planted"]["wrong_label_rows"] == expected.row_ids[expected.wrong_label].tolist()
        assert noise["planted"]["unusable_rows"] == expected.unusable_rows.tolist()
        assert noise["selection"]["planted"] == int(expected.planted.sum()) > 0
        assert len(noise["curve"]) == len(json.loads((out / name / "selection.json").read_text())["sweep"]["lams"])
        # The students trained on the planted labels, from crops rendered once in memory.
        stage = json.loads((out / name / "students" / "S-16-sc" / "stage3_sc" / "stage.json").read_text())
        assert stage["train_data"]["kind"] == "arrays" and stage["train_images"] == len(split.train_rows)
    # Unusable faces: the teacher saw the corrupted chips, so their features differ from the clean ones.
    feats, rows = load_features(out / "teacher_features")  # one cache of the clean chips for every condition
    unusable = json.loads((out / "unusable20" / "noise.json").read_text())["planted"]["unusable_rows"]
    corrupted = np.load(out / "unusable20" / "teacher_features_unusable.npy")
    clean = feats[[int(np.flatnonzero(rows == r)[0]) for r in unusable]]
    assert corrupted.shape == clean.shape and np.all(np.linalg.norm(corrupted - clean, axis=1) > 0.1)
    assert not (out / "clean" / "teacher_features").exists()


def test_the_table_and_figure_report_every_condition(study):
    _, out, result = study
    for row in result["conditions"]:
        for mode in ("c", "sc", "dc"):
            a = row["auc"][mode]
            assert a["low"] <= a["auc"] <= a["high"] and 0 <= a["auc"] <= 1
        d = row["sc_minus_dc"]
        assert d["low"] <= d["difference"] <= d["high"]
        assert row["pairs"] == 20
    assert result["conditions"][0]["selection_vs_noise"] is None  # nothing planted: no precision
    lines = (out / "table.txt").read_text().splitlines()
    assert [ln.split()[0] for ln in lines[1:3]] == ["clean", "unusable20"]
    assert (out / "noise_study.png").stat().st_size > 10_000
    assert json.loads((out / "results.json").read_text())["table"] == result["table"]


def test_format_noise_table_and_plot_from_rows(tmp_path):
    auc = {m: {"auc": 0.9, "low": 0.85, "high": 0.95} for m in ("c", "sc", "dc")}
    diff = {"difference": 0.01, "low": -0.02, "high": 0.04}
    sel = {"decided": 100, "discarded": 10, "planted": 20, "planted_discarded": 8, "precision": 0.8, "recall": 0.4}
    rows = [{"condition": "clean", "label_noise": 0.0, "unusable_noise": 0.0, "lam": -64.0, "pairs": 600,
             "kept_fraction_multi_image": 0.9, "auc": auc, "sc_minus_dc": diff, "sc_minus_c": diff,
             "selection_vs_noise": None, "selection_curve": None},
            {"condition": "label20", "label_noise": 0.2, "unusable_noise": 0.0, "lam": -128.0, "pairs": 600,
             "kept_fraction_multi_image": 0.9, "auc": auc, "sc_minus_dc": diff, "sc_minus_c": diff,
             "selection_vs_noise": sel, "selection_curve": [{"lam": -128.0, **sel}]}]
    table = format_noise_table(rows)
    assert table.splitlines()[2].split()[:6] == ["label20", "20.0", "-128", "10.0", "80.0", "40.0"]
    assert "90.00 [85.00,95.00]" in table and "+1.00 [-2.00,+4.00]" in table
    assert plot_noise_study(rows, tmp_path / "n.png", resolution=16).stat().st_size > 10_000
