"""The paper's experiment end to end (Ge et al., TIP 2019, Sections III and IV): a face dataset -> teacher features
-> Eq. 3 selection -> students S-p-{c,s,sc,dc} at every resolution -> LFW View 2.

    run_paper(PaperConfig(dataset="umdfaces/aligned_150", data_dir=...), out_dir)   # skd_tf.configs.paper

1. Faces (`skd_tf.data.sources.TfdsFaces`): a TFDS split of aligned high-resolution chips with 5 landmarks, labels
   and row ids (the UMDFaces and face-folder builders). `lfw_train_fold=k` trains on the people of LFW outside
   View-2 fold k only (`skd_tf.data.lfw_folds.fold_split`; the face-folder build of LFW numbers rows as the
   landmarks CSV does), so the students can be tested on fold k without ever seeing a test identity. With
   `label_noise` / `unusable_noise`, wrong labels and unusable faces are planted in the training table here, before
   anything else (`skd_tf.data.noise`); the ground truth and how well Eq. 3 discards it go to `noise.json`.
2. Teacher features f_i (Eq. 2) on the chips, cached and resumable (`skd_tf.features`).
3. Selection (Eq. 3, `skd_tf.selection`, s = max(0, cos)) on the training faces, on features centred by their
   training mean when `center_targets` (the dlib descriptors share a large common component; see
   `skd_tf.models.teachers.compact`), lambda by the stated rule (`skd_tf.selection.rule`).
4. Students (`skd_tf.grid.train_grid`): stage 1 once per resolution, then every mode; the low-resolution faces are
   made on the fly from the chips (`Degradation`: `perturbations` landmark jitters per face, the paper's fixed set,
   or a fresh one per epoch), so memory does not grow with the dataset; `student_input="disk"` renders the fixed
   crops once into `out_dir/crops` and streams them from there in every stage and mode (the same batches), and
   `"memory"` renders them once into memory (`skd_tf.data.chips.render_crops`, the same pixels). Regression
   targets: the (centred) teacher features, L2-normalised to `feature_scale` (0: sqrt(D)) when `feature_norm="l2"`;
   their centring vector is saved as `target_mean.npy`, which `skd_tf.evaluation.lfw_view2` uses for the
   cross-resolution score.
5. LFW View 2 (`skd_tf.evaluation.lfw_view2.evaluate_view2`): T, T-p-up and every student (identity, mimic, both,
   cross) on `eval_folds`, the paper's orderings as paired-bootstrap AUC differences, the Fig. 7 bars beside the
   paper's values.
6. With `uccs_csv` / `scface_dir`: UCCS identification with `uccs_student` (Section IV-D) and SCface retrieval with
   `scface_student` (Section IV-E), by `skd_tf.experiments.uccs` / `scface` in out_dir/uccs, out_dir/scface.

Every step is resumable: rerunning with the same config skips what is done (a config that differs from the one
recorded in `out_dir/settings.json` is refused before anything is written); a finished run (its `results.json`
written last) returns that file without touching the data (delete it to recompute the evaluation). Only `modes`
may change between runs of a folder, since each student trains in its own folder from the resolution's shared stage
1: a run with other modes trains the students it lacks, reuses the others, and evaluates its modes again (so the
decisive S-p-sc can be measured first and c, s, dc added later).
Outputs: `results.json`, `table.txt`,
`fig7_lfw_auc.png`, `lambda_sweep.png`, `selection.json`, `regression_fit.json` (how well each mimic layer fits
its targets, against the teacher-on-upscaled-faces ceiling: `skd_tf.experiments.fit_report`), `lfw_view2/` (scores,
ROC), `students/`.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import tensorflow_datasets as tfds

import data_builders.face_folder  # noqa: F401  (registers the project's builders with TFDS by name)
import data_builders.umdfaces  # noqa: F401
from data_builders.face_folder.face_folder_dataset_builder import Builder
from skd_tf import grid
from skd_tf.configs.paper import ADDED_DEFAULTS, PaperConfig
from skd_tf.configs.scface import ScfaceConfig
from skd_tf.configs.uccs import UccsConfig
from skd_tf.data.chips import read_chips, render_crops
from skd_tf.data.lfw_folds import fold_split
from skd_tf.data.noise import discard_scores, plant_noise
from skd_tf.data.pipeline import SourceTable, StudentData
from skd_tf.data.sources import Degradation, TfdsFaces
from skd_tf.evaluation.lfw_view2 import evaluate_view2
from skd_tf.evaluation.verification import verification_report
from skd_tf.experiments import scface, uccs
from skd_tf.experiments.fit_report import regression_fit
from skd_tf.features.cache import load_features
from skd_tf.features.extract import TfdsSource, extract_to_cache
from skd_tf.models import teachers
from skd_tf.plots.results import PAPER_FIG7, plot_model_bars
from skd_tf.plots.selection import plot_lambda_sweep
from skd_tf.selection.rule import select_by_keep_fraction
from skd_tf.utils.io import check_settings, save_npy, write_json, write_text
from skd_tf.utils.paths import lfw_dir


def _training_rows(config: PaperConfig, faces, lfw_root: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Row ids and contiguous labels of the faces the students train on, and a summary."""
    if config.lfw_train_fold is not None:
        split = fold_split(lfw_root, int(config.lfw_train_fold), min_train_images=config.min_train_images,
                           max_train_people=config.max_train_people, seed=config.train.seed)
        missing = np.setdiff1d(split.train_rows, faces.row_ids)
        if missing.size:
            raise ValueError(f"TFDS {config.dataset}: {missing.size} training images of the LFW split are not in the "
                             f"dataset (row ids {missing[:10].tolist()} ...); build it from the same landmarks CSV")
        return split.train_rows, split.train_labels, split.summary()
    rows, labels = faces.row_ids, faces.labels
    counts = np.bincount(labels)
    keep = counts[labels] >= config.min_train_images
    if config.max_train_people is not None:
        people = np.unique(labels[keep])
        chosen = np.random.default_rng(config.train.seed).choice(people, min(len(people), config.max_train_people),
                                                                 replace=False)
        keep &= np.isin(labels, chosen)
    rows, labels = rows[keep], labels[keep]
    _, labels = np.unique(labels, return_inverse=True)
    return rows, labels.astype(np.int64), {"train_people": int(labels.max()) + 1 if len(labels) else 0,
                                           "train_images": int(len(rows))}


def _teacher_features(config: PaperConfig, out_dir: Path, log) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's features of every chip of the split, cached in `config.teacher_cache` (default
    out_dir/teacher_features; the cache's manifest refuses another teacher or dataset)."""
    cache = Path(config.teacher_cache) if config.teacher_cache else out_dir / "teacher_features"
    tspec = teachers.spec(config.teacher)
    source = TfdsSource(config.dataset, tspec.input_size, tspec.align_padding, split=config.split,
                        data_dir=config.data_dir, id_key=config.id_key, prealigned=True)
    t0 = time.time()
    kwargs = {"weights": config.teacher_weights} if config.teacher_weights else {}
    stats = extract_to_cache(teachers.build(config.teacher, **kwargs), source, cache,
                             manifest={"teacher": config.teacher, "layer": tspec.feature_layer,
                                       "weights": config.teacher_weights}, batch_size=64)
    log(f"teacher features of {len(source)} chips ({stats['faces_computed']} computed) in {time.time() - t0:.0f} s")
    return load_features(cache)


def _unusable_features(config: PaperConfig, read, noise, out_dir: Path, log) -> np.ndarray:
    """The teacher's features of the planted unusable faces, on their corrupted chips (the teacher sees the
    corruption too); cached in out_dir/teacher_features_unusable.npy, in the order of `noise.unusable_rows`."""
    path = out_dir / "teacher_features_unusable.npy"
    rows = noise.unusable_rows
    if path.is_file():
        cached = np.load(path)
        if len(cached) == len(rows):
            return cached
    t0 = time.time()
    kwargs = {"weights": config.teacher_weights} if config.teacher_weights else {}
    teacher = teachers.build(config.teacher, **kwargs)
    chips = np.stack(read(rows).images).astype(np.float32)
    feats = np.concatenate([np.asarray(teacher(chips[i:i + 64], training=False), np.float32)
                            for i in range(0, len(chips), 64)])
    save_npy(path, feats)
    log(f"teacher features of {len(rows)} corrupted chips in {time.time() - t0:.0f} s")
    return feats


def run_paper(config: PaperConfig, out_dir: str | Path, log: Callable[[str], None] = print) -> dict:
    """Runs (or resumes) the pipeline of the module docstring; returns the results dict (also results.json), whose
    `table` (LFW View 2) and `paper_table` (ours beside the paper's, the orderings) the CLIs print."""
    config = config.validate()
    out_dir = Path(out_dir)
    lfw_root = Path(config.lfw_root) if config.lfw_root else lfw_dir()
    settings = out_dir / "settings.json"
    check_settings(settings, dataclasses.asdict(config), hint="use another out_dir", defaults=ADDED_DEFAULTS,
                   ignore=("modes",))
    if json.loads(settings.read_text())["modes"] != list(config.modes):  # a resume with other modes: recorded
        write_json(settings, dataclasses.asdict(config))
    if (out_dir / "results.json").is_file():
        finished = json.loads((out_dir / "results.json").read_text())
        if finished["config"]["modes"] == list(config.modes):
            log(f"{out_dir}: finished run, its results.json is returned (delete it to recompute)")
            return finished
        log(f"{out_dir}: finished with modes {finished['config']['modes']}; training the students that modes "
            f"{list(config.modes)} lack and evaluating again")
    t_start, timings = time.time(), {}
    faces = TfdsFaces(config.dataset, split=config.split, data_dir=config.data_dir, id_key=config.id_key,
                      input_shards=config.input_shards)
    train_rows, train_labels, split_summary = _training_rows(config, faces, lfw_root)
    log(f"{config.dataset}: {len(faces)} faces; training on {split_summary}")
    noise = None
    if config.label_noise or config.unusable_noise:  # planted before anything else runs (issue 14's noise study)
        noise = plant_noise(train_rows, train_labels, label_rate=config.label_noise,
                            unusable_rate=config.unusable_noise, seed=config.train.seed)
        train_labels = noise.labels
        log(f"noise planted: {int(noise.wrong_label.sum())} wrong labels, {int(noise.unusable.sum())} unusable faces "
            f"of {int(noise.eligible.sum())} faces of people with >= 2 images")
    read = functools.partial(read_chips, faces, corrupt_rows=noise.unusable_rows if noise else (),
                             corrupt_seed=config.train.seed)

    # 1-2. Teacher features (Eq. 2).
    t0 = time.time()
    feats, feat_rows = _teacher_features(config, out_dir, log)
    position = {int(r): i for i, r in enumerate(feat_rows)}
    f_train = feats[[position[int(r)] for r in train_rows]].astype(np.float32)
    if noise is not None and noise.unusable.any():
        f_train[noise.unusable] = _unusable_features(config, read, noise, out_dir, log)
    timings["teacher_features"] = time.time() - t0

    # 3. Selection (Eq. 3).
    t0 = time.time()
    mean = f_train.mean(axis=0) if config.center_targets else np.zeros(f_train.shape[1], np.float32)
    targets = f_train - mean
    chosen = select_by_keep_fraction(targets, train_labels, config.keep_fraction, config.lam)
    write_json(out_dir / "selection.json", chosen.summary)
    plot_lambda_sweep(chosen.sweep.lams, chosen.sweep.kept_counts, out_dir / "lambda_sweep.png",
                      total=chosen.sweep.n, title=f"{config.dataset}: training faces kept by Eq. 3")
    if config.center_targets:
        save_npy(out_dir / "target_mean.npy", mean.astype(np.float32))
    timings["selection"] = time.time() - t0
    log(f"selection: lambda {chosen.lam:g} keeps {int(chosen.alpha.sum())}/{chosen.alpha.size} faces "
        f"({100 * chosen.summary['kept_fraction_multi_image']:.1f}% of multi-image faces)")
    noise_report = None
    if noise is not None:
        noise_report = {"label_noise": config.label_noise, "unusable_noise": config.unusable_noise,
                        "lam": chosen.lam, "selection": discard_scores(chosen.alpha, noise),
                        "curve": [{"lam": float(lam), **discard_scores(a, noise)}
                                  for lam, a in zip(chosen.sweep.lams, chosen.sweep.alphas)]}
        write_json(out_dir / "noise.json", {**noise_report, "planted": noise.summary()})
        sel = noise_report["selection"]
        log(f"selection vs planted noise: precision {sel['precision']:.3f}, recall {sel['recall']:.3f} "
            f"({sel['planted_discarded']} of {sel['planted']} planted faces among {sel['discarded']} discarded)")

    # 4. Students, degraded on the fly from the chips.
    t0 = time.time()
    tspec = teachers.spec(config.teacher)
    table = SourceTable(train_rows, train_labels, targets, chosen.alpha)
    degradations = {int(p): Degradation(int(p), config.perturbations, config.sampling, config.jitter,
                                        tspec.align_padding, config.train.seed) for p in config.resolutions}
    if config.student_input == "memory":
        chips = read(train_rows)
        train_sets = {p: StudentData(render_crops(chips, d), table) for p, d in degradations.items()}
        del chips
    else:
        cache = out_dir / "crops" if config.student_input == "disk" else None
        train_sets = {p: StudentData.stream(faces, d, table, crop_cache=cache) for p, d in degradations.items()}
    train = dataclasses.replace(config.train, feature_scale=config.train.feature_scale or math.sqrt(targets.shape[1]))
    students = grid.train_grid(train, train_sets, out_dir / "students", modes=config.modes, log=log)
    timings["students"] = time.time() - t0

    # How well the mimic layers fit their targets, against the teacher-on-upscaled-faces ceiling (issue 14).
    t0 = time.time()
    fits = _regression_fits(config, read, train_rows, targets, degradations, students, train, out_dir, log)
    timings["regression_fit"] = time.time() - t0

    # 5. LFW View 2.
    t0 = time.time()
    names = list(students)
    evaluation = evaluate_view2([students[n].keras_path for n in names], out_dir / "lfw_view2", lfw_root=lfw_root,
                                names=names, folds=config.test_folds, max_pairs=config.max_test_pairs,
                                target_mean=out_dir / "target_mean.npy" if config.center_targets else None,
                                seed=config.train.seed, log=log)
    headline = {n: evaluation.scores[f"{n}/{grid.HEADLINE_FEATURE}"] for n in names}
    comparisons = grid.compare_models(headline, evaluation.pairs.is_same,
                                      grid.paper_comparisons(names, config.resolutions), seed=config.train.seed)
    timings["evaluation"] = time.time() - t0

    # 6. UCCS identification and SCface retrieval, when their data is given.
    t0 = time.time()
    transfer = _transfer_evaluations(config, students, out_dir, log)
    timings["uccs_scface"] = time.time() - t0
    reports = evaluation.results["reports"]
    auc = {r["model"]: r["auc"] for r in grid.results_table(reports)}
    table_text = paper_table(auc, comparisons)
    plot_model_bars(auc, out_dir / "fig7_lfw_auc.png", ylabel="ROC AUC (%)", reference=PAPER_FIG7,
                    title=f"LFW View 2 folds {','.join(map(str, config.test_folds))} (paper's Fig. 7 hollow)")
    timings["total"] = time.time() - t_start
    result = {"config": dataclasses.asdict(config), "dataset": {"name": config.dataset, "faces": len(faces)},
              "split": split_summary, "teacher": {"name": config.teacher, "feature_dim": int(targets.shape[1])},
              "selection": {k: v for k, v in chosen.summary.items() if k != "sweep"},
              "train_config": dataclasses.asdict(train), "reports": reports, "table": evaluation.table,
              "paper_table": table_text, "regression_fit": fits, "noise": noise_report, **transfer,
              "comparisons": comparisons,
              "headline_feature": grid.HEADLINE_FEATURE, "timings_s": timings}
    write_text(out_dir / "table.txt", "\n\n".join([evaluation.table, table_text, *transfer_text(transfer)]) + "\n")
    write_json(out_dir / "results.json", result)  # last: its presence marks the run finished
    log(f"done in {timings['total']:.0f} s -> {out_dir / 'results.json'}")
    return result


def _regression_fits(config: PaperConfig, read, rows, targets, degradations, students, train, out_dir: Path,
                     log) -> dict:
    """`skd_tf.experiments.fit_report.regression_fit` per resolution, cached in out_dir/regression_fit.json."""
    path = out_dir / "regression_fit.json"
    if path.is_file():
        cached = json.loads(path.read_text())
        if sorted(cached.get("students", [])) == sorted(students):
            return cached["fits"]
    kwargs = {"weights": config.teacher_weights} if config.teacher_weights else {}
    teacher = teachers.build(config.teacher, **kwargs)
    size = teachers.spec(config.teacher).input_size
    by_resolution = {p: {n: str(r.keras_path) for n, r in students.items() if n.startswith(f"S-{p}-")}
                     for p in degradations}
    fits = regression_fit(read, rows, targets, degradations, teacher, size, by_resolution,
                          feature_norm=train.feature_norm, feature_scale=train.feature_scale, seed=config.train.seed)
    for p, fit in fits.items():
        log(f"S-{p} regression fit (explained fraction of the targets on {fit['num_eval']} training faces): "
            + ", ".join(f"{n} {v:.3f}" for n, v in fit["students"].items())
            + f"; ceiling (T-{p}-up + affine map) {fit['ceiling']:.3f}")
    write_json(path, {"students": sorted(students), "fits": fits})
    return fits


def _transfer_evaluations(config: PaperConfig, students, out_dir: Path, log) -> dict:
    """UCCS (Section IV-D) with `config.uccs_student` and SCface (Section IV-E) with `config.scface_student`, each
    with its experiment's default protocol in out_dir/uccs, out_dir/scface (a finished one is read back);
    `{"uccs": results, "scface": results}` for the data given."""
    jobs = []
    if config.uccs_csv:
        jobs.append(("uccs", uccs.run, UccsConfig(uccs_csv=config.uccs_csv, student=str(
            students[config.uccs_student].keras_path))))
    if config.scface_dir:
        jobs.append(("scface", scface.run, ScfaceConfig(scface_dir=config.scface_dir, student=str(
            students[config.scface_student].keras_path))))
    results = {}
    for name, run, sub_config in jobs:
        done = out_dir / name / "results.json"
        results[name] = json.loads(done.read_text()) if done.is_file() else run(sub_config, out_dir / name)
        log(transfer_text({name: results[name]})[0])
    return results


def transfer_text(transfer: dict) -> list[str]:
    """The UCCS / SCface result lines of a run (`uccs.format_result`, `scface.format_table`)."""
    return ([uccs.format_result(transfer["uccs"])] if "uccs" in transfer else []) + \
        ([scface.format_table(transfer["scface"])] if "scface" in transfer else [])


def paper_table(auc: dict[str, float], comparisons: dict[str, dict]) -> str:
    """Headline AUC per model beside the paper's value (`skd_tf.plots.results.PAPER_FIG7`, where it states one), and
    each of the paper's orderings with its paired-bootstrap interval."""
    lines = [f"{'model':<12}{'ours AUC':>10}{'paper':>8}"]
    lines += [f"{n:<12}{v:>10.2f}{PAPER_FIG7[n]:>8.2f}" if n in PAPER_FIG7 else f"{n:<12}{v:>10.2f}{'-':>8}"
              for n, v in auc.items()]
    lines.append("")
    lines += [f"{claim:<22} AUC difference {100 * c['difference']:+.2f} points, 95% paired-bootstrap interval "
              f"[{100 * c['low']:+.2f}, {100 * c['high']:+.2f}]" for claim, c in comparisons.items()]
    return "\n".join(lines)


def combine_folds(out_dir: Path, fold_dirs: Sequence[Path]) -> dict:
    """Pools finished fold runs (`lfw_view2/scores.npz` of each, or such a file itself, e.g. the copies in
    docs/scores that outlive a run folder): every model's scores over all their pairs, 10-fold accuracy over the
    folds, and the paper's orderings on the pooled pairs (`--test_fold=all` runs all ten)."""
    parts = []
    for d in fold_dirs:
        path = Path(d) if str(d).endswith(".npz") else Path(d) / "lfw_view2" / "scores.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no scores (is {d} a finished fold run or its scores.npz?)")
        parts.append(dict(np.load(path)))
    meta = {"is_same", "pair_lines", "fold", "cv_fold", "line", "name_a", "index_a", "name_b", "index_b"}
    common = set.intersection(*(set(p) for p in parts)) - meta
    keys = [k for k in parts[0] if k in common]  # the first fold's order: T, T-p-up, then the students
    same = np.concatenate([p["is_same"] for p in parts])
    folds = np.concatenate([np.full(len(p["is_same"]), i) for i, p in enumerate(parts)])
    reports: dict = {}
    for key in keys:
        model, _, feature = key.partition("__")
        rep = verification_report(np.concatenate([p[key] for p in parts]), same, folds)
        if feature:
            reports.setdefault(model, {})[feature] = rep
        else:
            reports[model] = rep
    table = grid.format_table(reports)
    students = sorted({k.partition("__")[0] for k in keys if k.startswith("S-")})
    headline = {n: np.concatenate([p[f"{n}__{grid.HEADLINE_FEATURE}"] for p in parts]) for n in students}
    resolutions = sorted({int(n.split("-")[1]) for n in students})
    comparisons = grid.compare_models(headline, same, grid.paper_comparisons(students, resolutions))
    auc = {r["model"]: r["auc"] for r in grid.results_table(reports)}
    result = {"test_fold": "all", "folds": [str(d) for d in fold_dirs], "reports": reports, "table": table,
              "paper_table": paper_table(auc, comparisons), "comparisons": comparisons}
    write_json(Path(out_dir) / "results.json", result)
    return result


def ensure_lfw_face_folder(lfw_root: str | Path, data_dir: str | Path, config: str = "aligned_150") -> str:
    """Builds LFW with the face-folder builder in place (images and dlib landmarks of `lfw_root`, nothing copied)
    into `data_dir` unless it is there; returns the dataset name to pass as `PaperConfig.dataset`."""
    lfw_root = Path(lfw_root)
    builder = Builder(data_dir=str(data_dir), config=config, images_subdir="lfw-deepfunneled",
                      landmarks_csv=str(lfw_root / "dlib" / "landmarks5.csv"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(lfw_root)))
    return f"face_folder/{config}"
