"""Any student on LFW View 2 from a config: `skd_tf.configs.eval_lfw.EvalLfwConfig` ->
`skd_tf.evaluation.lfw_view2.evaluate_view2` (rows, conventions and outputs: see there).

    run(apply_overrides(get_config("eval_lfw"), {"students": ("runs/lfw_fold1/students/S-16-sc",), "folds": (1,)}),
        "runs/eval_lfw")
"""
from __future__ import annotations

import os
from typing import Callable

from skd_tf.configs.eval_lfw import EvalLfwConfig
from skd_tf.evaluation.lfw_view2 import evaluate_view2


def run(config: EvalLfwConfig, out_dir: str | os.PathLike, log: Callable[[str], None] = print,
        progress: bool = False) -> dict:
    """Scores `config.students` on LFW View 2 into `out_dir`; returns the results (results.json, with the `table`)."""
    config = config.validate()
    evaluation = evaluate_view2(list(config.students), out_dir, lfw_root=config.lfw_root, names=config.names,
                                config=config.student_config, folds=config.folds,
                                exclude_people=config.exclude_people, teacher_features=config.teacher_features,
                                teacher_rows=config.teacher_rows, target_mean=config.target_mean,
                                max_pairs=config.max_pairs, batch_size=config.batch_size,
                                tflite_threads=config.tflite_threads, seed=config.seed, progress=progress, log=log)
    return evaluation.results
