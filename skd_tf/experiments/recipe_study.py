"""Why the student's fit stalls: today's recipe against one change at a time (issue 14, item 2).

    run(get_config("recipe_study"), "runs/recipe_study")      # skd_tf.configs.recipe_study.RecipeStudyConfig

Each factor of `skd_tf.configs.recipe_study.FACTORS` (budget-matched trunk, BN + ReLU head, target scale, learning
rate, flips, a fresh perturbation per epoch, the paper's 16 perturbations, a longer schedule) is one run of
`skd_tf.experiments.paper.run_paper` on the same LFW fold in `out_dir/<factor>` (each resumable, so the study can be
split across sessions with `factors`). Per factor: S-p-sc's verification AUC on the held-out pairs with a bootstrap
95% interval, its paired-bootstrap difference from the baseline on the same pairs, the explained fraction of its
regression targets against the teacher-on-upscaled-faces ceiling (`skd_tf.experiments.fit_report`), and its
parameter count without the softmax. Outputs: `results.json`, `table.txt`.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

import numpy as np

from skd_tf import grid
from skd_tf.configs import apply_overrides
from skd_tf.configs.recipe_study import FACTORS, RecipeStudyConfig
from skd_tf.evaluation.verification import bootstrap_auc_interval, paired_bootstrap_auc_difference
from skd_tf.experiments.lfw_lowres import study_base_config
from skd_tf.experiments.paper import run_paper
from skd_tf.models.student import count_parameters
from skd_tf.serving.loading import load_keras_file
from skd_tf.utils.io import write_json, write_text

__all__ = ["run", "format_recipe_table"]


def run(config: RecipeStudyConfig, out_dir: str | os.PathLike, log: Callable[[str], None] = print) -> dict:
    """Runs (or resumes) every factor of `config.factors`; returns the study's results dict (also `results.json`)
    with the `table` the CLI prints. Every factor's config is built and checked before the first run starts."""
    config = config.validate()
    out_dir = Path(out_dir)
    base = study_base_config(config, out_dir)
    runs = {name: apply_overrides(base, FACTORS[name]).validate() for name in config.factors}
    p = config.resolutions[0]
    student = grid.model_name(p, "sc")
    key = f"{student}__{grid.HEADLINE_FEATURE}"
    rows, baseline = [], None
    for name, factor_config in runs.items():
        log(f"recipe study: factor {name} {FACTORS[name] or '(today recipe)'}")
        result = run_paper(factor_config, out_dir / name, log=log)
        scores = np.load(out_dir / name / "lfw_view2" / "scores.npz")
        same = scores["is_same"].astype(bool)
        fit = result["regression_fit"][str(p)]
        row = {"factor": name, "overrides": FACTORS[name], "pairs": int(same.size),
               "auc": bootstrap_auc_interval(scores[key], same, seed=config.train.seed),
               "explained": fit["students"][student], "ceiling": fit["ceiling"],
               "parameters": _parameters_without_softmax(out_dir / name / "students" / student / "student.keras"),
               "vs_baseline": None}
        if name == "baseline":
            baseline = (scores[key], same, scores["line"])
        elif baseline is not None:
            if not np.array_equal(baseline[2], scores["line"]):  # the pairs.txt line of every pair
                raise ValueError(f"{out_dir / name}: scored on other pairs than the baseline")
            row["vs_baseline"] = paired_bootstrap_auc_difference(scores[key], baseline[0], same,
                                                                 seed=config.train.seed)
        rows.append(row)
    table = format_recipe_table(rows, student)
    study = {"config": dataclasses.asdict(config), "factors": rows, "table": table}
    write_json(out_dir / "results.json", study)
    write_text(out_dir / "table.txt", table + "\n")
    return study


def _parameters_without_softmax(path: Path) -> int:
    """The saved student's learned parameters without the softmax (`count_parameters`, as the paper counts)."""
    return count_parameters(load_keras_file(path))


def format_recipe_table(rows: list[dict], student: str) -> str:
    """Per factor: AUC [95% bootstrap interval], the paired difference from the baseline [interval], the explained
    fraction of the targets against the ceiling, the parameters without the softmax."""
    lines = [f"{'factor':<18}{student + ' AUC':<24}{'vs baseline':<24}{'explained':>10}{'ceiling':>9}{'params':>10}"]
    for r in rows:
        a, d = r["auc"], r["vs_baseline"]
        auc = f"{100 * a['auc']:.2f} [{100 * a['low']:.2f},{100 * a['high']:.2f}]"
        diff = "-" if d is None else f"{100 * d['difference']:+.2f} [{100 * d['low']:+.2f},{100 * d['high']:+.2f}]"
        lines.append(f"{r['factor']:<18}{auc:<24}{diff:<24}{r['explained']:>10.3f}{r['ceiling']:>9.3f}"
                     f"{r['parameters']:>10,}")
    lines.append("AUC: both features on the held-out pairs, 95% bootstrap interval; vs baseline: paired bootstrap on "
                 "the same pairs (AUC points); explained: fraction of the regression targets the mimic layer explains "
                 "on training faces; ceiling: the teacher on the upscaled faces + a fitted affine map")
    return "\n".join(lines)
