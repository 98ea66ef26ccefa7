"""The experiments' run logic, callable from Python by config name (the `experiments/` CLIs parse flags into the
same configs and call the same functions):

    from skd_tf import experiments
    experiments.run("lfw_lowres.quick", out_dir="runs/lfw_quick", overrides={"train.epochs": 2})

Names and overrides: `skd_tf.configs` (`config_names()`, `apply_overrides`). `RUNNERS` maps each config dataclass
to the function `run(config, out_dir)` that runs it and returns its results dict.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from skd_tf.configs import apply_overrides, get_config
from skd_tf.configs.demo import DemoConfig
from skd_tf.configs.eval_lfw import EvalLfwConfig
from skd_tf.configs.export import ExportConfig
from skd_tf.configs.features import FeaturesConfig
from skd_tf.configs.lfw_lowres import LfwLowresConfig
from skd_tf.configs.noise_study import NoiseStudyConfig
from skd_tf.configs.paper import PaperConfig
from skd_tf.configs.recipe_study import RecipeStudyConfig
from skd_tf.configs.scface import ScfaceConfig
from skd_tf.configs.select import SelectConfig
from skd_tf.configs.train_student import TrainStudentConfig
from skd_tf.configs.uccs import UccsConfig
from skd_tf.experiments import (
    demo,
    eval_lfw,
    export,
    features,
    lfw_lowres,
    noise_study,
    paper,
    recipe_study,
    scface,
    select,
    train_student,
    uccs,
)

RUNNERS: dict[type, Callable[[Any, str | os.PathLike], dict]] = {
    DemoConfig: demo.run,
    PaperConfig: paper.run_paper,
    LfwLowresConfig: lfw_lowres.run,
    NoiseStudyConfig: noise_study.run,
    RecipeStudyConfig: recipe_study.run,
    EvalLfwConfig: eval_lfw.run,
    ScfaceConfig: scface.run,
    UccsConfig: uccs.run,
    SelectConfig: select.run,
    FeaturesConfig: features.run,
    TrainStudentConfig: train_student.run,
    ExportConfig: export.run,
}


def run(name: str, out_dir: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> dict:
    """Runs the config registered as `name` (with `overrides`, dotted keys for nested fields) under `out_dir`;
    returns the run's results dict."""
    config = apply_overrides(get_config(name), overrides or {})
    return RUNNERS[type(config)](config, out_dir)
