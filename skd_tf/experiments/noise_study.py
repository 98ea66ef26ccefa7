"""When selection pays: the paper's pipeline on LFW training people with planted noise (issue 14, item 3).

    run(get_config("noise_study"), "runs/noise_study")        # skd_tf.configs.noise_study.NoiseStudyConfig

The paper's case for Eq. 3 is noisy web data (Section III-B); LFW is clean, so wrong labels and unusable faces are
planted at known rates in the training people of one held-out fold (`skd_tf.data.noise`, before teacher features,
selection and students), one run of `skd_tf.experiments.paper.run_paper` per condition in `out_dir/<condition>`
(clean, `label<rate>`, `unusable<rate>`; each resumable). Per condition it reports:

* Eq. 3's precision and recall at discarding the planted faces, at the run's lambda rule and along the whole lambda
  sweep (the Fig. 5 sweep, scored against the ground truth);
* S-p c / sc / dc verification AUC on the clean held-out fold with stratified-bootstrap 95% intervals, and the
  paired-bootstrap intervals of sc - dc (does selection beat distilling every face?) and sc - c (does distillation
  beat softmax alone?).

Outputs: `results.json`, `table.txt` and `noise_study.png` (AUC against the planted rate with intervals, and the
selection's precision and recall against the fraction of faces it discards).
"""
from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Callable

import numpy as np

from skd_tf import grid
from skd_tf.configs.noise_study import NoiseStudyConfig
from skd_tf.evaluation.verification import bootstrap_auc_interval
from skd_tf.experiments.lfw_lowres import study_base_config
from skd_tf.experiments.paper import run_paper
from skd_tf.plots.noise import plot_noise_study
from skd_tf.utils.io import write_json, write_text

__all__ = ["run", "format_noise_table"]


def run(config: NoiseStudyConfig, out_dir: str | os.PathLike, log: Callable[[str], None] = print) -> dict:
    """Runs (or resumes) every condition of `config.conditions()`; returns the study's results dict (also
    `results.json`) with the `table` the CLI prints."""
    config = config.validate()
    out_dir = Path(out_dir)
    base = study_base_config(config, out_dir)
    rows = []
    for name, label_noise, unusable_noise in config.conditions():
        log(f"noise study: condition {name} (wrong labels {label_noise:g}, unusable faces {unusable_noise:g})")
        result = run_paper(dataclasses.replace(base, label_noise=label_noise, unusable_noise=unusable_noise),
                           out_dir / name, log=log)
        rows.append(_condition_row(name, label_noise, unusable_noise, result, out_dir / name, config))
    table = format_noise_table(rows)
    plot_noise_study(rows, out_dir / "noise_study.png", resolution=config.resolutions[0],
                     title=f"LFW fold {config.test_folds[0]}, S-{config.resolutions[0]}: planted training noise")
    study = {"config": dataclasses.asdict(config), "conditions": rows, "table": table}
    write_json(out_dir / "results.json", study)
    write_text(out_dir / "table.txt", table + "\n")
    return study


def _condition_row(name: str, label_noise: float, unusable_noise: float, result: dict, run_dir: Path,
                   config: NoiseStudyConfig) -> dict:
    """One condition's figures from its finished `run_paper` folder (scores re-read from `lfw_view2/scores.npz`)."""
    scores = np.load(run_dir / "lfw_view2" / "scores.npz")
    same = scores["is_same"].astype(bool)
    p = config.resolutions[0]
    auc = {}
    for mode in ("c", "sc", "dc"):
        key = f"{grid.model_name(p, mode)}__{grid.HEADLINE_FEATURE}"
        auc[mode] = bootstrap_auc_interval(scores[key], same, seed=config.train.seed)
    sc = grid.model_name(p, "sc")
    noise = result.get("noise") or {}
    selection = result["selection"]
    return {"condition": name, "label_noise": label_noise, "unusable_noise": unusable_noise,
            "pairs": int(same.size), "auc": auc,
            "sc_minus_dc": result["comparisons"][f"{sc} > {grid.model_name(p, 'dc')}"],
            "sc_minus_c": result["comparisons"][f"{sc} > {grid.model_name(p, 'c')}"],
            "lam": selection["lam"], "kept_fraction_multi_image": selection["kept_fraction_multi_image"],
            "selection_vs_noise": noise.get("selection"), "selection_curve": noise.get("curve"),
            "regression_fit": result.get("regression_fit", {}).get(str(p))}


def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def format_noise_table(rows: list[dict]) -> str:
    """The study's table: per condition, the selection against the ground truth at the lambda rule, the three
    students' AUC [95% interval] and the paired intervals of sc - dc and sc - c (AUC points)."""
    head = (f"{'condition':<12}{'planted':>8}{'lambda':>9}{'discard':>8}{'prec':>7}{'recall':>7}  "
            f"{'AUC c':<20}{'AUC sc':<20}{'AUC dc':<20}{'sc - dc':<22}{'sc - c':<22}")
    lines = [head]
    for r in rows:
        sel = r["selection_vs_noise"] or {}
        planted = r["label_noise"] + r["unusable_noise"]
        discarded = 1.0 - r["kept_fraction_multi_image"]
        cells = [f"{r['condition']:<12}{_pct(planted):>8}{r['lam']:>9.4g}{_pct(discarded):>8}"
                 f"{_pct(sel.get('precision')):>7}{_pct(sel.get('recall')):>7}  "]
        for mode in ("c", "sc", "dc"):
            a = r["auc"][mode]
            cells.append(f"{100 * a['auc']:.2f} [{100 * a['low']:.2f},{100 * a['high']:.2f}]".ljust(20))
        for key in ("sc_minus_dc", "sc_minus_c"):
            d = r[key]
            cells.append(f"{100 * d['difference']:+.2f} [{100 * d['low']:+.2f},{100 * d['high']:+.2f}]".ljust(22))
        lines.append("".join(cells).rstrip())
    lines.append("planted: % of the training faces of people with >= 2 images; discard: % of the faces of classes "
                 "with >= 2 faces that Eq. 3 discards at the lambda rule; prec / recall: those discarded faces against "
                 "the planted ones; AUC: both features, 95% bootstrap intervals; sc - dc, sc - c: paired bootstrap")
    return "\n".join(lines)
