"""Student training throughput: images/s fed from memory vs through the full tf.data pipeline (issue 5).

    python -m benchmarks.training_throughput --out=runs/bench/training_throughput.json

For each resolution, one `DistillationModel` (student of Fig. 3 with D = 4096, mode `sc`, batch 256 as in the
paper) is timed on (a) one batch already in memory, repeated (`Dataset.from_tensors(batch).repeat()`), and (b) the
real input pipeline of `skd_tf.data.pipeline.make_dataset` (seeded shuffle, parallel map with the on-the-fly row-id
join of label / teacher feature / alpha, prefetch) over a synthetic set of M faces degraded 16 times each from M/16
source rows. Both go through the same `Model.fit`, so the ratio isolates the cost of the input pipeline. Timings
are interleaved (memory, pipeline, memory, ...); `ratio` compares the best of each, `median_paired_ratio` the
median of the per-pair ratios, and the pipeline's own rate without a model shows how far it is from the bottleneck.
On a shared 2-core machine background load makes single timings noisy: compare on an idle machine.
"""
from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("out", None, "JSON output path")
    flags.DEFINE_list("resolutions", ["16", "32"], "input resolutions p")
    flags.DEFINE_integer("batch_size", 256, "batch size (the paper: 256)")
    flags.DEFINE_integer("feature_dim", 4096, "teacher feature dimension D (VGGFace: 4096)")
    flags.DEFINE_integer("num_classes", 500, "identities C")
    flags.DEFINE_integer("num_images", 4096, "low-resolution training faces M (16 per source row)")
    flags.DEFINE_integer("steps", 16, "timed steps per measurement")
    flags.DEFINE_integer("repeats", 5, "measurements per setting (the best is reported)")
    flags.DEFINE_integer("seed", 0, "seed")


def timed_fit(model, ds, steps: int) -> float:
    t0 = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    return time.perf_counter() - t0


def measure(resolution: int, batch_size: int, feature_dim: int, num_classes: int, num_images: int, steps: int,
            repeats: int, seed: int) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from skd_tf.data.pipeline import SourceTable, StudentData, make_dataset
    from skd_tf.data.sources import CropArrays
    from skd_tf.models.student import build_student
    from skd_tf.training import DistillationModel

    rng = np.random.default_rng(seed)
    n_rows = max(num_images // 16, 1)
    row_ids = rng.choice(10 * n_rows, size=n_rows, replace=False).astype(np.int64)
    table = SourceTable(row_ids, rng.integers(0, num_classes, n_rows),
                        rng.normal(size=(n_rows, feature_dim)).astype(np.float32), rng.random(n_rows) > 0.2)
    images = rng.integers(0, 256, size=(num_images, resolution, resolution, 3)).astype(np.uint8)
    source_rows = np.repeat(row_ids, 16)[:num_images]
    rng.shuffle(source_rows)

    keras.utils.set_random_seed(seed)
    student = build_student(resolution, feature_dim=feature_dim, num_classes=num_classes, seed=seed)
    model = DistillationModel(student, mode="sc")
    model.compile(optimizer=keras.optimizers.Adam(1e-4))

    # num_images is a multiple of the batch size in the defaults, so every batch is full
    pipeline = make_dataset(StudentData(CropArrays(images, source_rows), table), batch_size, seed=seed).repeat()
    first = next(iter(pipeline))
    memory = tf.data.Dataset.from_tensors(first).repeat()
    timed_fit(model, memory, 3)  # trace and warm up
    timed_fit(model, pipeline, 3)
    mem_t, pipe_t = [], []
    for _ in range(repeats):  # interleaved, so background load hits both alike
        mem_t.append(timed_fit(model, memory, steps))
        pipe_t.append(timed_fit(model, pipeline, steps))
    images_per_run = steps * batch_size
    mem_rate, pipe_rate = images_per_run / min(mem_t), images_per_run / min(pipe_t)
    # The pipeline alone (no model), for scale: how far it is from being the bottleneck.
    it = iter(pipeline)
    t0 = time.perf_counter()
    for _ in range(steps * 4):
        next(it)
    alone_rate = steps * 4 * batch_size / (time.perf_counter() - t0)
    paired = sorted(m / p for m, p in zip(mem_t, pipe_t))
    return {"resolution": resolution, "batch_size": batch_size, "feature_dim": feature_dim,
            "num_classes": num_classes, "steps": steps, "images_per_s_memory": mem_rate,
            "images_per_s_pipeline": pipe_rate, "ratio": pipe_rate / mem_rate,
            "median_paired_ratio": paired[len(paired) // 2], "images_per_s_pipeline_alone": alone_rate,
            "seconds_memory": mem_t, "seconds_pipeline": pipe_t}


def main(argv) -> None:
    del argv
    import tensorflow as tf

    from skd_tf.utils.io import write_json

    rows = [measure(int(p), FLAGS.batch_size, FLAGS.feature_dim, FLAGS.num_classes, FLAGS.num_images, FLAGS.steps,
                    FLAGS.repeats, FLAGS.seed) for p in FLAGS.resolutions]
    devices = [d.name for d in tf.config.list_logical_devices()]
    print(f"{'p':>4} {'img/s memory':>14} {'img/s pipeline':>15} {'ratio':>7} {'median paired':>14} "
          f"{'img/s pipeline alone':>21}")
    for r in rows:
        print(f"{r['resolution']:>4} {r['images_per_s_memory']:>14.1f} {r['images_per_s_pipeline']:>15.1f} "
              f"{r['ratio']:>7.3f} {r['median_paired_ratio']:>14.3f} {r['images_per_s_pipeline_alone']:>21.0f}")
    if FLAGS.out:
        write_json(FLAGS.out, {"devices": devices, "cpu_count": os.cpu_count(), "rows": rows})


if __name__ == "__main__":
    define_flags()
    app.run(main)
