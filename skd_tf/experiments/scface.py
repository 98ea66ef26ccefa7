"""Low-resolution face retrieval on SCface (paper Section IV-E, Table II): `run(ScfaceConfig(...), out_dir)`.

Protocol ``paper`` (default): 50 training subjects drawn with `train.seed`, 80 test subjects; the student
(pre-trained on UMDFaces, e.g. S-64-sc) is fine-tuned with class supervision on the training subjects' 800 visible
images (new 50-way softmax; with a `train.identity_dim` other than the pre-trained one the identity layer is new too)
through `skd_tf.training.train_student`; then each of the 1,200 low-resolution probes (cam1-5 x 3 distances) is
matched against the 80 high-resolution mugshots (gallery) by cosine similarity of the `embedding` features (the
identity layer by default). Reports rank-1 accuracy per distance (1 = 4.20 m, 2 = 2.60 m, 3 = 1.00 m) and in total,
and the CMC curve. Protocols ``close`` / ``medium`` / ``far`` / ``combined`` (bob.db.scface) train on the world
subjects and evaluate on the eval group. Without `student` the student is trained from scratch on the training
subjects (stage 1 for `train.epochs` epochs).

Faces of every split are aligned at the student's resolution (`skd_tf.data.scface`: the 4 annotated points give
dlib's 5 landmarks; mugshots are rendered at their own scale and area-downsampled).

Writes OUT/results.json (counts, rank-1 per distance and total, CMC), OUT/cmc.png, OUT/student/ (the training run).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from absl import logging

from skd_tf.configs.scface import ScfaceConfig
from skd_tf.data import scface
from skd_tf.evaluation.retrieval import cmc_curve, match_ranks, rank_k_accuracy
from skd_tf.grid import embed
from skd_tf.plots.retrieval import plot_cmc
from skd_tf.serving import CHECKPOINT_SUFFIXES, check_student, load_student, resolve_student_path
from skd_tf.training import StudentData, train_student
from skd_tf.training.transfer import transfer_student
from skd_tf.utils.io import write_json

#: The splits of the standard (bob.db.scface) protocols, by their role in the run.
STANDARD_SPLITS = {"train": "world", "gallery": "eval_gallery", "probe": "eval_probe"}
#: The paper protocol's splits, by their role in the run.
PAPER_SPLITS = {"train": "train", "gallery": "gallery", "probe": "probe"}


def run(config: ScfaceConfig, out_dir: str | os.PathLike) -> dict:
    """The whole protocol of the module docstring; returns (and writes) the results dict."""
    config = config.validate(require_inputs=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pretrained = student_path = None
    if config.student:
        student_path = resolve_student_path(config.student, suffixes=CHECKPOINT_SUFFIXES, what="student")
        pretrained = check_student(load_student(student_path), what=f"student {student_path}")
    resolution = config.resolution
    if resolution is None:
        resolution = int(pretrained.input_shape[1]) if pretrained is not None else 64

    names = PAPER_SPLITS if config.protocol == "paper" else STANDARD_SPLITS
    faces = scface.load_protocol_faces(config.release_dir, config.annotation_file, config.protocol, size=resolution,
                                       seed=config.train.seed, on_corrupt=config.on_corrupt,
                                       splits=list(names.values()))
    train, gallery, probe = (faces[names[k]] for k in ("train", "gallery", "probe"))
    labels, train_subjects = scface.contiguous_labels(train.subjects)
    logging.info("SCface %s: %d training images of %d subjects, %d mugshots, %d probes at %dx%d", config.protocol,
                 len(train), len(train_subjects), len(gallery), len(probe), resolution, resolution)
    rows = np.arange(len(train), dtype=np.int64)
    data = StudentData.build(train.images, rows, rows, labels)

    train_config = dataclasses.replace(config.train, resolution=resolution, num_classes=len(train_subjects))
    if pretrained is not None:
        init, copied = transfer_student(pretrained, resolution, len(train_subjects), train_config.identity_dim,
                                        train_config.seed)
        train_config = dataclasses.replace(train_config, init_epochs=0,
                                           feature_dim=int(init.get_layer("mimic").units))
    else:  # from scratch: stage 1 (mode c) is the whole training
        init, copied = None, []
        train_config = dataclasses.replace(train_config, epochs=0, init_epochs=config.train.epochs)
    result = train_student(train_config, data, init_weights=init, model_dir=out / "student")

    gallery_emb = embed(result.student, gallery.images, outputs=(config.embedding,))[config.embedding]
    probe_emb = embed(result.student, probe.images, outputs=(config.embedding,))[config.embedding]
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
        "protocol": config.protocol, "seed": config.train.seed, "resolution": resolution,
        "identity_dim": config.train.identity_dim, "embedding": config.embedding,
        "student": str(student_path) if student_path else None, "transferred_layers": copied,
        "train_images": len(train), "train_subjects": train_subjects.tolist(), "gallery": len(gallery),
        "probes": len(probe), "rank1_per_distance": per_distance, "rank1_total": total, "cmc": cmc.tolist(),
        "mean_rank": float(ranks.mean()), "skipped": {k: v.skipped for k, v in faces.items() if v.skipped},
        "num_skipped": sum(len(v.skipped) for v in faces.values()), "training_metrics": result.metrics,
    }
    curves = {f"dist {d}": cmc_curve(probe_emb[probe.distances == int(d)], probe.subjects[probe.distances == int(d)],
                                     gallery_emb, gallery.subjects) for d in per_distance}
    curves["total"] = cmc
    plot_cmc(curves, out / "cmc.png",
             title=f"SCface {config.protocol}: {len(probe)} probes vs {len(gallery)} mugshots")
    write_json(out / "results.json", results)
    if results["num_skipped"]:
        logging.warning("left out %d unusable face(s) (on_corrupt=skip; listed in results.json)",
                        results["num_skipped"])
    logging.info("wrote %s and %s", out / "results.json", out / "cmc.png")
    return results


def format_table(results: dict) -> str:
    """Table II's row for this run: rank-1 (%) per distance and in total."""
    dists = results["rank1_per_distance"]
    head = "  ".join(f"Dist {d:>2}" for d in dists) + "   Total"
    row = "  ".join(f"{100 * v['rank1']:7.2f}" for v in dists.values()) + f"  {100 * results['rank1_total']:6.2f}"
    return (f"SCface ({results['protocol']}): {results['probes']} probes x {results['gallery']} gallery, "
            f"S-{results['resolution']} identity {results['identity_dim']}D\n{head}\n{row}")
