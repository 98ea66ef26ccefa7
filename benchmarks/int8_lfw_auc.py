"""LFW verification AUC of the exported student: Keras float32 vs TFLite float16 / dynamic int8 / full int8 (issue 7).

    nice python -m benchmarks.int8_lfw_auc --checkpoint=runs/students/S-16-sc/student.keras --out=/tmp/int8_auc.json
    nice python -m benchmarks.int8_lfw_auc --resolution=16 --out=/tmp/int8_auc.json     # no checkpoint: see below

Protocol (paper Section IV-B): faces aligned by dlib's 5 points (`../shared/data/lfw/dlib/landmarks5.csv`), the
150 px chip area-downsampled to the student's p; each pair scored by the cosine of the L2-normalised identity-layer
embeddings (and, reported too, of the L2-normalised mimic features); AUC over all pairs
(`skd_tf.evaluation.verification.roc_auc`). The check: |AUC(int8) - AUC(float)| <= 0.5 points.

* With `--checkpoint` (a trained student): the 6,000 View-2 pairs (`pairs.txt`); calibration faces from
  `--representative` (`npz:PATH` of the training arrays is best; `auto` draws LFW faces, which then overlap the test
  set - calibration statistics only).
* Without: a student is trained here for `--epochs` on the LFW View-1 training people (`peopleDevTrain.txt`,
  softmax only, BatchNorm statistics then set on those faces) and evaluated on the identity-disjoint View-1 test
  pairs (`pairsDevTest.txt`, 500 + 500); calibration faces are drawn from its training faces. This measures the
  quantisation loss of a weak student, not the paper's accuracy.

Skips (exit 0, message) when LFW is absent.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
KINDS = ("float32", "float16", "dynamic_int8", "int8")


def define_flags() -> None:
    flags.DEFINE_string("checkpoint", None, "trained student (.keras, or .weights.h5 with config.json)")
    flags.DEFINE_integer("resolution", 16, "student resolution when no checkpoint is given")
    flags.DEFINE_string("representative", "auto", "calibration faces with --checkpoint (see skd_tf.data.calibration)")
    flags.DEFINE_integer("num_representative", 200, "calibration faces")
    flags.DEFINE_integer("epochs", 6, "training epochs without --checkpoint")
    flags.DEFINE_integer("seed", 0, "seed")
    flags.DEFINE_float("max_auc_drop_points", 0.5, "allowed |AUC(int8) - AUC(float)| in points")
    flags.DEFINE_string("out", None, "JSON output path")


def lfw_faces_for(relpaths, resolution: int, root: Path, chip_size: int = 150) -> np.ndarray:
    """Aligned faces `[N, p, p, 3]` for LFW-relative image paths (dlib's landmarks; chip then area-downsampled)."""
    from skd_tf.data.align import align_face
    from skd_tf.data.calibration import lowres_from_chips
    from skd_tf.data.images import check_landmarks, read_rgb
    from skd_tf.data.lfw import landmarks_for, read_landmarks_csv

    paths, table, _ = read_landmarks_csv(root / "dlib" / "landmarks5.csv")
    lms = landmarks_for(list(relpaths), paths, table, source=str(root / "dlib" / "landmarks5.csv"))
    out = np.empty((len(relpaths), resolution, resolution, 3), np.uint8)
    for k, (rel, lm) in enumerate(zip(relpaths, lms)):
        img = read_rgb(root / "lfw-deepfunneled" / rel)  # cv2's pixels; a truncated file is refused
        check_landmarks(lm, img.shape, str(root / "lfw-deepfunneled" / rel))
        out[k] = lowres_from_chips(align_face(img, lm, chip_size)[None], resolution)[0]
    return out


def train_small_student(images: np.ndarray, labels: np.ndarray, resolution: int, epochs: int, seed: int):
    """A student trained with softmax only (Adam, batch 64), BatchNorm statistics then set on the training faces."""
    import tensorflow as tf

    from skd_tf.models.student import build_student

    model = build_student(resolution, feature_dim=128, num_classes=int(labels.max()) + 1, seed=seed)
    opt = tf.keras.optimizers.Adam(1e-3)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            out = model(tf.image.random_flip_left_right(x), training=True)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, out["logits"], from_logits=True))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(len(images))
        losses = [float(step(tf.constant(images[order[i:i + 64]], tf.float32), tf.constant(labels[order[i:i + 64]])))
                  for i in range(0, len(order) - 63, 64)]
        print(f"  epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.3f}", flush=True)
    bns = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    for layer in bns:
        layer.momentum = 0.0
    sample = images[rng.choice(len(images), min(2048, len(images)), replace=False)]
    model(tf.constant(sample, tf.float32), training=True)
    for layer in bns:
        layer.momentum = 0.99
    return model


def pair_aucs(emb: dict, ia: np.ndarray, ib: np.ndarray, same: np.ndarray) -> dict:
    from skd_tf.evaluation.verification import cosine_scores, roc_auc

    return {name: float(roc_auc(cosine_scores(emb[name][ia], emb[name][ib]), same)) for name in ("embedding", "mimic")}


def run() -> dict:
    from skd_tf.data.calibration import representative_faces
    from skd_tf.data.lfw import read_pairs, read_people
    from skd_tf.serving import cosine_rows, export_student, keras_reference, load_student, run_tflite
    from skd_tf.utils.paths import lfw_dir

    root = lfw_dir()
    if not (root / "protocol" / "pairs.txt").is_file() or not (root / "dlib" / "landmarks5.csv").is_file():
        print(f"LFW not found at {root}: skipped")
        return {"skipped": f"LFW not found at {root}"}
    t0 = time.time()
    result = {"checkpoint": FLAGS.checkpoint}
    if FLAGS.checkpoint:
        model = load_student(FLAGS.checkpoint)
        p = int(model.inputs[0].shape[1])
        pairs = read_pairs(root / "protocol" / "pairs.txt")
        reps, described = representative_faces(FLAGS.representative, p, FLAGS.num_representative, FLAGS.seed)
        result["protocol"] = "View 2 pairs.txt (6,000 pairs)"
    else:
        p = FLAGS.resolution
        people = read_people(root / "protocol" / "peopleDevTrain.txt")
        names = sorted({n for fold in people for n in fold})
        counts = {n: c for fold in people for n, c in fold.items()}
        rel = [f"{n}/{n}_{i:04d}.jpg" for n in names for i in range(1, counts[n] + 1)]
        labels = np.array([names.index(r.split("/")[0]) for r in rel], np.int64)
        print(f"aligning {len(rel)} View-1 training faces at {p} px ...", flush=True)
        train = lfw_faces_for(rel, p, root)
        print(f"training a {p} px student on {len(names)} people for {FLAGS.epochs} epochs ...", flush=True)
        model = train_small_student(train, labels, p, FLAGS.epochs, FLAGS.seed)
        pairs = read_pairs(root / "protocol" / "pairsDevTest.txt")
        pick = np.random.default_rng(FLAGS.seed).choice(len(train), min(FLAGS.num_representative, len(train)),
                                                        replace=False)
        reps, described = train[np.sort(pick)], f"{len(pick)} of the student's training faces (View-1 train)"
        result["protocol"] = ("student trained here on peopleDevTrain.txt (softmax, "
                              f"{FLAGS.epochs} epochs); View 1 pairsDevTest.txt (500 + 500 pairs)")
    a, b = pairs.relative_paths()
    uniq = sorted(set(a) | set(b))
    index = {r: k for k, r in enumerate(uniq)}
    ia = np.array([index[r] for r in a])
    ib = np.array([index[r] for r in b])
    print(f"aligning {len(uniq)} test faces at {p} px ...", flush=True)
    faces = lfw_faces_for(uniq, p, root)
    result.update(resolution=p, n_pairs=len(pairs), n_faces=len(uniq), calibration=described)
    emb = {"keras_float32": keras_reference(model, faces)}
    with tempfile.TemporaryDirectory(prefix="skd_int8_auc_") as td:
        paths = export_student(model, td, resolution=p, representative_images=reps, kinds=KINDS,
                               max_representative=FLAGS.num_representative, seed=FLAGS.seed)
        for kind in KINDS:
            print(f"running TFLite {kind} on {len(uniq)} faces ...", flush=True)
            emb[f"tflite_{kind}"] = run_tflite(paths[kind], faces)
    aucs = {name: pair_aucs(e, ia, ib, pairs.is_same) for name, e in emb.items()}
    ref = aucs["keras_float32"]
    result["auc"] = aucs
    result["auc_delta_points_vs_keras"] = {name: {o: 100 * (v[o] - ref[o]) for o in v} for name, v in aucs.items()}
    reference = emb["keras_float32"]["embedding"]
    result["cosine_vs_keras"] = {name: {"mean": float(cosine_rows(e["embedding"], reference).mean()),
                                        "min": float(cosine_rows(e["embedding"], reference).min())}
                                 for name, e in emb.items()}
    drop = abs(result["auc_delta_points_vs_keras"]["tflite_int8"]["embedding"])
    result["int8_within_bound"] = bool(drop <= FLAGS.max_auc_drop_points)
    result["bound_points"] = FLAGS.max_auc_drop_points
    result["wall_s"] = time.time() - t0
    return result


def main(argv) -> None:
    del argv
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    res = run()
    if "auc" in res:
        print(f"\n{res['protocol']}; {res['n_pairs']} pairs, {res['resolution']} px; calibration: {res['calibration']}")
        print(f"{'artifact':22s} {'AUC emb':>8s} {'d pts':>7s} {'AUC mimic':>9s} {'d pts':>7s} {'cos mean':>9s} "
              f"{'cos min':>8s}")
        for name, v in res["auc"].items():
            d = res["auc_delta_points_vs_keras"][name]
            c = res["cosine_vs_keras"][name]
            print(f"{name:22s} {100 * v['embedding']:8.2f} {d['embedding']:+7.2f} {100 * v['mimic']:9.2f} "
                  f"{d['mimic']:+7.2f} {c['mean']:9.5f} {c['min']:8.5f}")
        print(f"int8 within {res['bound_points']} AUC points of float: {res['int8_within_bound']}")
    if FLAGS.out:
        from skd_tf.utils.io import write_json

        write_json(FLAGS.out, res)
        print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
