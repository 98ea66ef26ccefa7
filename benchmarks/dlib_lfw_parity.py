"""Parity of the ported dlib ResNet teacher with real dlib 20.0.1 on all of LFW (13,233 deep-funneled images).

For every image listed in ``../shared/data/lfw/dlib/landmarks5.csv`` (dlib's own 5-point landmarks) this aligns the
face with ``skd_tf.data.align.align_face`` (150 px, padding 0.25), computes the descriptor with the Keras teacher
``skd_tf.models.teachers.build("dlib_resnet")`` and compares it with dlib's descriptor (``descriptors.npy``). It
reports:

* the aligner against dlib's own chips (``parity/chips.npy``, 32 images): mean / max absolute pixel difference;
* per-image cosine between the Keras and dlib descriptors: min, percentiles, fraction >= 0.99 / 0.999 / 0.9999;
* throughput in faces/s (decode + align + network, and network only) on this machine;
* LFW View 2 (``protocol/pairs.txt``, 6,000 pairs) with the project's evaluation code: 10-fold accuracy (threshold
  tuned on the other nine folds), ROC AUC, accuracy at dlib's Euclidean threshold 0.6, for Euclidean distance and
  cosine similarity, beside dlib's own figures (``lfw_eval.json``) and the same code run on dlib's descriptors.

The descriptors are saved (atomically) beside the JSON (``<out stem>_descriptors.npy`` and ``_index.txt``, rows in
landmarks CSV order) so the figures can be recomputed with ``--reuse`` without running the network again.

Usage: ``nice -n 10 .venv/bin/python -m benchmarks.dlib_lfw_parity --out=results/dlib_lfw_parity.json [--limit=500]``
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from skd_tf.data.align import TEACHER_CHIP, align_face
from skd_tf.data.images import check_landmarks, read_rgb
from skd_tf.data.lfw import read_landmarks_csv, read_pairs
from skd_tf.evaluation.verification import (
    accuracy_at_threshold,
    cosine_scores,
    euclidean_scores,
    kfold_accuracy,
    roc_auc,
)
from skd_tf.utils.io import save_npy, write_json, write_text
from skd_tf.utils.paths import lfw_dir


def _chip(image_root: Path, rel: str, landmarks: np.ndarray) -> np.ndarray:
    image = read_rgb(image_root / rel)  # the project's one reader: cv2's pixels, a truncated file is refused
    check_landmarks(landmarks, image.shape, str(image_root / rel))
    return align_face(image, landmarks, TEACHER_CHIP.size, TEACHER_CHIP.padding)


def chip_parity(root: Path, paths: list[str], landmarks: np.ndarray) -> dict:
    """Our aligner against dlib's get_face_chip on the parity images."""
    parity = root / "dlib" / "parity"
    chips = np.load(parity / "chips.npy")
    index = (parity / "chips_index.txt").read_text().split()
    row = {p: k for k, p in enumerate(paths)}
    diffs, maxes, frac = [], [], []
    for ref, rel in zip(chips, index):
        ours = _chip(root / "lfw-deepfunneled", rel, landmarks[row[rel]])
        d = np.abs(ours.astype(np.int16) - ref.astype(np.int16))
        diffs.append(float(d.mean()))
        maxes.append(int(d.max()))
        frac.append(float(np.mean(d > 0)))
    return {"n_chips": len(index), "mean_abs_diff": float(np.mean(diffs)), "worst_chip_mean_abs_diff": max(diffs),
            "max_abs_diff": max(maxes), "fraction_of_values_differing": float(np.mean(frac))}


def compute_descriptors(root: Path, paths: list[str], landmarks: np.ndarray, batch: int) -> tuple[np.ndarray, dict]:
    import tensorflow as tf

    from skd_tf.models import teachers

    model = teachers.build("dlib_resnet")
    size = TEACHER_CHIP.size
    infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    infer(tf.zeros((batch, size, size, 3), tf.uint8))  # trace once; the last batch is padded to this shape
    image_root = root / "lfw-deepfunneled"
    n = len(paths)
    out = np.empty((n, 128), np.float32)
    net_time = 0.0

    def make_batch(start: int) -> np.ndarray:
        stop = min(start + batch, n)
        x = np.zeros((batch, size, size, 3), np.uint8)
        for k in range(start, stop):
            x[k - start] = _chip(image_root, paths[k], landmarks[k])
        return x

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(max_workers=1) as pool:  # prepare the next batch while the network runs
        fut = pool.submit(make_batch, 0)
        for start in range(0, n, batch):
            x = fut.result()
            if start + batch < n:
                fut = pool.submit(make_batch, start + batch)
            t = time.perf_counter()
            y = infer(tf.constant(x)).numpy()
            net_time += time.perf_counter() - t
            out[start:start + batch] = y[:min(batch, n - start)]
            done = min(start + batch, n)
            if done % (batch * 20) == 0 or done == n:
                print(f"  {done}/{n} faces, {done / (time.perf_counter() - t0):.1f} faces/s", file=sys.stderr)
    total = time.perf_counter() - t0
    timing = {"n_faces": n, "batch_size": batch, "total_seconds": total, "faces_per_second": n / total,
              "network_seconds": net_time, "network_faces_per_second": n / net_time,
              "cpu_count": os.cpu_count(), "note": "decode + align overlapped with the network (1 helper thread)"}
    return out, timing


def cosine_stats(ours: np.ndarray, ref: np.ndarray, paths: list[str]) -> dict:
    cos = cosine_scores(ours, ref)
    order = np.argsort(cos)
    return {
        "n": int(cos.size),
        "min": float(cos.min()),
        "percentiles": {str(p): float(np.percentile(cos, p)) for p in (0.1, 1, 5, 50)},
        "mean": float(cos.mean()),
        "fraction_ge_0.99": float(np.mean(cos >= 0.99)),
        "fraction_ge_0.999": float(np.mean(cos >= 0.999)),
        "fraction_ge_0.9999": float(np.mean(cos >= 0.9999)),
        "max_abs_diff": float(np.abs(ours - ref).max()),
        "worst": [{"path": paths[k], "cosine": float(cos[k])} for k in order[:5]],
    }


def view2(root: Path, paths: list[str], desc: np.ndarray) -> dict:
    """LFW View 2 figures of `desc` (rows in `paths` order) with the project's evaluation code."""
    pairs = read_pairs(root / "protocol" / "pairs.txt")
    ia, ib = pairs.row_indices(paths)
    a, b = desc[ia], desc[ib]
    res = {}
    for metric, scores, fixed in (("euclidean", euclidean_scores(a, b), -0.6), ("cosine", cosine_scores(a, b), None)):
        k = kfold_accuracy(scores, pairs.is_same, pairs.fold)
        res[metric] = {"tenfold_accuracy_mean": k["mean"], "tenfold_accuracy_std_ddof0": k["std"],
                       "tenfold_accuracy_std_ddof1": k["std_ddof1"], "fold_thresholds": k["thresholds"],
                       "roc_auc": roc_auc(scores, pairs.is_same)}
        if fixed is not None:
            res[metric]["accuracy_at_dlib_threshold_0.6"] = accuracy_at_threshold(scores, pairs.is_same, fixed)
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="PATH.json; descriptors go beside it")
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (quick run; View 2 is skipped)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lfw-root", default=str(lfw_dir()))
    ap.add_argument("--reuse", action="store_true", help="reuse saved descriptors instead of running the network")
    args = ap.parse_args(argv)

    root = Path(args.lfw_root)
    dlib_dir = root / "dlib"
    if not (dlib_dir / "landmarks5.csv").is_file():
        raise SystemExit(f"dlib reference data not found at {dlib_dir} (expected landmarks5.csv, descriptors.npy)")
    out = Path(args.out)
    desc_path = out.with_name(out.stem + "_descriptors.npy")
    index_path = out.with_name(out.stem + "_descriptors_index.txt")

    paths, landmarks, det = read_landmarks_csv(dlib_dir / "landmarks5.csv")
    ref_index = (dlib_dir / "descriptors_index.txt").read_text().split("\n")
    ref_index = [p for p in ref_index if p]
    if ref_index != paths:
        raise SystemExit(f"{dlib_dir}: descriptors_index.txt and landmarks5.csv list different images")
    ref = np.load(dlib_dir / "descriptors.npy")
    if args.limit:
        paths, landmarks, det, ref = paths[:args.limit], landmarks[:args.limit], det[:args.limit], ref[:args.limit]

    report: dict = {"benchmark": "dlib_lfw_parity", "lfw_root": str(root), "n_images": len(paths)}
    report["chip_parity"] = chip_parity(root, paths, landmarks) if len(paths) >= 32 else None

    if args.reuse and desc_path.is_file() and index_path.is_file() \
            and index_path.read_text().split("\n")[:-1] == paths:
        ours = np.load(desc_path)
        report["throughput"] = None
        print(f"reusing {desc_path}", file=sys.stderr)
    else:
        ours, timing = compute_descriptors(root, paths, landmarks, args.batch)
        report["throughput"] = timing
        save_npy(desc_path, ours)
        write_text(index_path, "".join(p + "\n" for p in paths))
    report["descriptors_file"] = str(desc_path)
    report["cosine_vs_dlib"] = cosine_stats(ours, ref, paths)
    fixed = det == "fixed"
    if fixed.any():
        report["cosine_vs_dlib"]["min_on_fixed_box_images"] = float(cosine_scores(ours[fixed], ref[fixed]).min())

    if not args.limit:
        report["view2_keras"] = view2(root, paths, ours)
        report["view2_dlib_descriptors_same_code"] = view2(root, paths, ref)
        dlib_eval = json.loads((dlib_dir / "lfw_eval.json").read_text())
        report["view2_dlib_lfw_eval_json"] = {
            m: {k: dlib_eval[m][k] for k in ("tenfold_accuracy_mean", "tenfold_accuracy_std_ddof0", "roc_auc")}
            for m in ("euclidean", "cosine")}
        report["view2_dlib_lfw_eval_json"]["euclidean"]["accuracy_at_dlib_threshold_0.6"] = \
            dlib_eval["euclidean"]["accuracy_at_fixed_threshold"]
        report["view2_difference_points"] = {
            m: {"tenfold_accuracy": 100 * (report["view2_keras"][m]["tenfold_accuracy_mean"]
                                           - dlib_eval[m]["tenfold_accuracy_mean"]),
                "roc_auc": 100 * (report["view2_keras"][m]["roc_auc"] - dlib_eval[m]["roc_auc"])}
            for m in ("euclidean", "cosine")}
    write_json(out, report)
    _print_table(report)
    return report


def _print_table(r: dict) -> None:
    print(f"images: {r['n_images']}")
    if r["chip_parity"]:
        c = r["chip_parity"]
        print(f"aligner vs dlib chips ({c['n_chips']}): mean |diff| {c['mean_abs_diff']:.2e}, "
              f"worst chip {c['worst_chip_mean_abs_diff']:.2e}, max {c['max_abs_diff']}")
    s = r["cosine_vs_dlib"]
    print(f"cosine vs dlib: min {s['min']:.6f}, p0.1 {s['percentiles']['0.1']:.6f}, p1 {s['percentiles']['1']:.6f}, "
          f"median {s['percentiles']['50']:.7f}, >=0.99: {100 * s['fraction_ge_0.99']:.2f}%, "
          f">=0.9999: {100 * s['fraction_ge_0.9999']:.2f}%")
    if r["throughput"]:
        t = r["throughput"]
        print(f"throughput: {t['faces_per_second']:.1f} faces/s end to end, {t['network_faces_per_second']:.1f} "
              f"faces/s network only (batch {t['batch_size']}, {t['cpu_count']} CPUs)")
    if "view2_keras" in r:
        print(f"{'LFW View 2':<12}{'':<10}{'10-fold acc %':>14}{'AUC':>10}{'acc@0.6 %':>11}")
        for m in ("euclidean", "cosine"):
            for label, src in (("keras", r["view2_keras"]), ("dlib", r["view2_dlib_lfw_eval_json"])):
                v = src[m]
                at = v.get("accuracy_at_dlib_threshold_0.6")
                print(f"{m:<12}{label:<10}{100 * v['tenfold_accuracy_mean']:>14.2f}{v['roc_auc']:>10.5f}"
                      f"{'' if at is None else f'{100 * at:.2f}':>11}")


if __name__ == "__main__":
    main()
