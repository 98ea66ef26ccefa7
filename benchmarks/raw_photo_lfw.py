"""The raw-photo path against the landmarks path, for the shipped students on their held-out LFW fold (issue 15).

Landmarks path: every image of the View-2 pairs of the held-out fold (fold 1: 600 pairs, 807 images) aligned with its
5 points of `dlib/landmarks5.csv` (what `experiments/eval_lfw.py` and the model cards use). Raw-photo path: the same
JPEGs through `skd_tf.recognition.FaceFinder` (dlib's HOG detector at upsample 1 + 5-point predictor, largest face;
no landmarks file), cropped at each student's resolution the same way. Both are scored by `both` (the cards' score)
with the Keras students of `skd_tf.pretrained`, AUC in percent.

Images without a detected face are counted and listed, and the raw-photo AUC is given three ways:

* `rejected` (the headline; what `experiments/verify.py` does): a pair with a face missing gets no score, which is a
  "different" decision, scored here as -1, below every real score;
* `centred_box` (`--centred_fallback` of the CLIs): the landmarks searched for in the box where LFW's median HOG face
  lies, (67, 80, 175, 187) in these 250 x 250 images, as landmarks5.csv did for the 67 images HOG missed (its
  `fixed` rows; `dlib/README.md`; `skd_tf.recognition.faces.CENTRED_BOX`);
* `detected_pairs`: only the pairs whose two images have a detected face (both paths on those pairs).

It also counts the images whose chosen face differs from landmarks5.csv's (landmarks5.csv kept the box nearest the
image centre when HOG found several; the raw path keeps the largest).

Usage: ``nice -n 10 .venv/bin/python -m benchmarks.raw_photo_lfw --out=runs/raw_photo_lfw.json``
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from skd_tf import pretrained
from skd_tf.evaluation.verification import roc_auc
from skd_tf.evaluation.view2_faces import prepare_faces
from skd_tf.evaluation.view2_pairs import IMAGES, load_view2_pairs
from skd_tf.evaluation.view2_students import load_eval_student
from skd_tf.pretrained.evaluate import HEADLINE_FEATURE, pair_scores
from skd_tf.recognition import FaceFinder
from skd_tf.utils.io import write_json
from skd_tf.utils.paths import lfw_dir

MISSING_SCORE = -1.0


def raw_faces(root: Path, paths: Sequence[str], resolutions: Sequence[int], upsample: int = 1,
              progress: bool = False) -> tuple[list, dict]:
    """`FaceFinder` (with the centred-box fallback) on each image: the faces, and their crops `{p: [M, p, p, 3]}`."""
    from tqdm import tqdm

    finder = FaceFinder(resolutions, upsample=upsample, centred_fallback=True)
    faces = [finder(root / IMAGES / rel) for rel in tqdm(paths, desc="detect", disable=not progress)]
    return faces, {p: np.stack([f.crops[p] for f in faces]) for p in finder.resolutions}


def run(names: Sequence[str], *, lfw_root: str | os.PathLike | None = None, folds: Sequence[int] = (1,),
        max_pairs: int | None = None, upsample: int = 1, progress: bool = False) -> dict:
    """The comparison of the module docstring for pretrained students `names` on View-2 `folds`."""
    root = Path(lfw_root) if lfw_root is not None else lfw_dir()
    t0 = time.time()
    pairs = load_view2_pairs(root, folds=folds, max_pairs=max_pairs)
    students = {n: load_eval_student(pretrained.artifact_path(n, "keras"), name=n) for n in names}
    resolutions = sorted({s.resolution for s in students.values()})
    marked = prepare_faces(root, pairs, resolutions)
    faces, raw = raw_faces(root, pairs.paths, resolutions, upsample, progress)
    detected = np.array([f.status == "ok" for f in faces])
    csv_points = np.asarray(pairs.landmarks, np.float64)
    same_face = np.array([f.status == "ok" and np.abs(f.landmarks - csv_points[k]).max() < 0.5
                          for k, f in enumerate(faces)])
    pair_ok = detected[pairs.pair_a] & detected[pairs.pair_b]
    report = {"folds": list(folds), "n_pairs": len(pairs), "n_images": len(pairs.paths), "upsample": upsample,
              "undetected": {"n_images": int((~detected).sum()),
                             "images": [pairs.paths[k] for k in np.flatnonzero(~detected)],
                             "n_pairs_affected": int((~pair_ok).sum())},
              "faces_other_than_landmarks5": int((detected & ~same_face).sum()),
              "students": {}}
    for name, student in students.items():
        p = student.resolution
        lm = pair_scores(student, marked[p], pairs)[HEADLINE_FEATURE]
        raw_scores = pair_scores(student, raw[p], pairs)[HEADLINE_FEATURE]
        rejected = np.where(pair_ok, raw_scores, MISSING_SCORE)
        auc = {"landmarks": roc_auc(lm, pairs.is_same), "rejected": roc_auc(rejected, pairs.is_same),
               "centred_box": roc_auc(raw_scores, pairs.is_same),
               "detected_pairs_landmarks": roc_auc(lm[pair_ok], pairs.is_same[pair_ok]),
               "detected_pairs_raw": roc_auc(raw_scores[pair_ok], pairs.is_same[pair_ok])}
        auc = {k: 100.0 * v for k, v in auc.items()}
        report["students"][name] = {"resolution": p, "auc": auc,
                                    "card_auc": pretrained.card(name)["evaluation"]["held_out"]["figures"]["keras"][
                                        HEADLINE_FEATURE]["auc"],
                                    "difference_rejected": auc["rejected"] - auc["landmarks"],
                                    "difference_centred_box": auc["centred_box"] - auc["landmarks"]}
    report["seconds"] = time.time() - t0
    return report


def format_table(report: dict) -> str:
    lines = [f"LFW View-2 folds {report['folds']}: {report['n_pairs']} pairs, {report['n_images']} images; "
             f"{report['undetected']['n_images']} without a detected face ({report['undetected']['n_pairs_affected']} "
             f"pairs); {report['faces_other_than_landmarks5']} detected faces differ from landmarks5.csv's",
             f"{'student':<10}{'landmarks':>11}{'rejected':>10}{'diff':>7}{'centred box':>13}{'diff':>7}"
             f"{'det. pairs lm/raw':>20}"]
    for name, r in report["students"].items():
        a = r["auc"]
        lines.append(f"{name:<10}{a['landmarks']:>11.2f}{a['rejected']:>10.2f}{r['difference_rejected']:>+7.2f}"
                     f"{a['centred_box']:>13.2f}{r['difference_centred_box']:>+7.2f}"
                     f"{a['detected_pairs_landmarks']:>12.2f} / {a['detected_pairs_raw']:.2f}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="PATH.json")
    ap.add_argument("--names", default=",".join(pretrained.names()), help="pretrained students, comma-separated")
    ap.add_argument("--upsample", type=int, default=1)
    ap.add_argument("--lfw-root", default=str(lfw_dir()))
    args = ap.parse_args(argv)
    report = run(args.names.split(","), lfw_root=args.lfw_root, upsample=args.upsample, progress=True)
    report["table"] = format_table(report)
    print(report["table"], flush=True)
    write_json(args.out, report)
    return report


if __name__ == "__main__":
    main()
