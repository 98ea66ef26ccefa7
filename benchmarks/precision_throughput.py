"""Student training throughput by numeric setting: float32, mixed precision, and float32 under XLA (issue 14).

    python -m benchmarks.precision_throughput --out=runs/bench/precision_throughput.json

For each resolution, three `DistillationModel`s (mode `sc`, the study's student `budget_d128_bn_relu` at D = 128 by
default, batch 256) train on one batch held in memory and repeated, so only the train step is timed:

- `float32`: `TrainConfig()` as the LFW runs use it;
- `mixed`: `TrainConfig(mixed_precision=True)`, i.e. `mixed_bfloat16` on CPU and `mixed_float16` on GPU
  (`skd_tf.training.distribute.set_mixed_precision`; variables, mimic and logits stay float32);
- `xla`: `TrainConfig(jit_compile=True)`, float32.

Timings are interleaved (float32, mixed, xla, float32, ...) so background load hits all alike; `ratio` is each
setting's best rate over float32's best in the same run. Mixed precision only pays where the CPU has bfloat16
matrix units (AMX, AVX512-BF16) or the GPU has tensor cores; the table says what this machine gives.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from benchmarks.training_throughput import timed_fit  # noqa: E402

FLAGS = flags.FLAGS
SETTINGS = ("float32", "mixed", "xla")


def define_flags() -> None:
    flags.DEFINE_string("out", None, "JSON output path")
    flags.DEFINE_list("resolutions", ["16", "32"], "input resolutions p")
    flags.DEFINE_string("arch", "budget_d128_bn_relu", "student arch (skd_tf.models.student.ARCHS)")
    flags.DEFINE_integer("batch_size", 256, "batch size (the paper: 256)")
    flags.DEFINE_integer("feature_dim", 128, "teacher feature dimension D (dlib: 128)")
    flags.DEFINE_integer("num_classes", 4000, "identities C (LFW fold training people: about 4,000)")
    flags.DEFINE_integer("steps", 8, "timed steps per measurement")
    flags.DEFINE_integer("repeats", 5, "measurements per setting (the best is reported)")
    flags.DEFINE_integer("seed", 0, "seed")


def _model(setting: str, resolution: int, arch: str, feature_dim: int, num_classes: int, seed: int):
    import keras

    from skd_tf.models.student import build_student
    from skd_tf.training import DistillationModel
    from skd_tf.training.distribute import set_mixed_precision

    policy = set_mixed_precision(setting == "mixed")
    try:
        keras.utils.set_random_seed(seed)
        student = build_student(resolution, feature_dim=feature_dim, num_classes=num_classes, seed=seed, arch=arch)
        model = DistillationModel(student, mode="sc")
        model.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=setting == "xla")
    finally:
        set_mixed_precision(False)
    return model, policy


def measure(resolution: int, arch: str, batch_size: int, feature_dim: int, num_classes: int, steps: int,
            repeats: int, seed: int) -> dict:
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    # the structure of skd_tf.data.pipeline.make_dataset's batches
    images = tf.constant(rng.integers(0, 256, (batch_size, resolution, resolution, 3)), tf.uint8)
    targets = {"label": tf.constant(rng.integers(0, num_classes, batch_size), tf.int32),
               "feature": tf.constant(rng.normal(size=(batch_size, feature_dim)), tf.float32),
               "alpha": tf.constant(rng.random(batch_size) > 0.2, tf.float32)}
    data = tf.data.Dataset.from_tensors((images, targets)).repeat()
    models, policies = {}, {}
    for s in SETTINGS:
        models[s], policies[s] = _model(s, resolution, arch, feature_dim, num_classes, seed)
        timed_fit(models[s], data, 2 * steps)  # trace (and compile) and warm up
    seconds = {s: [] for s in SETTINGS}
    for _ in range(repeats):
        for s in SETTINGS:
            seconds[s].append(timed_fit(models[s], data, steps))
    rate = {s: steps * batch_size / min(t) for s, t in seconds.items()}
    return {"resolution": resolution, "arch": arch, "batch_size": batch_size, "feature_dim": feature_dim,
            "num_classes": num_classes, "steps": steps, "policies": policies,
            "images_per_s": rate, "ratio": {s: rate[s] / rate["float32"] for s in SETTINGS}, "seconds": seconds}


def main(argv) -> None:
    del argv
    import tensorflow as tf

    from skd_tf.utils.io import write_json

    rows = [measure(int(p), FLAGS.arch, FLAGS.batch_size, FLAGS.feature_dim, FLAGS.num_classes, FLAGS.steps,
                    FLAGS.repeats, FLAGS.seed) for p in FLAGS.resolutions]
    devices = [d.name for d in tf.config.list_logical_devices()]
    print(f"{'p':>4} " + " ".join(f"{'img/s ' + s:>14}" for s in SETTINGS) + " " +
          " ".join(f"{s + '/float32':>16}" for s in SETTINGS[1:]))
    for r in rows:
        print(f"{r['resolution']:>4} " + " ".join(f"{r['images_per_s'][s]:>14.1f}" for s in SETTINGS) + " " +
              " ".join(f"{r['ratio'][s]:>16.3f}" for s in SETTINGS[1:]))
    if FLAGS.out:
        write_json(FLAGS.out, {"devices": devices, "cpu_count": os.cpu_count(), "rows": rows})


if __name__ == "__main__":
    define_flags()
    app.run(main)
