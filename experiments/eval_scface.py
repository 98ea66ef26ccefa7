"""Low-resolution face retrieval on SCface (paper Section IV-E, Table II).

    python -m experiments.eval_scface --scface_dir=SCFACE --student=runs/s64_sc/student.keras --out_dir=runs/scface
    python -m experiments.eval_scface --scface_dir=SCFACE --student=... --identity_dim=1024 --out_dir=...  # 2nd row

SCFACE is the official release (`data_builders/scface/README.md`) with `scface_annotations.txt` beside it (or
`--annotations`). Protocol ``paper`` (default): 50 training subjects drawn with `--seed`, 80 test subjects; the
student (pre-trained on UMDFaces, e.g. S-64-sc) is fine-tuned with class supervision on the training subjects' 800
visible images (new 50-way softmax; with `--identity_dim` other than the pre-trained one the identity layer is new
too) through `skd_tf.training.train_student`; then each of the 1,200 low-resolution probes (cam1-5 x 3 distances)
is matched against the 80 high-resolution mugshots (gallery) by cosine similarity of the `--embedding` features
(the identity layer by default). Reports rank-1 accuracy per distance (1 = 4.20 m, 2 = 2.60 m, 3 = 1.00 m) and in
total, and the CMC curve. Protocols ``close`` / ``medium`` / ``far`` / ``combined`` (bob.db.scface) train on the
world subjects and evaluate on the eval group. Without `--student` the student is trained from scratch on the
training subjects.

Faces of every split are aligned at the student's resolution (`skd_tf.data.scface`: the 4 annotated points give
dlib's 5 landmarks; mugshots are rendered at their own scale and area-downsampled).

Writes OUT/results.json (counts, rank-1 per distance and total, CMC), OUT/cmc.png, OUT/student/ (the training run).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS

STANDARD_SPLITS = {"train": "world", "gallery": "eval_gallery", "probe": "eval_probe"}


def define_flags() -> None:
    """Defines the absl flags (only when run as a program)."""
    flags.DEFINE_string("scface_dir", None, "SCface release root (official layout)")
    flags.DEFINE_string("annotations", None, "annotation file (default: SCFACE_DIR/scface_annotations.txt)")
    flags.DEFINE_enum("protocol", "paper", ["paper", "close", "medium", "far", "combined"], "evaluation protocol")
    flags.DEFINE_integer("seed", 0, "seed of the paper protocol's subject draw and of training")
    flags.DEFINE_string("student", None, "pre-trained student (.keras or .weights.h5 as written by train_student, "
                        "or its run dir)")
    flags.DEFINE_integer("resolution", None, "student input size p (default: the pre-trained student's, else 64)")
    flags.DEFINE_integer("identity_dim", 128, "identity layer width (128 as S-64-sc, 1024 as S-64-sc-1024)")
    flags.DEFINE_enum("embedding", "identity", ["identity", "mimic"], "features matched between probe and gallery")
    flags.DEFINE_integer("epochs", 20, "fine-tuning epochs")
    flags.DEFINE_integer("batch_size", 64, "training batch size")
    flags.DEFINE_float("learning_rate", 1e-3, "fine-tuning learning rate")
    flags.DEFINE_enum("on_corrupt", "fail", ["fail", "skip"], "an unusable face (truncated or undecodable image, "
                      "annotated point outside the image): fail naming the file and annotation line, or skip it "
                      "(counted and listed under 'skipped' in results.json)")
    flags.DEFINE_string("out_dir", None, "output folder")


def run(scface_dir: str, out_dir: str, annotations: str | None = None, protocol: str = "paper", seed: int = 0,
        student: str | None = None, resolution: int | None = None, identity_dim: int = 128,
        embedding: str = "identity", epochs: int = 20, batch_size: int = 64, learning_rate: float = 1e-3,
        on_corrupt: str = "fail", verbose: int = 0) -> dict:
    """The whole protocol; returns (and writes) the results dict."""
    from skd_tf.data import scface
    from skd_tf.data.scface import contiguous_labels
    from skd_tf.evaluation.retrieval import cmc_curve, match_ranks, rank_k_accuracy
    from skd_tf.grid import embed
    from skd_tf.plots.retrieval import plot_cmc
    from skd_tf.serving import CHECKPOINT_SUFFIXES, check_student, load_student, resolve_student_path
    from skd_tf.training import StudentData, TrainConfig, train_student
    from skd_tf.utils.io import write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    annotations = annotations or str(Path(scface_dir) / "scface_annotations.txt")
    pretrained = student_path = None
    if student:
        student_path = resolve_student_path(student, suffixes=CHECKPOINT_SUFFIXES, what="--student")
        pretrained = check_student(load_student(student_path), what=f"--student {student_path}")
    if resolution is None:
        resolution = int(pretrained.input_shape[1]) if pretrained is not None else 64

    names = {"train": "train", "gallery": "gallery", "probe": "probe"} if protocol == "paper" else STANDARD_SPLITS
    faces = scface.load_protocol_faces(scface_dir, annotations, protocol, size=resolution, seed=seed,
                                       on_corrupt=on_corrupt, splits=list(names.values()))
    train, gallery, probe = (faces[names[k]] for k in ("train", "gallery", "probe"))
    labels, train_subjects = contiguous_labels(train.subjects)
    rows = np.arange(len(train), dtype=np.int64)
    data = StudentData.build(train.images, rows, rows, labels)

    if pretrained is not None:
        from skd_tf.training.transfer import transfer_student

        init, copied = transfer_student(pretrained, resolution, len(train_subjects), identity_dim, seed)
        config = TrainConfig(resolution=resolution, supervision="c", epochs=epochs, init_epochs=0,
                             batch_size=batch_size, learning_rate=learning_rate, identity_dim=identity_dim,
                             feature_dim=int(init.get_layer("mimic").units), num_classes=len(train_subjects),
                             seed=seed, tensorboard=False, verbose=verbose)
    else:
        init, copied = None, []
        config = TrainConfig(resolution=resolution, supervision="c", epochs=0, init_epochs=epochs,
                             batch_size=batch_size, learning_rate=learning_rate, identity_dim=identity_dim,
                             num_classes=len(train_subjects), seed=seed, tensorboard=False, verbose=verbose)
    result = train_student(config, data, init_weights=init, model_dir=out / "student")

    gallery_emb = embed(result.student, gallery.images, outputs=(embedding,))[embedding]
    probe_emb = embed(result.student, probe.images, outputs=(embedding,))[embedding]
    ranks = match_ranks(probe_emb, probe.subjects, gallery_emb, gallery.subjects)
    per_distance = {}
    for d in sorted(set(probe.distances.tolist())):
        sel = probe.distances == d
        per_distance[str(d)] = {
            "distance_m": scface.DISTANCES[d], "name": scface.DISTANCE_NAMES[d], "probes": int(sel.sum()),
            "rank1": rank_k_accuracy(probe_emb[sel], probe.subjects[sel], gallery_emb, gallery.subjects, 1)}
    total = rank_k_accuracy(probe_emb, probe.subjects, gallery_emb, gallery.subjects, 1)
    cmc = cmc_curve(probe_emb, probe.subjects, gallery_emb, gallery.subjects)
    results = {
        "protocol": protocol, "seed": seed, "resolution": resolution, "identity_dim": identity_dim,
        "embedding": embedding, "student": str(student_path) if student_path else None,
        "transferred_layers": copied, "train_images": len(train), "train_subjects": train_subjects.tolist(),
        "gallery": len(gallery), "probes": len(probe), "rank1_per_distance": per_distance, "rank1_total": total,
        "cmc": cmc.tolist(), "mean_rank": float(ranks.mean()),
        "skipped": {k: v.skipped for k, v in faces.items() if v.skipped},
        "num_skipped": sum(len(v.skipped) for v in faces.values()), "training_metrics": result.metrics,
    }
    curves = {f"dist {d}": cmc_curve(probe_emb[probe.distances == int(d)], probe.subjects[probe.distances == int(d)],
                                     gallery_emb, gallery.subjects) for d in per_distance}
    curves["total"] = cmc
    plot_cmc(curves, out / "cmc.png", title=f"SCface {protocol}: {len(probe)} probes vs {len(gallery)} mugshots")
    write_json(out / "results.json", results)
    return results


def format_table(results: dict) -> str:
    """Table II's row for this run: rank-1 (%) per distance and in total."""
    dists = results["rank1_per_distance"]
    head = "  ".join(f"Dist {d:>2}" for d in dists) + "   Total"
    row = "  ".join(f"{100 * v['rank1']:7.2f}" for v in dists.values()) + f"  {100 * results['rank1_total']:6.2f}"
    return (f"SCface ({results['protocol']}): {results['probes']} probes x {results['gallery']} gallery, "
            f"S-{results['resolution']} identity {results['identity_dim']}D\n{head}\n{row}")


def main(argv: Sequence[str]) -> None:
    del argv
    for name in ("scface_dir", "out_dir"):
        if not getattr(FLAGS, name):
            raise app.UsageError(f"--{name} is required")
    results = run(FLAGS.scface_dir, FLAGS.out_dir, FLAGS.annotations, FLAGS.protocol, FLAGS.seed, FLAGS.student,
                  FLAGS.resolution, FLAGS.identity_dim, FLAGS.embedding, FLAGS.epochs, FLAGS.batch_size,
                  FLAGS.learning_rate, FLAGS.on_corrupt, verbose=2)
    print(format_table(results))
    if results["num_skipped"]:
        print(f"left out {results['num_skipped']} unusable face(s) (--on_corrupt=skip; listed in results.json)")
    print(f"wrote {Path(FLAGS.out_dir) / 'results.json'} and {Path(FLAGS.out_dir) / 'cmc.png'}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
