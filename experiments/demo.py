"""`make demo`: the whole method of the paper, end to end, offline, on synthetic faces (a few minutes on 2 CPU cores).

    python -m experiments.demo [--out_dir=runs/demo] [--quick] [--seed=0] [--lam=-3.0] ...

Steps (each prints a progress line with its time):
  1. data: a student set D_s (identities 0..C-1, `--noisy_fraction` planted noisy faces: extreme pose, heavy
     occlusion, wrong label) split identity-disjointly into training and verification identities
     (`skd_tf.data.synthetic.split_identities`), and a teacher set D_t of other identities (`identity_offset`), as the
     paper's teacher is trained on a different data set (Section III-B);
  2. teacher: `skd_tf.models.teachers.compact.train_compact_teacher` on 112 px aligned chips of D_t;
  3. teacher features of the student faces (`skd_tf.features.extract_to_cache`, resumable feature cache), centred by
     their mean over the student training faces (the compact teacher's measured recipe; the same centred features
     are the regression targets and the teacher's verification features);
  4. selection (Eq. 3, `skd_tf.selection.select_informative`) at `--lam`: kept count and precision/recall of
     discarding the planted noisy faces, per noise kind; lambda sweep and the Fig. 5 plot;
  5. students at 16 and 32 px in the four supervision modes c, s, sc, dc (`skd_tf.grid.train_grid`, Section IV-C),
     trained on degraded faces (`skd_tf.data.degrade.degrade_faces`);
  6. verification on identity-disjoint pairs (`skd_tf.grid.student_reports` / `teacher_report`): ROC AUC and
     10-fold accuracy of every student and of the teacher on HR faces (T) and on bicubically upscaled LR faces
     (T-p-up); the Fig. 7-style table, results.json, a bar chart and ROC curves;
  7. the best student (highest headline AUC) exported to TFLite (`skd_tf.serving.export_student`): size and
     single-thread faces/s.

Everything goes under --out_dir: results.json (atomic), fig5_lambda_sweep.png, fig7_bars.png, roc.png, teacher/,
features/, students/, export/. A rerun with the same flags resumes (the teacher weights, feature caches and student
runs are reused); rerunning an out_dir with different flags is refused (run.json records them).
This module contains no algorithm of its own: it calls the library functions the experiments use.

Choices, measured on 2 shared CPU cores with the default flags (see WORKSPACE.md for the numbers):
* teacher set: 300 identities x 10 clean faces, 8 epochs (about 80 s). With 150 x 20 faces and 6 epochs the
  selection discarded only 88% of the planted wrong-label faces at lambda = -3.5 on this split, and no lambda reached
  90% discarded with 90% of the clean faces kept; with more teacher identities lambda = -3.0 discards 91.5% of the
  wrong-label faces and keeps 97.9% of the clean ones (-3.25: 91.5% / 99.0%, -2.75: 92.4% / 96.7%);
* regression targets: `feature_norm=l2` (t(f) = feature_scale * f / ||f||, Eq. 6 summed over D), because the
  compact teacher's centred features have arbitrary scale and the raw squared error (about ||f||^2 = a few hundred)
  would swamp the softmax loss; `feature_scale`: see the flag's help.
* --quick keeps the data, the teacher and the selection (so its selection figures are the default run's) and trains
  every student for one stage-1 and one stage-3 epoch on one crop per face.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS

# Default (full) and --quick settings. The default run fits in 10 minutes on 2 shared CPU cores.
DEFAULTS = dict(num_identities=180, images_per_identity=20, test_fraction=1 / 6, teacher_identities=300,
                teacher_images_per_identity=10, teacher_epochs=8, init_epochs=6, epochs=4, perturbations=2,
                num_pairs=1200)
# --quick keeps the data and the teacher (the selection test needs the default's selection quality) and trains the
# students briefly.
QUICK = dict(DEFAULTS, init_epochs=1, epochs=1, perturbations=1, num_pairs=600)
SWEEP_AROUND = (0.5, 0.75, 0.875, 1.0, 1.125, 1.25, 1.5, 2.0)  # the sweep adds these multiples of --lam
TEACHER_OFFSET = 100_000  # global identity numbers of D_t start here (disjoint from the student set's 0..C-1)


def define_flags() -> None:
    """Defines the absl flags (only when run as a program, so importing this module defines none)."""
    flags.DEFINE_string("out_dir", "runs/demo", "output folder")
    flags.DEFINE_integer("seed", 0, "seed of every random choice")
    flags.DEFINE_bool("quick", False, "the default data and teacher, students trained for 1+1 epochs (the tests' "
                      "setting, about 3 minutes)")
    for k, v in DEFAULTS.items():
        kind = flags.DEFINE_float if isinstance(v, float) else flags.DEFINE_integer
        kind(k, None, f"default {v} ({QUICK[k]} with --quick)")
    flags.DEFINE_float("noisy_fraction", 0.15, "fraction of planted noisy faces in the student set")
    flags.DEFINE_float("lam", -3.0, "lambda of Eq. (3) (<= 0)")
    flags.DEFINE_list("resolutions", ["16", "32"], "student resolutions p")
    flags.DEFINE_list("modes", ["c", "s", "sc", "dc"], "supervision modes (Section IV-C)")
    flags.DEFINE_enum("feature_norm", "l2", ["raw", "l2"], "regression target t(f) (TrainConfig.feature_norm)")
    flags.DEFINE_float("feature_scale", 8.0, "||t(f)|| for feature_norm=l2 (2, 4, 8 measured: 8 best for s, sc, dc)")
    flags.DEFINE_integer("batch_size", 128, "student batch size")
    flags.DEFINE_float("learning_rate", 2e-3, "student learning rate (Adam, cosine decay)")
    flags.DEFINE_bool("export", True, "export the best student to TFLite and measure its speed")


def settings_from_flags() -> dict:
    s = dict(QUICK if FLAGS.quick else DEFAULTS)
    for k in DEFAULTS:
        if getattr(FLAGS, k) is not None:
            s[k] = type(DEFAULTS[k])(getattr(FLAGS, k))
    s.update(seed=FLAGS.seed, quick=FLAGS.quick, noisy_fraction=FLAGS.noisy_fraction, lam=FLAGS.lam,
             resolutions=[int(p) for p in FLAGS.resolutions], modes=list(FLAGS.modes),
             feature_norm=FLAGS.feature_norm, feature_scale=FLAGS.feature_scale, batch_size=FLAGS.batch_size,
             learning_rate=FLAGS.learning_rate, export=FLAGS.export)
    return s


def default_settings(quick: bool = False, **overrides) -> dict:
    """The settings `run` takes, as the flags' defaults give them (for tests and notebooks)."""
    s = dict(QUICK if quick else DEFAULTS)
    s.update(seed=0, quick=quick, noisy_fraction=0.15, lam=-3.0, resolutions=[16, 32], modes=["c", "s", "sc", "dc"],
             feature_norm="l2", feature_scale=8.0, batch_size=128, learning_rate=2e-3, export=True)
    unknown = set(overrides) - set(s)
    if unknown:
        raise ValueError(f"default_settings: unknown setting(s) {sorted(unknown)}")
    s.update(overrides)
    return s


class _Clock:
    def __init__(self, log):
        self.t0, self.log, self.timings = time.perf_counter(), log, {}

    def step(self, name: str, seconds: float, text: str) -> None:
        self.timings[name] = round(seconds, 2)
        self.log(f"[{time.perf_counter() - self.t0:6.0f} s] {name}: {text} ({seconds:.1f} s)")


def discard_stats(alpha: np.ndarray, noise: np.ndarray) -> dict:
    """How well the selection's discarded set (alpha = 0) matches the planted noisy faces (noise > 0)."""
    from skd_tf.data.synthetic import NOISE_KINDS

    alpha, noise = np.asarray(alpha, bool), np.asarray(noise)
    dropped, noisy = ~alpha, noise > 0
    clean = ~noisy
    st = {"num_faces": int(alpha.size), "num_kept": int(alpha.sum()), "num_discarded": int(dropped.sum()),
          "num_noisy": int(noisy.sum()),
          "precision": float((dropped & noisy).sum() / max(dropped.sum(), 1)),  # discarded faces that are noisy
          "recall": float((dropped & noisy).sum() / max(noisy.sum(), 1)),  # noisy faces that were discarded
          "clean_kept": float(alpha[clean].mean()) if clean.any() else float("nan")}
    for code, kind in enumerate(NOISE_KINDS):
        if code and (noise == code).any():
            st[f"discarded_{kind}"] = float(dropped[noise == code].mean())
            st[f"count_{kind}"] = int((noise == code).sum())
    return st


def run(settings: dict, out_dir: str | os.PathLike, log=print) -> dict:
    """Runs the demo with `settings` (see `default_settings`) under `out_dir`; returns the results dict that is also
    written to `out_dir/results.json`."""

    from skd_tf import grid
    from skd_tf.data.align import align_face
    from skd_tf.data.degrade import degrade_faces, upscale_to
    from skd_tf.data.synthetic import generate_faces, make_verification_pairs, split_identities
    from skd_tf.serving import export_student, tflite_throughput
    from skd_tf.features.cache import load_features
    from skd_tf.features.extract import AlignedArraySource, extract_to_cache
    from skd_tf.models.student import build_student, count_parameters
    from skd_tf.models.teachers import compact
    from skd_tf.plots.results import plot_model_bars
    from skd_tf.plots.selection import plot_lambda_sweep
    from skd_tf.plots.verification import plot_roc
    from skd_tf.selection import DEFAULT_LAMS, select_informative, sweep_lambda
    from skd_tf.training import StudentData, TrainConfig
    from skd_tf.utils.io import check_settings, write_json

    s = dict(settings)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_settings(out / "run.json", s, hint="use another --out_dir or delete it")
    clock = _Clock(log)
    seed = int(s["seed"])
    chip = compact.INPUT_SIZE

    # 1. data -------------------------------------------------------------------------------------------------
    t = time.perf_counter()
    faces = generate_faces(s["num_identities"], s["images_per_identity"], noisy_fraction=s["noisy_fraction"],
                           seed=seed)
    train_ids, test_ids = split_identities(s["num_identities"], s["test_fraction"], seed)
    train, test = faces.select_identities(train_ids), faces.select_identities(test_ids)
    tset = generate_faces(s["teacher_identities"], s["teacher_images_per_identity"], noisy_fraction=0.0, seed=seed,
                          identity_offset=TEACHER_OFFSET)
    idx_a, idx_b, is_same = make_verification_pairs(test, s["num_pairs"], seed)
    folds = grid.subfolds(len(is_same), 10)
    clock.step("data", time.perf_counter() - t,
               f"student set {len(train)} training faces of {len(train_ids)} identities "
               f"({int((train.noise > 0).sum())} planted noisy), {len(test)} test faces of {len(test_ids)} other "
               f"identities -> {len(is_same)} verification pairs; teacher set {len(tset)} faces of "
               f"{s['teacher_identities']} further identities")

    # 2. teacher ----------------------------------------------------------------------------------------------
    t = time.perf_counter()
    tw = out / "teacher" / "compact.weights.h5"
    if tw.is_file():
        teacher = compact.build(weights=tw)
        note = f"reused {tw}"
    else:
        chips = np.stack([align_face(im, lm, chip) for im, lm in zip(tset.images, tset.landmarks)])
        teacher = compact.train_compact_teacher(chips, tset.labels, epochs=s["teacher_epochs"], seed=seed,
                                                out_path=tw)
        note = f"trained on {len(chips)} {chip}px chips for {s['teacher_epochs']} epochs"
    clock.step("teacher", time.perf_counter() - t, note)

    # 3. teacher features (feature cache), centred ----------------------------------------------------------
    t = time.perf_counter()
    man = {"teacher": "compact", "layer": compact.FEATURE_LAYER}
    rows_train = np.arange(len(train), dtype=np.int64)
    rows_test = np.arange(len(test), dtype=np.int64)
    extract_to_cache(teacher, AlignedArraySource(train.images, train.landmarks, chip, row_ids=rows_train),
                     out / "features" / "train_hr", manifest=man, progress=False)
    extract_to_cache(teacher, AlignedArraySource(test.images, test.landmarks, chip, row_ids=rows_test),
                     out / "features" / "test_hr", manifest=man, progress=False)
    f_train, r = load_features(out / "features" / "train_hr")
    assert np.array_equal(r, rows_train)
    f_test, _ = load_features(out / "features" / "test_hr")
    mean = f_train.mean(axis=0, keepdims=True)
    f_train, f_test = f_train - mean, f_test - mean
    clock.step("teacher features", time.perf_counter() - t,
               f"{f_train.shape[1]}-D features of {len(f_train)} training and {len(f_test)} test faces, centred")

    # 4. selection ---------------------------------------------------------------------------------------------
    t = time.perf_counter()
    lam = float(s["lam"])
    sel = select_informative(f_train, train.labels, lam, workers=1)
    sel_stats = discard_stats(sel.alpha, train.noise)
    lams = sorted(set(DEFAULT_LAMS) | {-(2.0 ** k) for k in range(-3, 0)} | {lam * f for f in SWEEP_AROUND})
    sweep = sweep_lambda(f_train, train.labels, lams=lams, workers=1)
    plot_lambda_sweep(sweep.lams, sweep.kept_counts, out / "fig5_lambda_sweep.png", total=len(f_train),
                      title="Fig. 5 (synthetic): selected faces vs lambda")
    sweep_stats = [{"lam": float(l), "kept": int(k), **{kk: v for kk, v in discard_stats(a, train.noise).items()
                                                         if kk in ("precision", "recall", "clean_kept",
                                                                   "discarded_wrong_label")}}
                   for l, k, a in zip(sweep.lams, sweep.kept_counts, sweep.alphas)]
    kinds = ", ".join(f"{k[len('discarded_'):]} {100 * v:.1f}%" for k, v in sel_stats.items()
                      if k.startswith("discarded_"))
    clock.step("selection", time.perf_counter() - t,
               f"lambda {lam:g}: kept {sel.kept}/{len(sel.alpha)}; discarding the planted noisy faces: precision "
               f"{100 * sel_stats['precision']:.1f}%, recall {100 * sel_stats['recall']:.1f}% (discarded: {kinds}); "
               f"clean kept {100 * sel_stats['clean_kept']:.1f}%; sweep of {len(lams)} lambdas -> "
               f"fig5_lambda_sweep.png")

    # 5. students ----------------------------------------------------------------------------------------------
    t = time.perf_counter()
    train_sets, test_lr = {}, {}
    for p in s["resolutions"]:
        lr, src = degrade_faces(train.images, train.landmarks, rows_train, p, num_perturbations=s["perturbations"],
                                seed=seed, progress=False)
        train_sets[p] = StudentData.build(lr, src, rows_train, train.labels, features=f_train,
                                          feature_row_ids=rows_train, alpha=sel.alpha)
        test_lr[p], _ = degrade_faces(test.images, test.landmarks, rows_test, p, num_perturbations=1, jitter=0.0,
                                      seed=seed + 1, progress=False)
    clock.step("degrade", time.perf_counter() - t,
               f"{s['perturbations']} crops per training face and 1 per test face at "
               f"{', '.join(f'{p}px' for p in s['resolutions'])}")
    config = TrainConfig(init_epochs=s["init_epochs"], epochs=s["epochs"], batch_size=s["batch_size"],
                         learning_rate=s["learning_rate"], feature_norm=s["feature_norm"],
                         feature_scale=s["feature_scale"], seed=seed, tensorboard=False, num_classes=len(train_ids),
                         verbose=0 if s["quick"] else 2)
    t = time.perf_counter()
    results = grid.train_grid(config, train_sets, out / "students", modes=s["modes"],
                              log=lambda m: log(f"         {m}"))
    clock.step("students", time.perf_counter() - t, f"{len(results)} students trained")
    any_student = next(iter(results.values())).student
    params = count_parameters(any_student)
    params_4096 = count_parameters(build_student(32, feature_dim=4096, num_classes=10))
    log(f"         student parameters (excluding softmax): {params:,} at D={f_train.shape[1]} (this demo), "
        f"{params_4096:,} at D=4096 (the paper's 0.79M)")

    # 6. verification ------------------------------------------------------------------------------------------
    t = time.perf_counter()
    reports: dict[str, dict] = {"T": grid.teacher_report(f_test, idx_a, idx_b, is_same, folds)}
    curves = {}
    from skd_tf.evaluation.verification import cosine_scores

    curves["T"] = (cosine_scores(f_test[idx_a], f_test[idx_b]), is_same)
    for p in s["resolutions"]:
        up = teacher.predict(upscale_to(test_lr[p], chip).astype(np.float32), batch_size=128, verbose=0) - mean
        reports[f"T-{p}-up"] = grid.teacher_report(up, idx_a, idx_b, is_same, folds)
    for name, res in results.items():
        p = int(name.split("-")[1])
        reports[name] = grid.student_reports(res.student, test_lr[p], idx_a, idx_b, is_same, folds, teacher_hr=f_test)
    for name in results:
        if name.endswith("-c") or name.endswith("-sc"):
            p = int(name.split("-")[1])
            sc = grid.pair_scores(grid.embed(results[name].student, test_lr[p]), idx_a, idx_b)
            curves[name] = (sc[grid.HEADLINE_FEATURE], is_same)
    table = grid.format_table(reports)
    clock.step("verification", time.perf_counter() - t, f"{len(is_same)} identity-disjoint pairs, 10 folds")
    log(f"\nFig. 7-style table (synthetic faces; AUC and 10-fold accuracy in percent; '{grid.HEADLINE_FEATURE}' is "
        f"the headline feature):\n{table}\n")
    headline = {n: 100 * grid.feature_reports(r)[grid.HEADLINE_FEATURE]["roc_auc"] for n, r in reports.items()}
    plot_model_bars(headline, out / "fig7_bars.png", ylabel="verification ROC AUC (%)",
                    title="Fig. 7-style (synthetic faces, identity-disjoint pairs)")
    plot_roc(curves, out / "roc.png", title="ROC (synthetic faces)")
    sc_vs_c = {p: {f: reports[f"S-{p}-sc"][f]["roc_auc"] - reports[f"S-{p}-c"][f]["roc_auc"]
                   for f in grid.FEATURES if f in reports[f"S-{p}-sc"] and f in reports[f"S-{p}-c"]}
               for p in s["resolutions"] if f"S-{p}-sc" in reports and f"S-{p}-c" in reports}

    # 7. export -----------------------------------------------------------------------------------------------
    export_info = None
    if s["export"]:
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
    res = {
        "settings": s, "lambda": lam, "selection": sel_stats, "lambda_sweep": sweep_stats,
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
    write_json(out / "results.json", res)
    log(f"wall time {wall:.0f} s; results in {out / 'results.json'}")
    return res


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    run(settings_from_flags(), FLAGS.out_dir)


if __name__ == "__main__":
    define_flags()
    app.run(main)
