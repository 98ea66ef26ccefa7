"""skd_tf.configs.paper: PaperConfig.validate() names the field, the expected range and the value."""
from pathlib import Path

import pytest

from skd_tf.configs.paper import PaperConfig


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(modes=("c", "xx")), r"^supervision: expected one of \('c', 's', 'sc', 'dc'\), got 'xx'$"),
    (dict(keep_fraction=2.0), r"^keep_fraction: expected a value in \[0, 1\], got 2.0$"),
    (dict(keep_fraction=float("nan")), r"^keep_fraction: expected a value in \[0, 1\], got nan$"),
])
def test_bad_modes_and_keep_fraction_are_refused_by_the_config(kwargs, pattern):
    """What the config (validated before any work) raises for --modes=c,xx / --keep_fraction=2."""
    with pytest.raises(ValueError, match=pattern):
        PaperConfig(lfw_train_fold=1, **kwargs).validate()
    PaperConfig(lfw_train_fold=1, modes=("c", "sc"), keep_fraction=1.0).validate()  # the values around them pass


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(student_input="cache"), r"^student_input: expected one of"),
    (dict(student_input="disk", sampling="fresh"), r"student_input 'disk' renders one fixed set of crops"),
    (dict(student_input="memory", sampling="fresh"), r"student_input 'memory' renders one fixed set of crops"),
    (dict(label_noise=1.0), r"^label_noise: expected a fraction in \[0, 1\), got 1.0$"),
    (dict(label_noise=0.6, unusable_noise=0.5, student_input="memory"), r"^label_noise \+ unusable_noise"),
    (dict(unusable_noise=0.2), r"^unusable_noise: the corrupted chips are made in memory"),
])
def test_student_input_and_planted_noise_are_checked(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        PaperConfig(lfw_train_fold=1, **kwargs).validate()
    PaperConfig(lfw_train_fold=1, student_input="memory", label_noise=0.4, unusable_noise=0.2).validate()


def test_noise_study_conditions_and_checks():
    from skd_tf.configs.noise_study import NoiseStudyConfig

    config = NoiseStudyConfig().validate()
    assert config.conditions() == [("clean", 0.0, 0.0), ("label10", 0.1, 0.0), ("label20", 0.2, 0.0),
                                   ("label40", 0.4, 0.0), ("unusable20", 0.0, 0.2)]
    assert (config.resolutions, config.modes, config.student_input) == ((16,), ("c", "sc", "dc"), "memory")
    for kwargs, pattern in [(dict(test_folds=(1, 2)), "holds out one fold"), (dict(label_rates=(0.1, 0.1)),
                            "distinct fractions"), (dict(label_noise=0.1), "each condition sets them"),
                            (dict(modes=("c", "sc")), "compares c, sc and dc"),
                            (dict(student_input="stream"), "unusable_rates: the corrupted chips")]:
        with pytest.raises(ValueError, match=pattern):
            NoiseStudyConfig(**kwargs).validate()


def test_recipe_study_factors_are_single_valid_changes():
    from skd_tf.configs import apply_overrides
    from skd_tf.configs.recipe_study import FACTORS, RecipeStudyConfig

    config = RecipeStudyConfig().validate()
    assert config.factors[0] == "baseline" and set(config.factors) == set(FACTORS) and FACTORS["baseline"] == {}
    base = config.fold_config(1, "face_folder/aligned_150", Path("lfw"))
    for name, overrides in FACTORS.items():
        changed = apply_overrides(base, overrides).validate()
        assert changed != base or name == "baseline"
        assert changed.train.feature_scale in (0.0, 2 * 128 ** 0.5, 128 ** 0.5 / 2)  # 0: sqrt(D)
    assert apply_overrides(base, FACTORS["fresh"]).student_input == "stream"  # fresh crops are made every epoch
    for kwargs, pattern in [(dict(factors=("baseline", "nope")), "distinct names"), (dict(factors=()), "factors"),
                            (dict(modes=("c",)), "measures S-p-sc"), (dict(test_folds=(1, 2)), "one fold")]:
        with pytest.raises(ValueError, match=pattern):
            RecipeStudyConfig(**kwargs).validate()


def test_lfw_lowres_defaults_to_the_study_recipe_with_the_earlier_and_literal_recipes_one_flag_away():
    from skd_tf.configs import get_config
    from skd_tf.configs.lfw_lowres import RECIPE
    from skd_tf.models.student import ARCHS, StudentArch

    before = PaperConfig().train
    assert (before.student_arch, before.learning_rate, before.finetune_learning_rate, before.flip) == \
        ("paper", 1e-3, 5e-4, False)  # the paper configuration (D = 4,096 students) keeps Fig. 3 as built
    default = get_config("lfw_lowres").validate()
    assert RECIPE == {"perturbations": 16, "train.student_arch": "budget_d128_bn_relu", "train.learning_rate": 2e-3,
                      "train.finetune_learning_rate": 1e-3, "train.flip": True, "train.init_epochs": 3,
                      "train.epochs": 2}
    assert default.perturbations == 16 and all(getattr(default.train, k[len("train."):]) == v
                                               for k, v in RECIPE.items() if k.startswith("train."))
    assert ARCHS["budget_d128_bn_relu"] == StudentArch(ARCHS["budget_d128"].widths, "bn_relu")
    for name in ("lfw_lowres.before_study", "recipe_study", "noise_study"):
        # the recipe before the study; the studies keep the one they were measured with (their runs resume)
        config = get_config(name)
        assert (config.train, config.perturbations) == (before, 4), name
    literal = get_config("lfw_lowres.paper_literal").validate()
    assert (literal.perturbations, literal.center_targets, literal.train.student_arch, literal.train.optimizer,
            literal.train.feature_norm) == (16, False, "paper", "sgd", "raw")
