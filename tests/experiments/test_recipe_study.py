"""End-to-end test of skd_tf.experiments.recipe_study on real LFW (skipped when ../shared/data is absent): the
baseline and one factor (flips) on 80 training people of fold 3, tiny students; and the table's format."""
import json

import numpy as np
import pytest

from skd_tf.configs.recipe_study import RecipeStudyConfig
from skd_tf.evaluation.verification import paired_bootstrap_auc_difference
from skd_tf.experiments.recipe_study import format_recipe_table, run
from skd_tf.training import TrainConfig


def test_baseline_and_a_factor_on_the_same_pairs(lfw_root, training_people_build, tmp_path):
    train = TrainConfig(init_epochs=1, epochs=1, batch_size=32, finetune_learning_rate=5e-4, feature_norm="l2",
                        feature_scale=0.0, seed=0, tensorboard=False)
    config = RecipeStudyConfig(dataset=training_people_build, lfw_root=str(lfw_root), test_folds=(3,),
                               max_train_people=80, max_test_pairs=20, perturbations=1, factors=("baseline", "flips"),
                               train=train)
    result = run(config, tmp_path, log=lambda m: None)
    base, flips = result["factors"]
    assert (base["factor"], flips["factor"], base["vs_baseline"]) == ("baseline", "flips", None)
    # The factor changed that one setting: its stages trained with flips, the baseline's without.
    for row, flip in ((base, False), (flips, True)):
        stage = json.loads((tmp_path / row["factor"] / "students" / "S-16-sc" / "stage3_sc" / "stage.json").read_text())
        assert stage["flip"] is flip and stage["train_data"]["kind"] == "arrays"
        fit = json.loads((tmp_path / row["factor"] / "regression_fit.json").read_text())["fits"]["16"]
        assert (row["explained"], row["ceiling"]) == (fit["students"]["S-16-sc"], fit["ceiling"])
        assert row["parameters"] == 150_800  # the paper widths at D = 128, softmax excluded
    # The paired difference is recomputed from the two runs' scores on the same 20 pairs.
    a, b = (np.load(tmp_path / f / "lfw_view2" / "scores.npz") for f in ("flips", "baseline"))
    assert np.array_equal(a["line"], b["line"])
    expected = paired_bootstrap_auc_difference(a["S-16-sc__both"], b["S-16-sc__both"], a["is_same"], seed=0)
    assert flips["vs_baseline"] == pytest.approx(expected)
    assert (tmp_path / "table.txt").read_text().splitlines()[1].split()[0] == "baseline"


def test_format_recipe_table():
    row = {"factor": "k16", "auc": {"auc": 0.8851, "low": 0.86, "high": 0.91}, "explained": 0.1834,
           "ceiling": 0.3561, "parameters": 797_320, "vs_baseline": {"difference": 0.012, "low": -0.005, "high": 0.03}}
    line = format_recipe_table([row], "S-16-sc").splitlines()[1]
    assert line.split() == ["k16", "88.51", "[86.00,91.00]", "+1.20", "[-0.50,+3.00]", "0.183", "0.356", "797,320"]
