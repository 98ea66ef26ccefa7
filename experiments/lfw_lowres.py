"""Fig. 7 on real faces: students at 16 and 32 px distilled from the dlib ResNet teacher, verified on LFW.

Protocol (issue 6; paper Section IV-C). The students train on every image of the people in nine of the ten folds of
LFW's `people.txt` and are tested on the 600 pairs of the held-out fold (`--test_fold`, 1-based; `all` runs the ten
folds and scores all 6,000 pairs with the official folds), so no test identity is ever seen in training.

  1. Teacher features f_i (Eq. 2): `dlib_resnet` (128-D) on 150-px chips aligned with the 5-point landmarks of
     `../shared/data/lfw/dlib/landmarks5.csv`, cached (resumable) under `<out_dir>/teacher_features`.
  2. Selection (Eq. 3, `skd_tf.selection`, s = max(0, cos)) on the training people only, on features centred by
     their training mean (the dlib descriptors share a large common component: raw, a face's cosine to other
     people's centroids is ~0.8, which swamps the unary term; see `skd_tf.models.teachers.compact`). lambda rule:
     sweep lambda over -2^(k/2) (k = 0..26) and 0 and take the value whose kept fraction of the faces of training
     people with >= 2 images is closest to `--keep_fraction` (a one-image class has no pairwise term and a positive
     unary term, so Eq. 3 discards it at every lambda). `--lam` overrides the rule.
  3. Low-resolution faces (Section IV-A): each training face perturbed `--perturbations` times (landmark jitter
     `--jitter` x inter-ocular distance), aligned and area-downsampled to p px; test faces once, unperturbed.
  4. Students (`skd_tf.grid.train_grid`): stage 1 (mode c, `--init_epochs`) per resolution, then stage 3 in modes
     c, s, sc, dc (`--epochs`). Regression targets: `--feature_norm`/`--feature_scale` (see the flag help).
  5. Verification (`skd_tf.grid`): cosine of identity-layer, mimic-layer and both features; cross-resolution (student
     mimic of LR image a vs teacher feature of HR image b); T (teacher on HR chips) and T-p-up (teacher on the p-px
     test faces upscaled back to 150 px). AUC and "10-fold-style" accuracy (the 600 pairs in 10 blocks of 60, the
     threshold chosen on nine blocks and tested on the tenth).

Outputs under `--out_dir`: `results.json`, `fig7_lfw_auc.png`, `roc.png`, `lambda_sweep.png`, `selection.json`,
`scores.npz` (per-pair scores of every model), the student runs (resumable) and cached crops.

  python -m experiments.lfw_lowres --test_fold=1                 # the full fold-1 run
  python -m experiments.lfw_lowres --quick --out_dir=runs/lfw_quick   # smoke run
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS

QUICK = {"max_train_people": 1200, "max_test_pairs": 300, "perturbations": 2, "init_epochs": 8, "epochs": 8,
         "resolutions": ["16", "32"]}


def define_flags():
    flags.DEFINE_string("lfw_root", None, "LFW folder with lfw-deepfunneled/, protocol/, dlib/ "
                        "(default: ../shared/data/lfw).")
    flags.DEFINE_string("out_dir", "runs/lfw_lowres", "Output folder (a rerun with the same flags resumes).")
    flags.DEFINE_string("test_fold", "1", "Held-out people fold 1..10, or 'all' for all ten.")
    flags.DEFINE_list("resolutions", ["16", "32"], "Student input resolutions p.")
    flags.DEFINE_list("modes", ["c", "s", "sc", "dc"], "Supervision modes of stage 3 (Section IV-C).")
    flags.DEFINE_integer("perturbations", 4, "Low-resolution versions per training face (the paper uses 16).")
    flags.DEFINE_float("jitter", 0.05, "Landmark jitter, in inter-ocular distances.")
    flags.DEFINE_integer("init_epochs", 10, "Stage-1 (softmax) epochs.")
    flags.DEFINE_integer("epochs", 6, "Stage-3 epochs per mode.")
    flags.DEFINE_integer("batch_size", 256, "Mini-batch size (the paper's).")
    flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate of stage 1 (cosine decay per stage).")
    flags.DEFINE_float("finetune_learning_rate", 5e-4, "Adam learning rate of stage 3.")
    flags.DEFINE_enum("feature_norm", "l2", ["raw", "l2"], "Regression target: raw dlib descriptor, or "
                      "L2-normalised and multiplied by --feature_scale.")
    flags.DEFINE_float("feature_scale", 0.0, "Target norm for --feature_norm=l2 (0: sqrt(D), i.e. O(1) per "
                       "dimension, as the paper's 4096-D VGGFace fc7 targets; raw dlib descriptors have norm 1.42 "
                       "(centred 0.58), which leaves L_reg far below L_cls under Eq. 4's equal weights).")
    flags.DEFINE_boolean("center_targets", True, "Regress the teacher features centred by their training mean (the "
                         "mimic layer's bias could absorb the shift, but Adam's bounded steps would need thousands of "
                         "steps to learn the dlib descriptors' ~0.9-per-dimension common offset). The cross-resolution "
                         "score then compares the mimic feature with the centred teacher feature.")
    flags.DEFINE_float("keep_fraction", 0.9, "lambda rule: kept fraction of multi-image training faces.")
    flags.DEFINE_float("lam", None, "Use this lambda instead of the rule.")
    flags.DEFINE_integer("min_train_images", 1, "Train only on people with at least this many images (2 leaves out "
                         "the one-image people, whom Eq. 3 can never select).")
    flags.DEFINE_integer("max_train_people", None, "Random subset of training people (smoke runs).")
    flags.DEFINE_integer("max_test_pairs", None, "First pairs of the test fold, half same (smoke runs).")
    flags.DEFINE_integer("seed", 0, "Seed of crops, data order and initialisation.")
    flags.DEFINE_list("combine", None, "Only pool the scores of these finished fold folders into --out_dir "
                      "(e.g. runs/lfw_fold1,runs/lfw_fold2).")
    flags.DEFINE_boolean("quick", False, f"Smoke run: {QUICK}.")
    flags.DEFINE_integer("verbose", 0, "Keras fit verbosity (0: per-run summary lines only).")


def _log(msg: str) -> None:
    print(f"[lfw_lowres {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _settings() -> dict:
    names = ["resolutions", "modes", "perturbations", "jitter", "init_epochs", "epochs", "batch_size",
             "learning_rate", "finetune_learning_rate", "feature_norm", "feature_scale", "center_targets",
             "keep_fraction", "lam", "min_train_images", "max_train_people", "max_test_pairs", "seed"]
    s = {n: getattr(FLAGS, n) for n in names}
    if FLAGS.quick:
        for k, v in QUICK.items():
            if not FLAGS[k].present:
                s[k] = v
    s["resolutions"] = [int(p) for p in s["resolutions"]]
    return s


def _load_images(root: Path, paths: list[str], rows: np.ndarray) -> np.ndarray:
    from tqdm import tqdm

    from skd_tf.features.extract import read_rgb

    first = read_rgb(root / paths[int(rows[0])])
    out = np.empty((len(rows),) + first.shape, np.uint8)
    for i, r in enumerate(tqdm(rows, desc="read LFW images", unit="img", mininterval=2.0)):
        img = read_rgb(root / paths[int(r)])
        if img.shape != first.shape:
            raise ValueError(f"{root / paths[int(r)]}: expected {first.shape} like the other LFW images, "
                             f"got {img.shape}")
        out[i] = img
    return out


def _cached_crops(path: Path, make):
    """Degraded crops are deterministic (seeded per row id); cache them so a resumed run skips the work."""
    from skd_tf.utils.io import save_npy

    if path.is_file():
        return np.load(path)
    arr = make()
    save_npy(path, arr)
    return arr


def _low_resolution_faces(images, landmarks, pos, split, s: dict, out_dir: Path):
    """Per resolution p: the training faces' `--perturbations` jittered p-px crops and the test faces' single
    unjittered crop (Section IV-A), cached under out_dir/crops (deterministic per row id)."""
    from skd_tf.data.degrade import degrade_faces

    train_pos = np.array([pos[int(r)] for r in split.train_rows])
    test_pos = np.array([pos[int(r)] for r in split.test_rows])
    train_lr, test_lr = {}, {}
    for p in s["resolutions"]:
        train_lr[p] = _cached_crops(out_dir / f"crops/train_{p}_k{s['perturbations']}.npy", lambda p=p: degrade_faces(
            images[train_pos], landmarks[train_pos], split.train_rows, p, num_perturbations=s["perturbations"],
            jitter=s["jitter"], seed=s["seed"], progress=True)[0])
        test_lr[p] = _cached_crops(out_dir / f"crops/test_{p}.npy", lambda p=p: degrade_faces(
            images[test_pos], landmarks[test_pos], split.test_rows, p, num_perturbations=1, jitter=0.0,
            seed=s["seed"])[0])
    return train_lr, test_lr


def run_fold(test_fold: int, s: dict, lfw_root: Path, out_dir: Path) -> dict:
    """One held-out fold end to end; returns the results dict (also written to out_dir/results.json)."""
    from skd_tf import grid
    from skd_tf.data.degrade import upscale_to
    from skd_tf.data.lfw_folds import IMAGES, fold_split
    from skd_tf.evaluation.verification import cosine_scores, verification_report
    from skd_tf.features.cache import load_features
    from skd_tf.features.extract import AlignedArraySource, extract_to_cache
    from skd_tf.models import teachers
    from skd_tf.plots.results import PAPER_FIG7, plot_model_bars
    from skd_tf.plots.selection import plot_lambda_sweep
    from skd_tf.plots.verification import plot_roc
    from skd_tf.selection import sweep_lambda
    from skd_tf.training import StudentData, TrainConfig
    from skd_tf.utils.io import check_settings, write_json

    t_start = time.time()
    timings = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    check_settings(out_dir / "flags.json", {"test_fold": test_fold, **s}, hint="use another --out_dir")
    split = fold_split(lfw_root, test_fold, min_train_images=s["min_train_images"],
                       max_train_people=s["max_train_people"],
                       max_test_pairs=s["max_test_pairs"], seed=s["seed"])
    _log(f"fold {test_fold}: {split.summary()}")
    rows = np.r_[split.train_rows, split.test_rows]
    t0 = time.time()
    images = _load_images(lfw_root / IMAGES, split.paths, rows)
    landmarks = split.landmarks[rows]
    pos = {int(r): i for i, r in enumerate(rows)}
    timings["read_images"] = time.time() - t0

    # 1. Teacher features (Eq. 2), cached and resumable.
    t0 = time.time()
    tspec = teachers.spec("dlib_resnet")
    teacher = teachers.build("dlib_resnet")
    cache = out_dir / "teacher_features"
    extract_to_cache(teacher, AlignedArraySource(images, landmarks, tspec.input_size, tspec.align_padding,
                                                 row_ids=rows, description={"lfw": "fold split"}),
                     cache, manifest={"teacher": "dlib_resnet", "layer": tspec.feature_layer}, batch_size=64)
    feats, feat_rows = load_features(cache)
    frow = {int(r): i for i, r in enumerate(feat_rows)}
    f_train = feats[[frow[int(r)] for r in split.train_rows]].astype(np.float32)
    f_test = feats[[frow[int(r)] for r in split.test_rows]].astype(np.float32)
    timings["teacher_features"] = time.time() - t0
    _log(f"teacher features {feats.shape} in {timings['teacher_features']:.0f} s")

    # 2. Selection on the training people (Eq. 3), lambda by the stated rule.
    t0 = time.time()
    train_mean = f_train.mean(axis=0, keepdims=True)
    centred = f_train - train_mean
    lams = sorted({-(2.0 ** (k / 2)) for k in range(27)} | {0.0} | ({float(s["lam"])} if s["lam"] is not None
                                                                     else set()))
    sweep = sweep_lambda(centred, split.train_labels, lams=lams)
    multi = np.bincount(split.train_labels)[split.train_labels] >= 2
    frac_multi = sweep.alphas[:, multi].mean(axis=1) if multi.any() else np.zeros(len(sweep.lams))
    if s["lam"] is not None:
        k = int(np.flatnonzero(sweep.lams == float(s["lam"]))[0])
    else:
        diff = np.abs(frac_multi - s["keep_fraction"])
        k = int(np.flatnonzero(diff <= diff.min() + 1e-12).max())
    lam, alpha = float(sweep.lams[k]), sweep.alphas[k]
    selection = {"lam": lam, "rule": "given" if s["lam"] is not None else
                 f"kept fraction of multi-image training faces closest to {s['keep_fraction']}",
                 "kept": int(alpha.sum()), "faces": int(alpha.size), "kept_fraction": float(alpha.mean()),
                 "kept_fraction_multi_image": float(frac_multi[k]), "multi_image_faces": int(multi.sum()),
                 "one_image_faces_kept": int(alpha[~multi].sum()),
                 "sweep": {"lams": sweep.lams, "kept": sweep.kept_counts, "kept_fraction_multi_image": frac_multi}}
    write_json(out_dir / "selection.json", selection)
    plot_lambda_sweep(sweep.lams, sweep.kept_counts, out_dir / "lambda_sweep.png", total=sweep.n,
                      title=f"LFW training folds (fold {test_fold} held out): faces kept by Eq. 3")
    timings["selection"] = time.time() - t0
    _log(f"selection: lambda {lam:g} keeps {alpha.sum()}/{alpha.size} faces "
         f"({100 * frac_multi[k]:.1f}% of multi-image faces) in {timings['selection']:.0f} s")

    # 3. Low-resolution crops.
    t0 = time.time()
    train_lr, test_lr = _low_resolution_faces(images, landmarks, pos, split, s, out_dir)
    del images
    targets = centred if s["center_targets"] else f_train
    src = np.repeat(split.train_rows, s["perturbations"])  # degrade_faces' row order
    train_sets = {p: StudentData.build(lr, src, split.train_rows, split.train_labels, features=targets,
                                       feature_row_ids=split.train_rows, alpha=alpha) for p, lr in train_lr.items()}
    timings["crops"] = time.time() - t0
    _log(f"low-resolution crops in {timings['crops']:.0f} s")

    # 4. Students.
    t0 = time.time()
    dim = f_train.shape[1]
    config = TrainConfig(init_epochs=s["init_epochs"], epochs=s["epochs"], batch_size=s["batch_size"],
                         learning_rate=s["learning_rate"], finetune_learning_rate=s["finetune_learning_rate"],
                         feature_norm=s["feature_norm"], feature_scale=s["feature_scale"] or math.sqrt(dim),
                         seed=s["seed"], verbose=FLAGS.verbose)
    students = grid.train_grid(config, train_sets, out_dir / "students", modes=s["modes"], log=_log)
    timings["students"] = time.time() - t0

    # 5. Verification.
    t0 = time.time()
    a, b, same = split.pair_a, split.pair_b, split.is_same
    folds = grid.subfolds(len(same))
    scores = {"T": cosine_scores(f_test[a], f_test[b])}
    for p in s["resolutions"]:
        up = teacher.predict(upscale_to(test_lr[p], tspec.input_size), batch_size=64, verbose=0)
        scores[f"T-{p}-up"] = cosine_scores(up[a], up[b])
    reports = {name: verification_report(v, same, folds) for name, v in scores.items()}
    for name, res in students.items():
        p = res.student.input_shape[1]
        emb = grid.embed(res.student, test_lr[p])
        sc = grid.pair_scores(emb, a, b, teacher_hr=f_test - train_mean if s["center_targets"] else f_test)
        reports[name] = {k: verification_report(v, same, folds) for k, v in sc.items()}
        scores.update({f"{name}/{k}": v for k, v in sc.items()})
    headline_scores = {n: scores[f"{n}/{grid.HEADLINE_FEATURE}"] for n in students}
    comparisons = grid.compare_models(headline_scores, same, grid.paper_comparisons(students, s["resolutions"]),
                                      seed=s["seed"])
    timings["evaluation"] = time.time() - t0
    table = grid.format_table(reports)
    print(table, flush=True)
    for claim, c in comparisons.items():
        print(f"{claim:<22} AUC difference {100 * c['difference']:+.2f} points, 95% paired-bootstrap interval "
              f"[{100 * c['low']:+.2f}, {100 * c['high']:+.2f}]", flush=True)

    headline = {r["model"]: r["auc"] for r in grid.results_table(reports)}
    plot_model_bars(headline, out_dir / "fig7_lfw_auc.png", ylabel="ROC AUC (%)",
                    title=f"LFW fold {test_fold}, identity-disjoint training (paper's Fig. 7 hollow, UMDFaces)",
                    reference=PAPER_FIG7)
    roc = {n: (scores[n if n.startswith("T") else f"{n}/{grid.HEADLINE_FEATURE}"], same) for n in headline}
    plot_roc(roc, out_dir / "roc.png", title=f"LFW fold {test_fold}")
    from skd_tf.utils.io import atomic_path
    with atomic_path(out_dir / "scores.npz", suffix=".npz") as tmp:
        np.savez(tmp, is_same=same, pair_lines=split.pair_lines, **{k.replace("/", "__"): v
                                                                     for k, v in scores.items()})
    timings["total"] = time.time() - t_start
    result = {"test_fold": test_fold, "split": split.summary(), "settings": s,
              "teacher": {"name": "dlib_resnet", "feature_dim": dim},
              "selection": {k: v for k, v in selection.items() if k != "sweep"},
              "train_config": dataclasses.asdict(config), "reports": reports, "table": table,
              "comparisons": comparisons,
              "headline_feature": grid.HEADLINE_FEATURE, "timings_s": timings}
    write_json(out_dir / "results.json", result)
    _log(f"fold {test_fold} done in {timings['total']:.0f} s -> {out_dir / 'results.json'}")
    return result


def combine_folds(out_dir: Path, fold_dirs: list[Path]) -> dict:
    """`--test_fold=all`: every model's scores over all 6,000 pairs, 10-fold accuracy over the official folds, and
    the paper's orderings on the pooled pairs. Also pools any finished folds (`--combine=DIR1,DIR2`)."""
    from skd_tf import grid
    from skd_tf.evaluation.verification import verification_report
    from skd_tf.utils.io import write_json

    parts = [dict(np.load(d / "scores.npz")) for d in fold_dirs]
    common = set.intersection(*(set(p) for p in parts)) - {"is_same", "pair_lines"}
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
    print(table, flush=True)
    students = sorted({k.partition("__")[0] for k in keys if k.startswith("S-")})
    headline = {n: np.concatenate([p[f"{n}__{grid.HEADLINE_FEATURE}"] for p in parts]) for n in students}
    resolutions = sorted({int(n.split("-")[1]) for n in students})
    comparisons = grid.compare_models(headline, same, grid.paper_comparisons(students, resolutions))
    for claim, c in comparisons.items():
        print(f"{claim:<22} AUC difference {100 * c['difference']:+.2f} points, 95% paired-bootstrap interval "
              f"[{100 * c['low']:+.2f}, {100 * c['high']:+.2f}]", flush=True)
    result = {"test_fold": "all", "folds": [str(d) for d in fold_dirs], "reports": reports, "table": table,
              "comparisons": comparisons}
    write_json(out_dir / "results.json", result)
    return result


def main(argv):
    del argv
    from skd_tf.utils.paths import lfw_dir

    s = _settings()
    lfw_root = Path(FLAGS.lfw_root) if FLAGS.lfw_root else lfw_dir()
    if not (lfw_root / "protocol" / "people.txt").is_file():
        raise FileNotFoundError(f"{lfw_root / 'protocol' / 'people.txt'}: LFW protocol not found (--lfw_root)")
    out_dir = Path(FLAGS.out_dir)
    if FLAGS.combine:
        out_dir.mkdir(parents=True, exist_ok=True)
        combine_folds(out_dir, [Path(d) for d in FLAGS.combine])
    elif FLAGS.test_fold == "all":
        dirs = [out_dir / f"fold{k}" for k in range(1, 11)]
        for k, d in enumerate(dirs, start=1):
            run_fold(k, s, lfw_root, d)
        combine_folds(out_dir, dirs)
    else:
        try:
            fold = int(FLAGS.test_fold)
        except ValueError:
            raise ValueError(f"--test_fold: expected 1..10 or 'all', got {FLAGS.test_fold!r}") from None
        run_fold(fold, s, lfw_root, out_dir)
    print(json.dumps({"out_dir": str(out_dir)}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
