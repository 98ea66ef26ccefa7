"""The Fig. 7 protocol (Section IV-C): students S-p-m for every resolution p and supervision mode m, and their
verification figures on identity-disjoint pairs.

Training (`train_grid`): for each resolution one stage-1 run (Eq. 1, softmax only, `init_epochs`) initialises every
mode's student (Section III-B), then stage 3 fine-tunes a copy per mode for `epochs` epochs (Eq. 4-6: `c` softmax
only, `s` selected regression only, `sc` both, `dc` both with every face selected). Every model therefore sees the
same data for the same number of epochs; only the supervision of stage 3 differs.

Evaluation (`student_reports`): the paper extracts "feature vectors in the hidden layers (mimic layer and identity
layer)", normalises them and scores a pair by their similarity (Section IV-C). We report each layer alone
(`identity`, `mimic`) and both together (`both`: the cosine of the concatenated L2-normalised vectors, i.e. the mean
of the two cosines), plus the cross-resolution case (`cross`): the student's low-resolution mimic feature of the
first image of a pair against the teacher's high-resolution feature of the second. Fig. 7's headline figure is
`both` (`HEADLINE_FEATURE`).

The demo (`skd_tf.experiments.demo`) and the paper's pipeline (`skd_tf.experiments.paper`, which the LFW experiment
configures) both call this module.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import keras
import numpy as np

from skd_tf.evaluation.verification import (
    cosine_scores,
    l2_normalize,
    paired_bootstrap_auc_difference,
    verification_report,
)
from skd_tf.training import MODES, StudentData, TrainConfig, TrainResult, train_student

FEATURES = ("identity", "mimic", "both", "cross")
HEADLINE_FEATURE = "both"


def model_name(resolution: int, mode: str) -> str:
    """The paper's name of a student: S-<resolution>-<mode> (Section IV-C)."""
    return f"S-{int(resolution)}-{mode}"


def train_grid(config: TrainConfig, train_sets: Mapping[int, StudentData], out_dir: str | Path,
               modes: Sequence[str] = MODES, val_sets: Mapping[int, StudentData] | None = None,
               log: Callable[[str], None] = print) -> dict[str, TrainResult]:
    """Trains S-p-m for every resolution p in `train_sets` and every mode m; returns {model name: TrainResult}.

    `config` gives the shared settings (its `resolution` and `supervision` are replaced per model). Stage 1 runs once
    per resolution under `out_dir/S-<p>-stage1` and its weights initialise every mode under `out_dir/S-<p>-<m>`.
    Each run is resumable (`train_student`), so a killed grid restarted with the same arguments continues.
    """
    out_dir = Path(out_dir)
    results: dict[str, TrainResult] = {}
    for p, data in train_sets.items():
        val = val_sets.get(p) if val_sets else None
        t0 = time.time()
        stage1 = train_student(dataclasses.replace(config, resolution=int(p), supervision="c", epochs=0), data,
                               val, model_dir=out_dir / f"S-{int(p)}-stage1")
        log(f"S-{p} stage 1 (c, {config.init_epochs} epochs, {len(data)} faces): {time.time() - t0:.0f} s, "
            f"{_metrics_line(stage1.metrics)}")
        for mode in modes:
            t0 = time.time()
            name = model_name(p, mode)
            results[name] = train_student(dataclasses.replace(config, resolution=int(p), supervision=mode,
                                                              init_epochs=0), data, val,
                                          init_weights=stage1.weights_path, model_dir=out_dir / name)
            log(f"{name} stage 3 ({config.epochs} epochs): {time.time() - t0:.0f} s, "
                f"{_metrics_line(results[name].metrics)}")
    return results


def _metrics_line(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))


def embed(student: keras.Model, images: np.ndarray, batch_size: int = 256, *,
          outputs: Sequence[str] = ("identity", "mimic")) -> dict[str, np.ndarray]:
    """The student's `outputs` (of its `mimic`, `identity` and `logits` heads; by default the two feature layers the
    paper matches) for uint8 faces `[N, p, p, 3]`, in inference mode, as {output: float32 [N, D]}."""
    out = {key: [] for key in outputs}
    for start in range(0, len(images), batch_size):
        batch = student(np.asarray(images[start:start + batch_size], np.float32), training=False)
        for key in out:
            out[key].append(np.asarray(batch[key], np.float32))
    return {k: np.concatenate(v) if v else np.zeros((0, 0), np.float32) for k, v in out.items()}


def pair_scores(features: Mapping[str, np.ndarray], idx_a: np.ndarray, idx_b: np.ndarray,
                teacher_hr: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Cosine scores of pairs (`idx_a[k]`, `idx_b[k]`) for each feature kind of `FEATURES` (`cross` needs the
    teacher's high-resolution features `teacher_hr`, indexed like the images)."""
    scores = {k: cosine_scores(features[k][idx_a], features[k][idx_b]) for k in ("identity", "mimic")}
    scores["both"] = 0.5 * (scores["identity"] + scores["mimic"])
    if teacher_hr is not None:
        if teacher_hr.shape[1] != features["mimic"].shape[1]:
            raise ValueError(f"teacher_hr: expected the mimic layer's width {features['mimic'].shape[1]}, "
                             f"got {teacher_hr.shape[1]}")
        scores["cross"] = np.sum(l2_normalize(features["mimic"][idx_a]) * l2_normalize(teacher_hr[idx_b]), axis=1)
    return scores


def student_reports(student: keras.Model, images: np.ndarray, idx_a, idx_b, is_same, folds,
                    teacher_hr: np.ndarray | None = None, batch_size: int = 256) -> dict[str, dict]:
    """Verification reports ({feature kind: `verification_report`}) of one student on pairs of `images`."""
    scores = pair_scores(embed(student, images, batch_size), np.asarray(idx_a), np.asarray(idx_b), teacher_hr)
    return {k: verification_report(s, is_same, folds) for k, s in scores.items()}


def teacher_report(features: np.ndarray, idx_a, idx_b, is_same, folds) -> dict:
    """Verification report of teacher features (cosine of the pair's features)."""
    return verification_report(cosine_scores(features[np.asarray(idx_a)], features[np.asarray(idx_b)]), is_same,
                               folds)


def paper_comparisons(names: Sequence[str], resolutions: Sequence[int]) -> list[tuple[str, str]]:
    """The orderings Section IV-C claims, as (better, worse) model-name pairs present in `names`: S-p-sc over S-p-c,
    S-p-dc and S-p-s at every resolution, and every mode's student at a higher resolution over the lower one."""
    names = set(names)
    out = [(model_name(p, "sc"), model_name(p, m)) for p in resolutions for m in ("c", "dc", "s")]
    res = sorted(resolutions)
    out += [(model_name(hi, m), model_name(lo, m)) for lo, hi in zip(res, res[1:]) for m in MODES]
    return [(a, b) for a, b in out if a in names and b in names]


def compare_models(scores: Mapping[str, np.ndarray], is_same, comparisons: Sequence[tuple[str, str]],
                   num_resamples: int = 2000, seed: int = 0) -> dict[str, dict]:
    """{"A > B": paired bootstrap of AUC(A) - AUC(B)} for each (A, B): does the claimed ordering hold on these pairs,
    and by how much more than the pair sampling alone could explain (`paired_bootstrap_auc_difference`)."""
    return {f"{a} > {b}": paired_bootstrap_auc_difference(scores[a], scores[b], is_same,
                                                           num_resamples=num_resamples, seed=seed)
            for a, b in comparisons}


def subfolds(num_pairs: int, k: int = 10) -> np.ndarray:
    """Fold ids 0..k-1 for `num_pairs` pairs, dealt round-robin (pair i goes to fold i mod k).

    Round-robin rather than contiguous blocks: a pairs file lists a fold's matched pairs before its mismatched ones,
    so contiguous blocks would hold only one kind of pair and the held-out block's accuracy would be meaningless.
    """
    return np.arange(int(num_pairs)) % int(k)


def feature_reports(report: Mapping) -> Mapping[str, Mapping]:
    """One model's verification reports as {feature kind: `verification_report`}: a student's (`student_reports`)
    already is; a teacher's single report (`teacher_report`) counts as its headline feature (`HEADLINE_FEATURE`), so
    tables and figures read teachers and students alike."""
    return {HEADLINE_FEATURE: report} if "roc_auc" in report else report


def results_table(reports: Mapping[str, Mapping], feature: str = HEADLINE_FEATURE) -> list[dict]:
    """Rows {model, auc, accuracy, accuracy_std} (percent) of `reports` ({model: teacher report or student
    {feature: report}}), for the models that have `feature`."""
    rows = []
    for name, rep in reports.items():
        r = feature_reports(rep).get(feature)
        if r is None:
            continue
        rows.append({"model": name, "auc": 100.0 * r["roc_auc"], "accuracy": 100.0 * r.get("accuracy_mean", np.nan),
                     "accuracy_std": 100.0 * r.get("accuracy_std", np.nan)})
    return rows


def format_table(reports: Mapping[str, Mapping], features: Sequence[str] = ("both", "identity", "mimic", "cross")
                 ) -> str:
    """A plain-text Fig. 7 table: one row per model, AUC / 10-fold accuracy (percent) per feature kind."""
    head = f"{'model':<14}" + "".join(f"{f + ' AUC':>13}{f + ' acc':>17}" for f in features)
    lines = [head, "-" * len(head)]
    for name, rep in reports.items():
        cells = []
        for f in features:
            r = feature_reports(rep).get(f)
            if r is None:
                cells.append(f"{'-':>13}{'-':>17}")
            else:
                acc = f"{100 * r['accuracy_mean']:.2f}+-{100 * r['accuracy_std']:.2f}" if "accuracy_mean" in r else "-"
                cells.append(f"{100 * r['roc_auc']:>13.2f}{acc:>17}")
        lines.append(f"{name:<14}" + "".join(cells))
    return "\n".join(lines)
