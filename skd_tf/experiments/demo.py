"""The demo: the whole method of the paper, end to end, offline, on synthetic faces (`make demo`).

    run(get_config("demo.quick"), "runs/demo")      # skd_tf.configs.demo.DemoConfig

Steps (each logs one line with its time):
  1. data: a student set D_s (identities 0..C-1, `noisy_fraction` planted noisy faces: extreme pose, heavy
     occlusion, wrong label) split identity-disjointly into training and verification identities
     (`skd_tf.data.synthetic.split_identities`), and a teacher set D_t of other identities (`TEACHER_OFFSET`), as the
     paper's teacher is trained on a different data set (Section III-B);
  2. teacher: `skd_tf.models.teachers.compact.train_compact_teacher` on 112 px aligned chips of D_t;
  3. teacher features of the student faces (`skd_tf.features.extract_to_cache`, resumable feature cache), centred by
     their mean over the student training faces (the compact teacher's measured recipe; the same centred features
     are the regression targets and the teacher's verification features);
  4. selection (Eq. 3, `skd_tf.selection.select_informative`) at `lam`: kept count and precision/recall of
     discarding the planted noisy faces, per noise kind; lambda sweep and the Fig. 5 plot;
  5. students at every resolution in every supervision mode (`skd_tf.grid.train_grid`, Section IV-C), trained on
     degraded faces (`skd_tf.data.degrade.degrade_faces`); a progress bar per run, each run's figures in
     students/log.txt (and each stage's history.csv);
  6. verification on identity-disjoint pairs (`skd_tf.grid.student_reports` / `teacher_report`): ROC AUC and
     10-fold accuracy of every student and of the teacher on HR faces (T) and on bicubically upscaled LR faces
     (T-p-up); the Fig. 7-style table (`table_text` of the results), results.json, a bar chart and ROC curves;
  7. the best student (highest headline AUC) exported to TFLite (`skd_tf.serving.export_student`): size and
     single-thread faces/s.

Everything goes under `out_dir`: results.json (atomic), fig5_lambda_sweep.png, fig7_bars.png, roc.png, teacher/,
features/, students/, export/. A rerun with the same config resumes (the teacher weights, feature caches and student
runs are reused); rerunning an out_dir with another config is refused (run.json records it).
This module contains no algorithm of its own: it calls the library functions the experiments use.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from skd_tf import grid
from skd_tf.configs.demo import DemoConfig
from skd_tf.data.align import align_face
from skd_tf.data.degrade import degrade_faces, upscale_to
from skd_tf.data.synthetic import NOISE_KINDS, generate_faces, make_verification_pairs, split_identities
from skd_tf.evaluation.verification import cosine_scores
from skd_tf.features.cache import load_features
from skd_tf.features.extract import AlignedArraySource, extract_to_cache
from skd_tf.models.student import build_student, count_parameters
from skd_tf.models.teachers import compact
from skd_tf.plots.results import plot_model_bars
from skd_tf.plots.selection import plot_lambda_sweep
from skd_tf.plots.verification import plot_roc
from skd_tf.selection import DEFAULT_LAMS, select_informative, sweep_lambda
from skd_tf.serving import export_student, tflite_throughput
from skd_tf.training import StudentData
from skd_tf.utils.io import check_settings, write_json

SWEEP_AROUND = (0.5, 0.75, 0.875, 1.0, 1.125, 1.25, 1.5, 2.0)  # the sweep adds these multiples of `lam`
TEACHER_OFFSET = 100_000  # global identity numbers of D_t start here (disjoint from the student set's 0..C-1)


class _Clock:
    def __init__(self, log: Callable[[str], None]):
        self.t0, self.log, self.timings = time.perf_counter(), log, {}

    def step(self, name: str, seconds: float, text: str) -> None:
        self.timings[name] = round(seconds, 2)
        self.log(f"[{time.perf_counter() - self.t0:6.0f} s] {name}: {text} ({seconds:.1f} s)")


def discard_stats(alpha: np.ndarray, noise: np.ndarray) -> dict:
    """How well the selection's discarded set (alpha = 0) matches the planted noisy faces (noise > 0)."""
    alpha, noise = np.asarray(alpha, bool), np.asarray(noise)
    dropped, noisy = ~alpha, noise > 0
    clean = ~noisy
    stats = {"num_faces": int(alpha.size), "num_kept": int(alpha.sum()), "num_discarded": int(dropped.sum()),
             "num_noisy": int(noisy.sum()),
             "precision": float((dropped & noisy).sum() / max(dropped.sum(), 1)),  # discarded faces that are noisy
             "recall": float((dropped & noisy).sum() / max(noisy.sum(), 1)),  # noisy faces that were discarded
             "clean_kept": float(alpha[clean].mean()) if clean.any() else float("nan")}
    for code, kind in enumerate(NOISE_KINDS):
        if code and (noise == code).any():
            stats[f"discarded_{kind}"] = float(dropped[noise == code].mean())
            stats[f"count_{kind}"] = int((noise == code).sum())
    return stats


def run(config: DemoConfig, out_dir: str | os.PathLike, log: Callable[[str], None] = print,
        progress: bool = False) -> dict:
    """Runs the demo under `out_dir` (module docstring); returns the results dict that is also written to
    `out_dir/results.json`. `log` gets one line per step; `progress` shows a progress bar while the students train."""
    config = config.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_settings(out / "run.json", dataclasses.asdict(config), hint="use another out_dir or delete it")
    clock = _Clock(log)
    seed = config.train.seed
    chip = compact.INPUT_SIZE

    # 1. data -------------------------------------------------------------------------------------------------
    t = time.perf_counter()
    faces = generate_faces(config.num_identities, config.images_per_identity, noisy_fraction=config.noisy_fraction,
                           seed=seed)
    train_ids, test_ids = split_identities(config.num_identities, config.test_fraction, seed)
    train, test = faces.select_identities(train_ids), faces.select_identities(test_ids)
    tset = generate_faces(config.teacher_identities, config.teacher_images_per_identity, noisy_fraction=0.0,
                          seed=seed, identity_offset=TEACHER_OFFSET)
    idx_a, idx_b, is_same = make_verification_pairs(test, config.num_pairs, seed)
    folds = grid.subfolds(len(is_same), 10)
    clock.step("data", time.perf_counter() - t,
               f"student set {len(train)} training faces of {len(train_ids)} identities "
               f"({int((train.noise > 0).sum())} planted noisy), {len(test)} test faces of {len(test_ids)} other "
               f"identities -> {len(is_same)} verification pairs; teacher set {len(tset)} faces of "
               f"{config.teacher_identities} further identities")

    # 2. teacher ----------------------------------------------------------------------------------------------
    t = time.perf_counter()
    weights = out / "teacher" / "compact.weights.h5"
    if weights.is_file():
        teacher = compact.build(weights=weights)
        note = f"reused {weights}"
    else:
        chips = np.stack([align_face(im, lm, chip) for im, lm in zip(tset.images, tset.landmarks)])
        teacher = compact.train_compact_teacher(chips, tset.labels, epochs=config.teacher_epochs, seed=seed,
                                                out_path=weights)
        note = f"trained on {len(chips)} {chip}px chips for {config.teacher_epochs} epochs"
    clock.step("teacher", time.perf_counter() - t, note)

    # 3. teacher features (feature cache), centred ----------------------------------------------------------
    t = time.perf_counter()
    manifest = {"teacher": "compact", "layer": compact.FEATURE_LAYER}
    rows_train = np.arange(len(train), dtype=np.int64)
    rows_test = np.arange(len(test), dtype=np.int64)
    extract_to_cache(teacher, AlignedArraySource(train.images, train.landmarks, chip, row_ids=rows_train),
                     out / "features" / "train_hr", manifest=manifest, progress=False)
    extract_to_cache(teacher, AlignedArraySource(test.images, test.landmarks, chip, row_ids=rows_test),
                     out / "features" / "test_hr", manifest=manifest, progress=False)
    f_train, rows = load_features(out / "features" / "train_hr")
    assert np.array_equal(rows, rows_train)
    f_test, _ = load_features(out / "features" / "test_hr")
    mean = f_train.mean(axis=0, keepdims=True)
    f_train, f_test = f_train - mean, f_test - mean
    clock.step("teacher features", time.perf_counter() - t,
               f"{f_train.shape[1]}-D features of {len(f_train)} training and {len(f_test)} test faces, centred")

    # 4. selection ---------------------------------------------------------------------------------------------
    t = time.perf_counter()
    lam = float(config.lam)
    selection = select_informative(f_train, train.labels, lam, workers=1)
    selection_stats = discard_stats(selection.alpha, train.noise)
    lams = sorted(set(DEFAULT_LAMS) | {-(2.0 ** k) for k in range(-3, 0)} | {lam * f for f in SWEEP_AROUND})
    sweep = sweep_lambda(f_train, train.labels, lams=lams, workers=1)
    plot_lambda_sweep(sweep.lams, sweep.kept_counts, out / "fig5_lambda_sweep.png", total=len(f_train),
                      title="Fig. 5 (synthetic): selected faces vs lambda")
    sweep_keys = ("precision", "recall", "clean_kept", "discarded_wrong_label")
    sweep_stats = [{"lam": float(value), "kept": int(kept),
                    **{k: v for k, v in discard_stats(alpha, train.noise).items() if k in sweep_keys}}
                   for value, kept, alpha in zip(sweep.lams, sweep.kept_counts, sweep.alphas)]
    kinds = ", ".join(f"{k[len('discarded_'):]} {100 * v:.1f}%" for k, v in selection_stats.items()
                      if k.startswith("discarded_"))
    clock.step("selection", time.perf_counter() - t,
               f"lambda {lam:g}: kept {selection.kept}/{len(selection.alpha)}; discarding the planted noisy faces: "
               f"precision {100 * selection_stats['precision']:.1f}%, recall {100 * selection_stats['recall']:.1f}% "
               f"(discarded: {kinds}); clean kept {100 * selection_stats['clean_kept']:.1f}%; sweep of {len(lams)} "
               f"lambdas -> fig5_lambda_sweep.png")

    # 5. students ----------------------------------------------------------------------------------------------
    t = time.perf_counter()
    train_sets, test_lr = {}, {}
    for p in config.resolutions:
        lr, src = degrade_faces(train.images, train.landmarks, rows_train, p, num_perturbations=config.perturbations,
                                seed=seed, progress=False)
        train_sets[p] = StudentData.build(lr, src, rows_train, train.labels, features=f_train,
                                          feature_row_ids=rows_train, alpha=selection.alpha)
        test_lr[p], _ = degrade_faces(test.images, test.landmarks, rows_test, p, num_perturbations=1, jitter=0.0,
                                      seed=seed + 1, progress=False)
    clock.step("degrade", time.perf_counter() - t,
               f"{config.perturbations} crops per training face and 1 per test face at "
               f"{', '.join(f'{p}px' for p in config.resolutions)}")
    train_config = dataclasses.replace(config.train, num_classes=len(train_ids))
    t = time.perf_counter()
    (out / "students").mkdir(parents=True, exist_ok=True)
    with open(out / "students" / "log.txt", "a") as details, \
            tqdm(total=len(config.resolutions) * (1 + len(config.modes)), desc="students", unit="run",
                 file=sys.stderr, disable=not progress, leave=False) as bar:
        def run_done(line: str) -> None:
            details.write(line + "\n")
            details.flush()
            bar.set_postfix_str(line.split(" ")[0])
            bar.update()

        results = grid.train_grid(train_config, train_sets, out / "students", modes=config.modes, log=run_done)
    params = count_parameters(next(iter(results.values())).student)
    params_4096 = count_parameters(build_student(32, feature_dim=4096, num_classes=10))
    clock.step("students", time.perf_counter() - t,
               f"{len(results)} students trained (figures per run in students/log.txt); parameters excluding "
               f"softmax: {params:,} at D={f_train.shape[1]} (this demo), {params_4096:,} at D=4096 (the paper's "
               f"0.79M)")

    # 6. verification ------------------------------------------------------------------------------------------
    t = time.perf_counter()
    reports: dict[str, dict] = {"T": grid.teacher_report(f_test, idx_a, idx_b, is_same, folds)}
    curves = {"T": (cosine_scores(f_test[idx_a], f_test[idx_b]), is_same)}
    for p in config.resolutions:
        up = teacher.predict(upscale_to(test_lr[p], chip).astype(np.float32), batch_size=128, verbose=0) - mean
        reports[f"T-{p}-up"] = grid.teacher_report(up, idx_a, idx_b, is_same, folds)
    for name, result in results.items():
        p = int(name.split("-")[1])
        reports[name] = grid.student_reports(result.student, test_lr[p], idx_a, idx_b, is_same, folds,
                                             teacher_hr=f_test)
    for name in results:
        if name.endswith("-c") or name.endswith("-sc"):
            p = int(name.split("-")[1])
            scores = grid.pair_scores(grid.embed(results[name].student, test_lr[p]), idx_a, idx_b)
            curves[name] = (scores[grid.HEADLINE_FEATURE], is_same)
    table = grid.format_table(reports)
    clock.step("verification", time.perf_counter() - t, f"{len(is_same)} identity-disjoint pairs, 10 folds")
    headline = {n: 100 * grid.feature_reports(r)[grid.HEADLINE_FEATURE]["roc_auc"] for n, r in reports.items()}
    plot_model_bars(headline, out / "fig7_bars.png", ylabel="verification ROC AUC (%)",
                    title="Fig. 7-style (synthetic faces, identity-disjoint pairs)")
    plot_roc(curves, out / "roc.png", title="ROC (synthetic faces)")
    sc_vs_c = {p: {f: reports[f"S-{p}-sc"][f]["roc_auc"] - reports[f"S-{p}-c"][f]["roc_auc"]
                   for f in grid.FEATURES if f in reports[f"S-{p}-sc"] and f in reports[f"S-{p}-c"]}
               for p in config.resolutions if f"S-{p}-sc" in reports and f"S-{p}-c" in reports}

    # 7. export -----------------------------------------------------------------------------------------------
    export_info = None
    if config.export:
        t = time.perf_counter()
        best = max(results, key=lambda n: headline[n])
        p = int(best.split("-")[1])
        paths = export_student(results[best].student, out / "export", resolution=p,
                               representative_images=train_sets[p].source.images, kinds=("float32",),
                               metadata={"teacher": "compact (synthetic demo)", "training_data": "synthetic",
                                         "metrics": {"roc_auc": headline[best] / 100}}, seed=seed)
        path = Path(paths["float32"])
        fps = tflite_throughput(path, p, batch=1, threads=1, seconds=1.5)
        export_info = {"model": best, "path": str(path), "size_bytes": os.path.getsize(path),
                       "faces_per_second_1thread_batch1": fps}
        clock.step("export", time.perf_counter() - t,
                   f"best student {best} (AUC {headline[best]:.2f}) -> {path.name}: "
                   f"{os.path.getsize(path) / 1024:.0f} KiB, {fps:.0f} faces/s on 1 thread (batch 1)")

    wall = time.perf_counter() - clock.t0
    result = {
        "config": dataclasses.asdict(config), "lambda": lam, "selection": selection_stats,
        "lambda_sweep": sweep_stats,
        "auc": {n: {f: r["roc_auc"] for f, r in grid.feature_reports(rep).items()} for n, rep in reports.items()},
        "accuracy": {n: {f: r["accuracy_mean"] for f, r in grid.feature_reports(rep).items()}
                     for n, rep in reports.items()},
        "headline_feature": grid.HEADLINE_FEATURE, "headline_auc_percent": headline,
        "table": grid.results_table(reports), "table_text": table, "sc_minus_c_auc": sc_vs_c,
        "reports": reports, "student_parameters": params, "student_parameters_d4096": params_4096,
        "export": export_info, "timings_s": clock.timings, "wall_time_s": round(wall, 1),
        "data": {"train_faces": len(train), "train_identities": len(train_ids), "test_faces": len(test),
                 "test_identities": len(test_ids), "pairs": int(len(is_same)), "teacher_faces": len(tset)},
    }
    write_json(out / "results.json", result)
    log(f"wall time {wall:.0f} s; results in {out / 'results.json'}")
    return result
