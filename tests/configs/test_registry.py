"""skd_tf.configs: every registered config validates; overrides reach nested dataclasses and return new validated
configs; unknown names, unknown keys and duplicate registrations are refused with what was expected."""
import dataclasses

import pytest

from skd_tf import configs
from skd_tf.configs.demo import DemoConfig
from skd_tf.configs.lfw_lowres import LfwLowresConfig
from skd_tf.training import TrainConfig


@pytest.mark.parametrize("name", configs.config_names())
def test_every_registered_config_is_a_fresh_validated_dataclass(name):
    config = configs.get_config(name)
    assert dataclasses.is_dataclass(config) and config.validate() is config
    assert configs.get_config(name) is not config  # a fresh instance each time


def test_the_experiments_and_their_quick_variants_are_registered():
    assert {"demo", "demo.quick", "lfw_lowres", "lfw_lowres.quick", "lfw_lowres.all", "paper", "paper.umdfaces",
            "eval_lfw"} <= set(configs.config_names())
    assert configs.config_names() == sorted(configs.config_names())


def test_apply_overrides_sets_nested_keys_and_leaves_the_original():
    base = configs.get_config("lfw_lowres.quick")
    new = configs.apply_overrides(base, {"train.epochs": 2, "train.seed": 5, "resolutions": [16], "test_folds": (3,)})
    assert isinstance(new, LfwLowresConfig) and isinstance(new.train, TrainConfig)
    assert (new.train.epochs, new.train.seed, new.resolutions, new.test_folds) == (2, 5, (16,), (3,))
    assert new.train.init_epochs == base.train.init_epochs == 8  # other nested fields kept
    assert (base.train.epochs, base.resolutions) == (8, (16, 32))  # the original is not changed
    assert configs.apply_overrides(base, {}) == base


@pytest.mark.parametrize("key,pattern", [
    ("epochz", r"unknown config key 'epochz' for DemoConfig; expected one of \[.*'num_pairs'.*'train'"),
    ("train.epochz", r"unknown config key 'train.epochz' for TrainConfig; expected one of \[.*'train.epochs'"),
    ("lam.value", r"unknown config key 'lam.value' for DemoConfig"),
])
def test_unknown_override_keys_are_named_with_the_known_fields(key, pattern):
    with pytest.raises(ValueError, match=pattern):
        configs.apply_overrides(DemoConfig(), {key: 1})


def test_overrides_are_validated():
    with pytest.raises(ValueError, match=r"^num_pairs: expected an integer >= 2, got 1$"):
        configs.apply_overrides(DemoConfig(), {"num_pairs": 1})
    with pytest.raises(ValueError, match=r"^train.epochs: expected an integer >= 0, got -1$"):
        configs.apply_overrides(DemoConfig(), {"train.epochs": -1})
    with pytest.raises(ValueError, match=r"^test_folds: expected LFW folds 1..10, got 11$"):
        configs.apply_overrides(LfwLowresConfig(), {"test_folds": (1, 11)})
    with pytest.raises(ValueError, match=r"^lfw_train_fold: expected None"):
        configs.apply_overrides(LfwLowresConfig(), {"lfw_train_fold": 2})


def test_unknown_names_and_duplicate_registrations_are_refused():
    with pytest.raises(ValueError, match=r"unknown config 'demo.slow'; expected one of \['demo', 'demo.quick'"):
        configs.get_config("demo.slow")
    with pytest.raises(ValueError, match="'demo' is already registered"):
        configs.register("demo", DemoConfig)


def test_lfw_fold_configs_are_the_pipelines_config_of_each_fold(tmp_path):
    config = configs.apply_overrides(configs.get_config("lfw_lowres.all"), {"train.epochs": 1})
    fold = config.fold_config(4, "face_folder/aligned_150", tmp_path)
    assert type(fold).__name__ == "PaperConfig" and fold.lfw_train_fold == 4 and fold.test_folds == (4,)
    assert fold.lfw_root == str(tmp_path) and fold.train.epochs == 1 and fold.data_dir == "runs/tfds_lfw"
