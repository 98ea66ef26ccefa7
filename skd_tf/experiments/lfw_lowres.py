"""Fig. 7 on real faces: students distilled from the dlib ResNet teacher on LFW people, verified on held-out folds.

    run(get_config("lfw_lowres.quick"), "runs/lfw_quick")          # skd_tf.configs.lfw_lowres.LfwLowresConfig

A configuration of the paper's pipeline (`skd_tf.experiments.paper.run_paper`; paper Section IV-C): LFW is built once
with the face-folder TFDS builder in place (`data_dir`, 13,233 aligned 150-px chips; nothing is copied) unless a
prepared `dataset` is given; for each fold k of `test_folds` the students train on every image of the people outside
View-2 fold k (their low-resolution faces made on the fly from the chips) and are tested on the 600 pairs of fold k
with `skd_tf.evaluation.lfw_view2`, so no test identity is ever seen in training. One fold runs in `out_dir`; several
run in `out_dir/fold<k>` and are pooled over the official folds into `out_dir/results.json` (`combine_folds`).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

from skd_tf.configs.lfw_lowres import LfwLowresConfig
from skd_tf.configs.paper import PaperConfig
from skd_tf.experiments.paper import combine_folds, ensure_lfw_face_folder, run_paper
from skd_tf.utils.paths import lfw_dir


def run(config: LfwLowresConfig, out_dir: str | os.PathLike, log: Callable[[str], None] = print) -> dict:
    """Runs (or resumes) every fold of `config.test_folds`; returns the fold's results dict (one fold) or the pooled
    one (several), each with the View-2 `table` and the paper's orderings in `paper_table`. Every input is checked
    (the config, the LFW protocol) before LFW is built or anything is written."""
    config = config.validate()
    lfw_root, dataset = lfw_inputs(config)
    out_dir = Path(out_dir)
    if len(config.test_folds) == 1:
        return run_paper(config.fold_config(config.test_folds[0], dataset, lfw_root), out_dir, log=log)
    dirs = [out_dir / f"fold{k}" for k in config.test_folds]
    for k, fold_dir in zip(config.test_folds, dirs):
        run_paper(config.fold_config(k, dataset, lfw_root), fold_dir, log=log)
    return combine_folds(out_dir, dirs)


def lfw_inputs(config: LfwLowresConfig) -> tuple[Path, str]:
    """The LFW folder of `config` (its protocol checked) and the dataset the students train on (LFW built once into
    `config.data_dir` unless `config.dataset` names a prepared build)."""
    lfw_root = Path(config.lfw_root) if config.lfw_root else lfw_dir()
    if not (lfw_root / "protocol" / "people.txt").is_file():
        raise FileNotFoundError(f"{lfw_root / 'protocol' / 'people.txt'}: LFW protocol not found (lfw_root)")
    return lfw_root, config.dataset or ensure_lfw_face_folder(lfw_root, config.data_dir)


def study_base_config(config: LfwLowresConfig, out_dir: Path) -> PaperConfig:
    """The pipeline config of a study's runs on the one held-out fold of `config` (the noise and recipe studies), with
    one teacher-feature cache for all of them (`config.teacher_cache`, default out_dir/teacher_features): the clean
    chips' features are the same in every run."""
    lfw_root, dataset = lfw_inputs(config)
    base = config.fold_config(config.test_folds[0], dataset, lfw_root)
    return dataclasses.replace(base, teacher_cache=config.teacher_cache or str(Path(out_dir) / "teacher_features"))
