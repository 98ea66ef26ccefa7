"""Streaming student input at scale: memory flat in the number of faces, throughput close to in-memory crops.

    python -m benchmarks.streaming_scale --out=runs/bench/streaming_scale.json            # N = 20,000 and 4N

Synthetic faces (`skd_tf.data.synthetic`, 20 per identity) are written as an identity-folder tree and built with the
face-folder TFDS builder (150-px chips), once for N faces and once for 4N (cached under --work_dir). Then, each in a
fresh process so that its peak RSS (`ru_maxrss`) is its own:

- `rss`: peak resident memory (VmHWM of /proc/self/status: a fresh process's own high-water mark; `ru_maxrss` would
  carry the parent's over `exec`) while S-32-sc (D = 128, mode sc, batch 256) trains --steps steps from the stream
  (`skd_tf.data.sources`: decoding, landmark jitter, alignment and area downsampling inside tf.data, K = --perturbations
  per face) of the N and of the 4N build, and from the in-memory path (`StudentData.build` over a pre-degraded `.npz` of
  all N*K / 4N*K crops, the path `experiments/train_student.py` takes for `.npz` data);
- `throughput`: at 16 and 32 px, the same model trains in turn from the stream, from the stream's crop cache and
  from the in-memory crops of the N build in one process (--repeats rounds), and each round's images/s ratios
  against the in-memory path are recorded; the medians are reported.

Three inputs: `stream` degrades every crop in tf.data each epoch (`skd_tf.data.sources.DegradedFaces`); `disk` is the
same stream with a crop cache (fixed sampling: each face's K crops rendered once into files, streamed from disk in
every later epoch, the same batches; the one-time render is timed separately, in its own process, and reported);
`memory` is the in-memory path. All three must stay flat (stream, disk) or not (memory) in N, so `rss` measures each.

The table also states what the in-memory path would hold at the paper's scale (367,888 UMDFaces faces x 16
perturbations, Section IV-A). Absolute times on a shared machine are noisy; the ratios are paired in the same run.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
PAPER_FACES, PAPER_PERTURBATIONS = 367_888, 16  # Section IV-A
FEATURE_DIM, PER_IDENTITY = 128, 20
SOURCES = ("stream", "disk", "memory")


def define_flags() -> None:
    flags.DEFINE_string("out", None, "JSON output path")
    flags.DEFINE_string("work_dir", "runs/bench/streaming", "cache of the synthetic face builds, crop sets and crop "
                        "caches")
    flags.DEFINE_integer("num_faces", 20_000, "N (the second build has 4N faces)")
    flags.DEFINE_integer("perturbations", 4, "crops per face K")
    flags.DEFINE_integer("steps", 60, "training steps per measurement")
    flags.DEFINE_integer("repeats", 3, "interleaved (stream, memory) pairs per resolution")
    flags.DEFINE_integer("batch_size", 256, "batch size (the paper's)")
    flags.DEFINE_integer("seed", 0, "seed")
    flags.DEFINE_string("child", None, "internal: run one measurement (JSON spec) and print its JSON result")


# ---------------------------------------------------------------------------------------------------------- setup

def _build(work: Path, n: int, seed: int) -> str:
    """The face-folder TFDS build of the first `n` synthetic faces; returns the prepared dataset's folder."""
    import tensorflow_datasets as tfds

    from data_builders.face_folder.face_folder_dataset_builder import Builder
    from data_builders.face_folder.write_folder import write_face_folder
    from skd_tf.data.synthetic import generate_faces

    data_dir = work / f"tfds_{n}"
    done = data_dir / "face_folder" / "aligned_150" / "1.0.0"
    if (done / "dataset_info.json").is_file():
        return str(done)
    folder = work / f"faces_{n}"
    if not (folder / "landmarks5.csv").is_file():
        chunks, ids = [], n // PER_IDENTITY
        for start in range(0, ids, 500):  # identity blocks: the same faces whatever n is
            f = generate_faces(min(500, ids - start), PER_IDENTITY, image_size=96, noisy_fraction=0.0, seed=seed,
                               identity_offset=start)
            chunks.append((f.images, f.landmarks, f.labels + start))
        images, landmarks, labels = (np.concatenate(c) for c in zip(*chunks))
        write_face_folder(folder, images, landmarks, labels)
    builder = Builder(data_dir=str(data_dir), config="aligned_150")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(folder)))
    return str(done)


def _stream_data(dataset: str, p: int, k: int, seed: int, crop_cache: str | None = None):
    from skd_tf.data.pipeline import SourceTable, StudentData
    from skd_tf.data.sources import Degradation, TfdsFaces

    faces = TfdsFaces(dataset)
    rng = np.random.default_rng(seed)
    table = SourceTable(faces.row_ids, faces.labels, rng.normal(size=(len(faces), FEATURE_DIM)).astype(np.float32),
                        rng.random(len(faces)) > 0.2)
    return StudentData.stream(faces, Degradation(p, k, seed=seed), table, crop_cache=crop_cache)


def _data(spec: dict, source: str, p: int):
    """The training data of one input kind (module docstring)."""
    if source == "memory":
        return _memory_data(Path(spec["npz"]), spec["seed"])
    return _stream_data(spec["dataset"], p, spec["k"], spec["seed"], spec["crop_cache"] if source == "disk" else None)


def _crop_set(work: Path, dataset: str, n: int, p: int, k: int, seed: int) -> Path:
    """All N*K crops of the stream's epoch 0 as a student `.npz` (the in-memory path's input)."""
    from skd_tf.data.pipeline import make_dataset
    from skd_tf.training.data_io import save_student_arrays

    path = work / f"crops_{n}_{p}px_k{k}.npz"
    if path.is_file():
        return path
    data = _stream_data(dataset, p, k, seed)
    images, rows = [], []
    for x, y in make_dataset(data, 1024, with_features=False, shuffle=False):
        images.append(x.numpy())
        rows.append(y["row_id"].numpy())
    save_student_arrays(path, np.concatenate(images), np.concatenate(rows), data.table.row_ids, data.table.labels)
    return path


# ---------------------------------------------------------------------------------------------------- measurements

def _model(p: int, num_classes: int, seed: int):
    import keras

    from skd_tf.models.student import build_student
    from skd_tf.training import DistillationModel

    keras.utils.set_random_seed(seed)
    model = DistillationModel(build_student(p, feature_dim=FEATURE_DIM, num_classes=num_classes, seed=seed), mode="sc")
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    return model


def _memory_data(npz: Path, seed: int):
    from skd_tf.training.data_io import load_student_data

    rng = np.random.default_rng(seed)
    with np.load(npz) as z:
        rows = z["row_ids"]
    feats = rng.normal(size=(len(rows), FEATURE_DIM)).astype(np.float32)
    data = load_student_data(npz)
    data.table.features, data.table.alpha = feats, (rng.random(len(rows)) > 0.2).astype(np.float32)
    return data


WARMUP_STEPS = 10


def _rate(model, ds, steps: int, batch: int) -> float:
    """Images/s of `model.fit` on `ds` over steps WARMUP_STEPS..steps (tracing and buffer filling excluded)."""
    import keras

    marks = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            marks.append(time.perf_counter())

    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[Clock()])
    return (steps - WARMUP_STEPS) * batch / (marks[-1] - marks[WARMUP_STEPS - 1])


def _peak_rss_mib() -> float:
    """This process's peak resident set size (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmHWM line (Linux only)")


def _child(spec: dict) -> dict:
    from skd_tf.data.pipeline import make_dataset

    steps, batch, seed = spec["steps"], spec["batch_size"], spec["seed"]
    if spec["kind"] == "cache":  # the crop cache's one-time render, timed on its own
        t0 = time.perf_counter()
        data = _data(spec, "disk", spec["resolution"])
        make_dataset(data, batch, with_features=False, seed=seed)
        seconds = time.perf_counter() - t0
        return {"seconds": seconds, "crops": len(data), "crops_per_s": len(data) / seconds}
    if spec["kind"] == "rss":
        data = _data(spec, spec["source"], 32)
        model = _model(32, data.table.num_classes, seed)
        ds = make_dataset(data, batch, seed=seed, num_epochs=max(1, -(-steps // data.steps_per_epoch(batch))))
        rate = _rate(model, ds, steps, batch)
        return {"peak_rss_mib": _peak_rss_mib(), "images_per_s": rate,
                "crops_per_epoch": len(data)}
    p = spec["resolution"]
    data = {source: _data(spec, source, p) for source in SOURCES}
    model = _model(p, data["stream"].table.num_classes, seed)
    rates = {source: [] for source in SOURCES}
    for r in range(spec["repeats"]):  # interleaved, so background load hits all alike; a new epoch each time
        for source in SOURCES:
            rates[source].append(_rate(model, make_dataset(data[source], batch, seed=seed, first_epoch=r), steps,
                                       batch))
    ratios = {source: sorted(s / m for s, m in zip(rates[source], rates["memory"])) for source in ("stream", "disk")}
    return {"resolution": p, "images_per_s": rates, "paired_ratios": ratios,
            "median_ratio": {source: r[len(r) // 2] for source, r in ratios.items()}}


def _run_child(spec: dict) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.streaming_scale", f"--child={json.dumps(spec)}"],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"measurement {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv) -> None:
    del argv
    if FLAGS.child:
        print(json.dumps(_child(json.loads(FLAGS.child))))
        return
    from skd_tf.utils.io import write_json

    work, n, k, seed = Path(FLAGS.work_dir), FLAGS.num_faces, FLAGS.perturbations, FLAGS.seed
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    builds = {n: _build(work, n, seed), 4 * n: _build(work, 4 * n, seed)}
    crops = {(m, 32): _crop_set(work, builds[m], m, 32, k, seed) for m in builds}
    crops[(n, 16)] = _crop_set(work, builds[n], n, 16, k, seed)
    setup_s = time.time() - t0
    common = {"steps": FLAGS.steps, "batch_size": FLAGS.batch_size, "seed": seed, "k": k,
              "crop_cache": str(work / "crop_cache")}
    # The crop cache of every build and resolution measured below, rendered afresh (a cache left by an earlier run
    # would make the "render" a read of its files).
    shutil.rmtree(work / "crop_cache", ignore_errors=True)
    cache = {(m, p): _run_child({**common, "kind": "cache", "resolution": p, "dataset": builds[m]})
             for m, p in crops}
    rss = {}
    for m in builds:
        for source in SOURCES:
            rss[(source, m)] = _run_child({**common, "kind": "rss", "source": source, "dataset": builds[m],
                                           "npz": str(crops[(m, 32)])})
    throughput = [_run_child({**common, "kind": "throughput", "resolution": p, "dataset": builds[n],
                              "npz": str(crops[(n, p)]), "repeats": FLAGS.repeats}) for p in (16, 32)]
    print(f"\nS-32-sc, {FLAGS.steps} steps of {FLAGS.batch_size}, K = {k}: peak RSS (MiB)")
    print(f"{'faces':>8} {'crops':>9} {'stream':>9} {'disk':>9} {'in-memory':>10}")
    for m in builds:
        print(f"{m:>8} {rss[('stream', m)]['crops_per_epoch']:>9} " +
              " ".join(f"{rss[(s, m)]['peak_rss_mib']:>{10 if s == 'memory' else 9}.0f}" for s in SOURCES))
    growth = {s: rss[(s, 4 * n)]["peak_rss_mib"] / rss[(s, n)]["peak_rss_mib"] for s in SOURCES}
    print("4N / N peak RSS: " + ", ".join(f"{s} {g:.3f}" for s, g in growth.items()))
    print("\nthroughput (images/s) on the N build, the three inputs in turn in one process; ratios to in-memory")
    print(f"{'p':>4} {'stream':>9} {'disk':>9} {'in-memory':>10} {'stream/mem':>11} {'disk/mem':>9}   per-round ratios")
    for r in throughput:
        rates = {s: np.median(r["images_per_s"][s]) for s in SOURCES}
        rounds = "; ".join(f"{s} " + ", ".join(f"{x:.3f}" for x in r["paired_ratios"][s]) for s in ("stream", "disk"))
        print(f"{r['resolution']:>4} {rates['stream']:>9.0f} {rates['disk']:>9.0f} {rates['memory']:>10.0f} "
              f"{r['median_ratio']['stream']:>11.3f} {r['median_ratio']['disk']:>9.3f}   {rounds}")
    print("\ncrop cache, one-time render (own process): " + ", ".join(
        f"{m} faces at {p} px: {c['crops']} crops in {c['seconds']:.0f} s ({c['crops_per_s']:.0f}/s)"
        for (m, p), c in cache.items()))
    paper = {p: PAPER_FACES * PAPER_PERTURBATIONS * p * p * 3 for p in (16, 32, 64, 96)}
    print("\nin-memory crops at the paper's scale (367,888 faces x 16 perturbations, uint8): " +
          ", ".join(f"{p} px {b / 1e9:.1f} GB" for p, b in paper.items()))
    if FLAGS.out:
        write_json(FLAGS.out, {
            "num_faces": [n, 4 * n], "perturbations": k, "steps": FLAGS.steps, "batch_size": FLAGS.batch_size,
            "cpu_count": os.cpu_count(), "setup_seconds": setup_s,
            "rss": [{"source": s, "faces": m, **v} for (s, m), v in rss.items()], "rss_growth_4n_over_n": growth,
            "throughput": throughput,
            "crop_cache_render": [{"faces": m, "resolution": p, **c} for (m, p), c in cache.items()],
            "paper_scale_in_memory_bytes": {str(p): b for p, b in paper.items()}})

if __name__ == "__main__":
    define_flags()
    app.run(main)
