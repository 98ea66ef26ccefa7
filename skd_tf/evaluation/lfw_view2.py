"""Any trained student on LFW View 2: the 6,000 official pairs in 10 folds (paper Section IV-A/IV-C, Fig. 7).

The paper evaluates every student by face verification on LFW's 6,000 pairs (3,000 matched, 3,000 mismatched): "feature
vectors in the hidden layers (mimic layer and identity layer) are first extracted and normalized from a pair of face
images", the pair is scored by their similarity and the figure is the ROC AUC (Section IV-A). `evaluate_view2` scores
any student file that way, with the same rows and conventions as the fold experiment `experiments/lfw_lowres.py`
(`skd_tf.grid`), and writes the tables, ROC curves and per-pair scores:

* `T`: the teacher (`dlib_resnet`, 128-D) on 150-px high-resolution chips, cosine of the two features; its features
  come from the Keras port (`teacher_features="port"`, cached and resumable under `<out_dir>/teacher_features`) or
  from real dlib's `../shared/data/lfw/dlib/descriptors.npy` (`"descriptors"`, no network pass).
* `T-<p>-up`: the teacher on the student's p-px test crops upscaled back to 150 px (`upscale_to`, bicubic), for each
  student resolution p.
* per student `S-...`: `identity`, `mimic`, `both` (mean of the two cosines; Fig. 7's headline) and `cross` (the
  student's low-resolution mimic feature of image a against the teacher's high-resolution feature of image b), all
  through `skd_tf.grid.pair_scores`.

The pieces: `skd_tf.evaluation.view2_pairs` (which pairs, their images, folds and `exclude_people`),
`skd_tf.evaluation.view2_faces` (aligned chips and test crops, teacher features and the T rows) and
`skd_tf.evaluation.view2_students` (loading `.keras` / `.weights.h5` / run folder / `.tflite` students, their target
mean and the student rows).

Figures per row (`skd_tf.evaluation.verification.verification_report`): AUC, 10-fold accuracy (official View-2
folds when the selection spans >= 2 of them, else 10 round-robin subfolds, `skd_tf.grid.subfolds`), TAR at FAR 1e-3
and 1e-2, EER.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from skd_tf.data.degrade import upscale_to
from skd_tf.data.lfw import read_names
from skd_tf.evaluation.verification import verification_report
from skd_tf.evaluation.view2_faces import (
    DESCRIPTORS,
    TEACHER,
    descriptor_features,
    port_features,
    prepare_faces,
    teacher_pair_scores,
)
from skd_tf.evaluation.view2_pairs import (
    IMAGES,
    LANDMARKS,
    NUM_FOLDS,
    View2Pairs,
    load_view2_pairs,
    parse_folds,
    read_people_list,
)
from skd_tf.evaluation.view2_students import (
    TARGET_MEAN_LEVELS,
    TARGET_MEAN_NAME,
    EvalStudent,
    load_eval_student,
    student_pair_scores,
)
from skd_tf.models import teachers
from skd_tf.plots.verification import plot_roc
from skd_tf.utils.io import atomic_path, write_json, write_text
from skd_tf.utils.paths import lfw_dir

TEACHER_FEATURE_SOURCES = ("port", "descriptors")
STUDENT_FEATURES = ("identity", "mimic", "both", "cross")
HEADLINE_FEATURE = "both"
FAR_KEYS = ("tar_at_far_1e-3", "tar_at_far_1e-2")


# ------------------------------------------------------------------------------------------------------------ tables

def summary_row(model: str, feature: str | None, report: Mapping) -> dict:
    """One table row (percent): AUC, 10-fold accuracy mean / std, TAR at FAR 1e-3 / 1e-2, EER."""
    pct = lambda k: None if report.get(k) is None else 100.0 * float(report[k])  # noqa: E731
    return {"model": model, "feature": feature, "auc": pct("roc_auc"), "accuracy": pct("accuracy_mean"),
            "accuracy_std": pct("accuracy_std"), "tar_at_far_1e-3": pct("tar_at_far_1e-3"),
            "tar_at_far_1e-2": pct("tar_at_far_1e-2"), "eer": pct("eer"), "n_pairs": int(report["n_pairs"])}


def format_view2_table(rows: Sequence[Mapping]) -> str:
    """A plain-text table of `summary_row` rows (all figures in percent)."""
    name_w = max([len("model")] + [len(r["model"]) for r in rows]) + 2
    head = (f"{'model':<{name_w}}{'feature':<10}{'AUC':>8}{'10-fold acc':>16}{'TAR@FAR=1e-3':>14}"
            f"{'TAR@FAR=1e-2':>14}{'EER':>8}")
    lines = [head, "-" * len(head)]

    def num(v, w, d=2):
        return f"{'-':>{w}}" if v is None else f"{v:>{w}.{d}f}"

    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.2f} +- {r['accuracy_std']:.2f}"
        lines.append(f"{r['model']:<{name_w}}{(r['feature'] or '-'):<10}{num(r['auc'], 8)}{acc:>16}"
                     f"{num(r['tar_at_far_1e-3'], 14)}{num(r['tar_at_far_1e-2'], 14)}{num(r['eer'], 8)}")
    return "\n".join(lines)


def json_safe(obj: Any) -> Any:
    """`obj` with numpy values as Python ones and every NaN / infinity as None (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


# -------------------------------------------------------------------------------------------------------- evaluation

@dataclasses.dataclass
class View2Evaluation:
    """What `evaluate_view2` computed: `results` (the content of results.json), `scores` (per-pair scores, keys
    `T`, `T-<p>-up`, `<student>/<feature>`), the `pairs` and the printed `table`."""

    results: dict
    scores: dict[str, np.ndarray]
    pairs: View2Pairs
    table: str


def _unique_names(students: list[EvalStudent]) -> None:
    """Makes student row names unique (`S-16#2`) and distinct from the teacher rows `T` / `T-<p>-up`."""
    seen: dict[str, int] = {}
    for s in students:
        base = s.name
        if "/" in base or not base:
            raise ValueError(f"names: a row name must be non-empty and contain no '/', got {base!r}")
        if base in seen or re.fullmatch(r"T(-\d+-up)?", base):
            seen[base] = seen.get(base, 1) + 1
            s.name = f"{base}#{seen[base]}"
        else:
            seen[base] = 1


def _check_lfw_root(root: Path, teacher_features: str) -> None:
    needed = [root / "protocol" / "pairs.txt", root / "protocol" / "lfw-names.txt", root / LANDMARKS]
    if teacher_features == "descriptors":
        needed.append(root / DESCRIPTORS)
    for f in needed:
        if not f.is_file():
            raise FileNotFoundError(f"{f}: not found under the LFW folder {root} (lfw_root; expected "
                                    "lfw-deepfunneled/, protocol/pairs.txt, protocol/lfw-names.txt, "
                                    "dlib/landmarks5.csv" + (", dlib/descriptors.npy" if teacher_features ==
                                                              "descriptors" else "") + ")")
    if not (root / IMAGES).is_dir():
        raise FileNotFoundError(f"{root / IMAGES}: LFW image folder not found (lfw_root)")


def _rows_tag(rows: np.ndarray) -> str:
    """Names a teacher-feature cache folder by its image set (count + hash of the CSV rows), so that another
    selection of pairs never reads features cached for different faces."""
    return f"{len(rows)}img_{hashlib.sha1(np.ascontiguousarray(rows, np.int64).tobytes()).hexdigest()[:10]}"


def evaluate_view2(students: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
                   lfw_root: str | os.PathLike | None = None, names: Sequence[str] | None = None,
                   config: str | os.PathLike | None = None, folds: Sequence[int] | str | None = None,
                   exclude_people: str | os.PathLike | None = None, teacher_features: str = "port",
                   teacher_rows: bool = True, target_mean: str | os.PathLike | None = None,
                   max_pairs: int | None = None, batch_size: int = 64, tflite_threads: int | None = None,
                   seed: int = 0, progress: bool = False, log: Callable[[str], None] | None = print
                   ) -> View2Evaluation:
    """Scores `students` (paths; may be empty for the teacher rows alone) on LFW View 2 and writes `out_dir`.

    Every input is checked before any teacher pass or model run (LFW files, folds, `exclude_people`, each student
    loaded with its resolution and target mean, the descriptors): errors name the file or argument and what was
    expected. Rows: `T` and `T-<p>-up` (unless `teacher_rows=False`), then per student identity / mimic / both / cross
    (see the module docstring). `teacher_features`: "port" (the Keras teacher on the HR chips, cached under
    `out_dir/teacher_features/`) or "descriptors" (`dlib/descriptors.npy`). With `teacher_rows=False` the teacher
    network never runs: `cross` then needs "descriptors" and is left out otherwise. `target_mean` applies to every
    student (default: each student's own `target_mean.npy`, `find_target_mean`); `config` to every `.weights.h5`.

    Writes `results.json` (strict JSON: NaN/inf as null), `roc.png` (T rows and each student's `both`) and
    `scores.npz` (per-pair scores, `/` in keys written as `__`, plus the pairs' `is_same`, `fold`, `line`, names and
    image indices). Returns a `View2Evaluation`.
    """
    say = log or (lambda _msg: None)
    t_start = time.time()
    timings: dict[str, float] = {}
    notes: list[str] = []
    # ---- validation: nothing below runs a network before every input has been checked
    if teacher_features not in TEACHER_FEATURE_SOURCES:
        raise ValueError(f"teacher_features: expected one of {TEACHER_FEATURE_SOURCES}, got {teacher_features!r}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
    root = Path(lfw_root) if lfw_root is not None else lfw_dir()
    _check_lfw_root(root, teacher_features)
    folds = parse_folds(folds)
    excluded_names: set[str] = set()
    if exclude_people is not None:
        excluded_names = read_people_list(exclude_people)
        unknown = sorted(excluded_names - set(read_names(root / "protocol" / "lfw-names.txt")))
        if unknown:
            notes.append(f"{len(unknown)} of the {len(excluded_names)} names in {exclude_people} are not LFW people "
                         f"(e.g. {unknown[:3]}); they exclude nothing")
    if names is not None and len(names) != len(students):
        raise ValueError(f"names: expected one name per student ({len(students)}), got {len(names)}")
    if target_mean is not None and not Path(target_mean).is_file():
        raise FileNotFoundError(f"target_mean {target_mean}: file not found (expected a .npy of D floats)")
    pairs = load_view2_pairs(root, folds=folds, exclude_people=excluded_names, max_pairs=max_pairs)
    loaded = [load_eval_student(s, config=config, target_mean=target_mean, name=names[k] if names else None,
                                num_threads=tflite_threads) for k, s in enumerate(students)]
    _unique_names(loaded)
    tspec = teachers.spec(TEACHER)
    desc = descriptor_features(root, pairs.rows) if teacher_features == "descriptors" else None
    if desc is not None and desc.shape[1] != tspec.feature_dim:
        raise ValueError(f"{root / DESCRIPTORS}: {desc.shape[1]}-D rows, expected the {TEACHER} teacher's "
                         f"{tspec.feature_dim}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings["validate"] = time.time() - t_start
    resolutions = sorted({s.resolution for s in loaded})
    use_port_hr = teacher_features == "port" and teacher_rows
    hr_available = desc is not None or use_port_hr
    say(f"LFW View 2: {len(pairs)} pairs ({int(pairs.is_same.sum())} matched) of folds {list(folds)}, "
        f"{len(pairs.rows)} images; {len(loaded)} student(s) at {resolutions or '-'} px; 10-fold accuracy over "
        f"{pairs.cv_description()}")
    if excluded_names:
        say(f"excluded {pairs.excluded} pairs involving the {len(excluded_names)} people of {exclude_people}")
    elif loaded:
        notes.append("whether the students were trained on the people of these pairs is not known here (no "
                     "exclude_people); the fold-k student of experiments/lfw_lowres.py is clean on folds=[k] only")
    for s in loaded:
        if s.mimic_dim != tspec.feature_dim:
            notes.append(f"{s.name}: cross left out (mimic layer {s.mimic_dim}-D, the {TEACHER} teacher's feature "
                         f"is {tspec.feature_dim}-D)")
        elif not hr_available:
            notes.append(f"{s.name}: cross left out (teacher_rows=False with teacher_features='port' runs no teacher; "
                         "use teacher_features='descriptors')")
        elif s.target_mean is None:
            notes.append(f"{s.name}: no target mean (no {TARGET_MEAN_NAME} beside {s.path} or up to "
                         f"{TARGET_MEAN_LEVELS} folders above, no target_mean given): cross uses uncentred teacher "
                         "features")
    for n in notes:
        say(f"note: {n}")

    # ---- faces (each image read once)
    faces: dict = {"hr": None}
    if resolutions or use_port_hr:
        t0 = time.time()
        faces = prepare_faces(root, pairs, resolutions, hr_size=tspec.input_size if use_port_hr else None,
                              padding=tspec.align_padding, seed=seed, progress=progress)
        timings["read_align_crop"] = time.time() - t0
        say(f"read and aligned {len(pairs.rows)} images in {timings['read_align_crop']:.1f} s")

    # ---- teacher
    scores: dict[str, np.ndarray] = {}
    teacher_info: dict[str, Any] = {"name": TEACHER, "features": teacher_features if teacher_rows or desc is not None
                                    else None, "rows": bool(teacher_rows)}
    hr = desc
    teacher = None
    tag = _rows_tag(pairs.rows)
    cache_root = out_dir / "teacher_features"
    if teacher_rows:
        if use_port_hr or resolutions:
            t0 = time.time()
            teacher = teachers.build(TEACHER)
            timings["teacher_build"] = time.time() - t0
        if use_port_hr:
            t0 = time.time()
            hr, stats = port_features(teacher, faces["hr"], pairs.rows, cache_root / f"hr{tspec.input_size}_{tag}",
                                      description={"lfw_view2": "HR chips", "images": tag},
                                      batch_size=batch_size, progress=progress)
            timings["teacher_hr"] = time.time() - t0
            teacher_info["hr_cache"] = {"dir": str(cache_root / f"hr{tspec.input_size}_{tag}"),
                                        **{k: stats.get(k) for k in ("computed_shards", "skipped_shards",
                                                                     "faces_computed")}}
            say(f"T: teacher on {len(pairs.rows)} HR chips in {timings['teacher_hr']:.1f} s "
                f"({stats.get('faces_computed', 0)} computed, rest cached)")
        scores["T"] = teacher_pair_scores(hr, pairs)
        faces.pop("hr", None)
        for p in resolutions:
            t0 = time.time()
            key = f"T-{p}-up"
            cdir = cache_root / f"up{p}_{tag}"
            up, stats = port_features(teacher, upscale_to(faces[p], tspec.input_size), pairs.rows, cdir,
                                      description={"lfw_view2": f"{p}-px test crops upscaled to {tspec.input_size}",
                                                   "images": tag}, batch_size=batch_size, progress=progress)
            scores[key] = teacher_pair_scores(up, pairs)
            timings[f"teacher_{p}_up"] = time.time() - t0
            teacher_info[f"up{p}_cache"] = {"dir": str(cdir), **{k: stats.get(k) for k in (
                "computed_shards", "skipped_shards", "faces_computed")}}
            say(f"{key}: teacher on {len(pairs.rows)} upscaled {p}-px crops in {timings[f'teacher_{p}_up']:.1f} s")

    # ---- students
    for s in loaded:
        t0 = time.time()
        cross_hr = hr if (hr is not None and s.mimic_dim == tspec.feature_dim) else None
        sc = student_pair_scores(s, faces[s.resolution], pairs, teacher_hr=cross_hr, batch_size=256)
        scores.update({f"{s.name}/{k}": v for k, v in sc.items()})
        timings[f"student {s.name}"] = time.time() - t0
        say(f"{s.name}: {s.kind} student at {s.resolution} px on {len(pairs.rows)} faces in "
            f"{timings[f'student {s.name}']:.1f} s")

    # ---- figures
    t0 = time.time()
    cv = pairs.cv_folds()
    reports: dict[str, Any] = {}
    table_rows = []
    for key, v in scores.items():
        model, _, feature = key.partition("/")
        rep = verification_report(v, pairs.is_same, cv)
        if feature:
            reports.setdefault(model, {})[feature] = rep
        else:
            reports[model] = rep
        table_rows.append(summary_row(model, feature or None, rep))
    table = format_view2_table(table_rows)
    curves = {k: (v, pairs.is_same) for k, v in scores.items() if "/" not in k}
    curves.update({s.name: (scores[f"{s.name}/{HEADLINE_FEATURE}"], pairs.is_same) for s in loaded})
    if curves:
        plot_roc(curves, out_dir / "roc.png", title=f"LFW View 2, folds {_fold_text(folds)} ({len(pairs)} pairs)")
    with atomic_path(out_dir / "scores.npz", suffix=".npz") as tmp:
        np.savez(tmp, is_same=pairs.is_same, fold=pairs.fold, cv_fold=cv, line=pairs.line, name_a=pairs.name_a,
                 index_a=pairs.index_a, name_b=pairs.name_b, index_b=pairs.index_b,
                 **{k.replace("/", "__"): v for k, v in scores.items()})
    timings["evaluation"] = time.time() - t0
    timings["total"] = time.time() - t_start
    results = {
        "protocol": "LFW View 2 (pairs.txt), cosine similarity of L2-normalised features (Section IV-A)",
        "lfw_root": str(root), "pairs": pairs.summary(),
        "exclude_people": str(exclude_people) if exclude_people is not None else None,
        "teacher": teacher_info, "students": [s.describe() for s in loaded],
        "crops": {"aligner": "skd_tf.data.align (dlib 5-point template, padding "
                             f"{tspec.align_padding})", "hr_size": tspec.input_size,
                  "student_crop": "degrade_faces(num_perturbations=1, jitter=0.0), anti-aliased", "seed": seed},
        "rows": table_rows, "reports": reports, "headline_feature": HEADLINE_FEATURE, "notes": notes,
        "table": table, "timings_s": timings,
    }
    write_json(out_dir / "results.json", json_safe(results))
    write_text(out_dir / "table.txt", table + "\n")
    say(f"wrote {out_dir / 'results.json'}, roc.png, scores.npz in {timings['total']:.1f} s")
    return View2Evaluation(results=results, scores=scores, pairs=pairs, table=table)


def _fold_text(folds: Sequence[int]) -> str:
    f = list(folds)
    return "1-10" if f == list(range(1, NUM_FOLDS + 1)) else ",".join(map(str, f))


def load_results(path: str | os.PathLike) -> dict:
    """Reads a results.json written by `evaluate_view2` (strict JSON)."""
    def bad(c):
        raise ValueError(f"{path}: non-standard JSON constant {c}")

    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=bad)
