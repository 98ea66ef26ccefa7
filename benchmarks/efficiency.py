"""Efficiency of teachers and students (paper Section IV-F, Table III and Fig. 8), measured in one run.

    nice python -m benchmarks.efficiency --out=/tmp/eff.json
    python -m benchmarks.efficiency --models=S-16,S-32 --seconds=1 --out=/tmp/eff_quick.json

Models: T-224 (VGGFace VGG16 architecture, random weights, fc7 features), T-150 (dlib's face ResNet with its real
weights, 128-D) and students S-96/64/32/16 (Fig. 3, D = 4096 mimic layer as with the VGGFace teacher, 128-D
identity layer; C = 8,419 UMDFaces subjects for the "with softmax" count, Section IV-A). Weights do not change speed.

Per model:
* parameters with and without the softmax layer; MACs (multiply-accumulates of conv and dense layers; FLOPs =
  2 x MACs); activation memory at batch 1 in float32 (`skd_tf.analysis.complexity`: "in-place" = input plus every
  tensor a layer must materialise, i.e. without the outputs of ReLU/BatchNorm layers, which a runtime can run in
  place (Caffe does; the paper implements its models in TensorFlow [63], Section IV-A); "all" = every Keras layer
  output) and the teacher/student ratio of each against Fig. 8;
  model file sizes (TFLite float32 and int8);
* throughput: Keras (TF graph, `tf.function`), TFLite float32 and TFLite full int8 (`skd_tf.serving`: uint8 input,
  float outputs), at batch 1 (latency = 1 / faces per second) and batch `--large_batch` (`--teacher_large_batch`
  for the two teachers, whose per-face cost is batch independent and whose 256-face batch takes minutes on one
  core), with 1 thread and with `--threads` threads (default: all cores). Keras runs in a fresh subprocess per
  (model, thread count), with TF's intra- and inter-op thread pools set before TF starts; TFLite uses
  `num_threads`. The students are timed as deployed: the features (embedding and mimic), without the softmax layer;
* the fraction of this machine's peak reached: effective FLOP/s (2 x MACs x faces/s) over the best single-thread
  (or N-thread) float32 sgemm measured in the same run (TF and numpy matmul, 2048^3). For int8 this is a float
  equivalent and can exceed 1;
* when TensorFlow sees a GPU: Keras faces/s on the GPU at batch 1 and `--large_batch` (no flags needed).

The table printed beside the paper's Table III gives, per resolution, the best single-thread CPU artifact's faces/s
and its ratio to the paper's CPU faces/s (one Intel 2.6 GHz core). Timings on a shared machine vary; the JSON records
the load average before and after.

Length: over 400 lines because one run measures every row of Table III and Fig. 8 and spawns its own workers
(`--worker`), which must live in this file.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

FLAGS = flags.FLAGS

STUDENT_RESOLUTIONS = (96, 64, 32, 16)
STUDENT_FEATURE_DIM = 4096
STUDENT_CLASSES = 8419          # UMDFaces subjects (paper Section IV-A: "8,419 subjects")
TEACHER_KEYS = ("T-224", "T-150")
ALL_MODELS = TEACHER_KEYS + tuple(f"S-{p}" for p in STUDENT_RESOLUTIONS)

# Paper Table III: (ms per face, faces/s) on GPU (K80) and on CPU (Intel 2.6 GHz, one core).
PAPER_TABLE3 = {
    "T-224": {"gpu_ms": 20.4, "gpu_fps": 49, "cpu_ms": 982.4, "cpu_fps": 1.02},
    "S-96": {"gpu_ms": 0.61, "gpu_fps": 1639, "cpu_ms": 67.9, "cpu_fps": 14.7},
    "S-64": {"gpu_ms": 0.32, "gpu_fps": 3125, "cpu_ms": 31.92, "cpu_fps": 31.3},
    "S-32": {"gpu_ms": 0.15, "gpu_fps": 6667, "cpu_ms": 8.92, "cpu_fps": 112},
    "S-16": {"gpu_ms": 0.106, "gpu_fps": 9433, "cpu_ms": 2.39, "cpu_fps": 418},
}
# Paper Fig. 8 / Section IV-F: teacher (T-224) memory over student memory; S-16 uses 0.15 MB.
PAPER_FIG8_RATIO = {"S-96": 22, "S-64": 48, "S-32": 182, "S-16": 620}
PAPER_S16_MEMORY_MB = 0.15
PAPER_PARAMS = {"T-224": 138e6, "student": 0.79e6}


def define_flags() -> None:
    flags.DEFINE_string("out", None, "JSON output path")
    flags.DEFINE_list("models", list(ALL_MODELS), f"subset of {','.join(ALL_MODELS)}")
    flags.DEFINE_float("seconds", 1.5, "timed seconds per measurement (after warm-up)")
    flags.DEFINE_integer("large_batch", 256, "the large batch size")
    flags.DEFINE_integer("teacher_large_batch", 16, "the large batch size for the teachers")
    flags.DEFINE_integer("threads", 0, "multi-thread count (0: all cores)")
    flags.DEFINE_integer("calibration_faces", 64, "faces calibrating the students' full-int8 models")
    flags.DEFINE_integer("teacher_calibration_faces", 8, "faces calibrating the teachers' full-int8 models")
    flags.DEFINE_list("runtimes", ["keras", "tflite_float32", "tflite_int8"], "runtimes to time")
    flags.DEFINE_string("reprint", None, "print the tables of a JSON this benchmark wrote, and exit")
    flags.DEFINE_string("work_dir", None, "where the TFLite models are written (default: a temporary folder)")
    # Internal: one Keras timing in a fresh process.
    flags.DEFINE_string("worker", None, "internal: keras | sgemm")
    flags.DEFINE_string("model", None, "internal: model key for --worker=keras")
    flags.DEFINE_integer("worker_threads", 1, "internal")
    flags.DEFINE_list("batches", [], "internal")
    flags.DEFINE_string("device", "cpu", "internal: cpu | gpu")


# ----------------------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------------------

def resolution_of(key: str) -> int:
    return {"T-224": 224, "T-150": 150}.get(key) or int(key.split("-")[1])


def build_feature_model(key: str):
    """(features model: uint8/float RGB -> dict of features, full model for counting, layers excluded as softmax)."""
    import keras

    if key == "T-224":
        from skd_tf.models.teachers import vggface

        full = vggface.build_full()
        feat = keras.Model(full.inputs, {"features": full.get_layer("fc7").output}, name="T-224")
        return feat, full, ("fc8",)
    if key == "T-150":
        from skd_tf.models import teachers

        m = teachers.build("dlib_resnet")
        return keras.Model(m.inputs, {"features": m.outputs[0]}, name="T-150"), m, ()
    from skd_tf.models.student import build_student

    p = resolution_of(key)
    full = build_student(p, feature_dim=STUDENT_FEATURE_DIM, num_classes=STUDENT_CLASSES, seed=0, name=f"S-{p}")
    feat = keras.Model(full.inputs, {"mimic": full.output["mimic"], "identity": full.output["identity"]},
                       name=f"S-{p}-features")
    return feat, full, ("logits",)


def serving_fn(feat_model, key: str):
    """uint8 images -> the deployed outputs (students: L2-normalised embedding + mimic; teachers: features)."""
    import tensorflow as tf

    def fn(images):
        out = feat_model(tf.cast(images, tf.float32), training=False)
        if "identity" in out:
            return {"embedding": tf.math.l2_normalize(out["identity"], axis=-1), "mimic": out["mimic"]}
        return {"features": out["features"]}

    return fn


# ----------------------------------------------------------------------------------------------------------------
# Workers (fresh processes: TF's thread pools are fixed before TF starts)
# ----------------------------------------------------------------------------------------------------------------

def _set_tf_threads(threads: int) -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1 if threads == 1 else threads)


def _time_calls(call, batch: int, seconds: float, warmup: int, min_iters: int) -> float:
    for _ in range(warmup):
        call()
    n, t0 = 0, time.perf_counter()
    while True:
        call()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds and n >= min_iters:
            return batch * n / elapsed


def keras_worker(key: str, threads: int, batches: list[int], seconds: float, device: str) -> dict:
    _set_tf_threads(threads)
    import numpy as np
    import tensorflow as tf

    if device == "gpu" and not tf.config.list_physical_devices("GPU"):
        return {"error": "no GPU visible"}
    dev = "/GPU:0" if device == "gpu" else "/CPU:0"
    with tf.device(dev):
        feat, _, _ = build_feature_model(key)
        fn = tf.function(serving_fn(feat, key))
        p = resolution_of(key)
        res = {}
        for b in batches:
            x = tf.constant(np.random.default_rng(0).integers(0, 256, (b, p, p, 3), dtype=np.uint8))

            def call():
                out = fn(x)
                for v in out.values():
                    v.numpy()  # synchronise (GPU)

            res[str(b)] = _time_calls(call, b, seconds, warmup=2 if b <= 16 else 1, min_iters=3 if b <= 16 else 1)
    return {"faces_per_s": res, "device": dev}


def sgemm_worker(threads: int, seconds: float) -> dict:
    """Best float32 matmul FLOP/s with `threads` threads: TF (Eigen/oneDNN) and numpy (its BLAS)."""
    _set_tf_threads(threads)
    import numpy as np
    import tensorflow as tf

    n = 2048
    flops = 2 * n ** 3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    with tf.device("/CPU:0"):
        ta, tb = tf.constant(a), tf.constant(b)
        mm = tf.function(lambda: tf.linalg.matmul(ta, tb))
        tf_rate = _time_calls(lambda: mm().numpy(), 1, seconds, warmup=1, min_iters=2) * flops
    np_rate = _time_calls(lambda: a @ b, 1, seconds, warmup=1, min_iters=2) * flops
    return {"tf_flops": tf_rate, "numpy_flops": np_rate, "best_flops": max(tf_rate, np_rate), "n": n}


def _run_worker(args: list[str], threads: int, timeout: int = 1800) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        env[var] = str(threads)
    env["TF_NUM_INTEROP_THREADS"] = "1" if threads == 1 else str(threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [sys.executable, "-m", "benchmarks.efficiency", f"--worker_threads={threads}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=Path(__file__).resolve().parents[1])
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("WORKER_RESULT "):
            return json.loads(line[len("WORKER_RESULT "):])
    return {"error": f"worker {' '.join(args)} failed (rc {proc.returncode}): {proc.stderr[-1500:]}"}


# ----------------------------------------------------------------------------------------------------------------
# TFLite artifacts
# ----------------------------------------------------------------------------------------------------------------

def calibration_faces(resolution: int, n: int, seed: int = 0):
    """LFW faces when `../shared/data` has them, synthetic faces otherwise (uint8 [n, p, p, 3]), and the source."""
    from skd_tf.data.calibration import lfw_faces, synthetic_faces

    try:
        return lfw_faces(resolution, n, seed=seed)[0], "lfw"
    except FileNotFoundError:
        return synthetic_faces(resolution, max(1, -(-n // 8)), 8, seed=seed)[0][:n], "synthetic"


def build_tflite(key: str, feat_model, work_dir: Path, kinds: list[str], n_calib: int) -> dict:
    """Writes `<key>_<kind>.tflite` for each of `kinds` (float32, int8); returns {kind: path} and the calibration."""
    import keras
    import tensorflow as tf

    from skd_tf.serving import INPUT_NAME, SIGNATURE, convert_tflite

    p = resolution_of(key)
    sm = work_dir / f"{key}_saved_model"
    archive = keras.export.ExportArchive()
    archive.track(feat_model)
    archive.add_endpoint(SIGNATURE, serving_fn(feat_model, key),
                         input_signature=[tf.TensorSpec([None, p, p, 3], tf.uint8, name=INPUT_NAME)])
    archive.write_out(str(sm), verbose=False)
    reps, source = calibration_faces(p, n_calib) if "int8" in kinds else (None, None)
    paths = {}
    for kind in kinds:
        path = work_dir / f"{key}_{kind}.tflite"
        path.write_bytes(convert_tflite(sm, kind, reps if kind == "int8" else None))
        paths[kind] = path
    import shutil

    shutil.rmtree(sm, ignore_errors=True)
    return {"paths": paths, "calibration": {"n_faces": n_calib, "source": source}}


# ----------------------------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------------------------

def _loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def run_benchmark() -> dict:
    import tensorflow as tf

    from skd_tf.analysis.complexity import analyze
    from skd_tf.serving import tflite_throughput

    keys = [k for k in ALL_MODELS if k in FLAGS.models]
    bad = [k for k in FLAGS.models if k not in ALL_MODELS]
    if bad:
        raise ValueError(f"--models: unknown {bad}; expected a subset of {ALL_MODELS}")
    n_threads = FLAGS.threads or os.cpu_count() or 1
    thread_counts = [1] if n_threads == 1 else [1, n_threads]
    gpu = bool(tf.config.list_physical_devices("GPU"))
    result = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
                    "tensorflow": tf.__version__, "gpu_visible": gpu, "loadavg_start": _loadavg()},
        "settings": {k: FLAGS[k].value for k in ("seconds", "large_batch", "teacher_large_batch", "threads",
                                                 "calibration_faces", "teacher_calibration_faces", "runtimes")},
        "paper": {"table3": PAPER_TABLE3, "fig8_ratio": PAPER_FIG8_RATIO, "s16_memory_mb": PAPER_S16_MEMORY_MB},
        "sgemm": {}, "models": {},
    }
    for t in thread_counts:
        print(f"sgemm peak, {t} thread(s) ...", flush=True)
        result["sgemm"][str(t)] = _run_worker(["--worker=sgemm", f"--seconds={FLAGS.seconds}"], t)

    tmp = None
    if FLAGS.work_dir:
        work = Path(FLAGS.work_dir)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="skd_eff_")
        work = Path(tmp.name)
    try:
        for key in keys:
            print(f"{key}: complexity and TFLite conversion ...", flush=True)
            p = resolution_of(key)
            feat, full, excluded = build_feature_model(key)
            c_full = analyze(full, exclude_layers=excluded)
            c_feat = analyze(feat)
            entry = {
                "resolution": p,
                "params_with_softmax": c_full.params,
                "params_without_softmax": c_full.params_without_excluded,
                "trainable_params_without_softmax": c_full.trainable_params_without_excluded,
                "macs": c_feat.macs, "flops": c_feat.flops,
                "macs_with_softmax": c_full.macs,
                "activation_bytes_inplace": c_feat.activation_bytes_inplace,
                "activation_bytes_all": c_feat.activation_bytes,
                "uncounted_layers": list(c_feat.uncounted),
            }
            kinds = ["float32", "int8"]
            t0 = time.perf_counter()
            tfl = build_tflite(key, feat, work, kinds,
                               FLAGS.teacher_calibration_faces if key in TEACHER_KEYS else FLAGS.calibration_faces)
            entry["conversion_s"] = time.perf_counter() - t0
            entry["tflite_calibration"] = tfl["calibration"]
            entry["file_bytes"] = {k: v.stat().st_size for k, v in tfl["paths"].items()}
            entry["file_bytes"]["keras_float32_weights"] = 4 * c_feat.params
            del feat, full
            large = FLAGS.teacher_large_batch if key in TEACHER_KEYS else FLAGS.large_batch
            batches = [1, large]
            entry["batches"] = batches
            thr = {}
            for t in thread_counts:
                row = {}
                if "keras" in FLAGS.runtimes:
                    print(f"{key}: keras, {t} thread(s) ...", flush=True)
                    row["keras"] = _run_worker(["--worker=keras", f"--model={key}", f"--seconds={FLAGS.seconds}",
                                                f"--batches={','.join(map(str, batches))}"], t)
                for kind, path in tfl["paths"].items():
                    if f"tflite_{kind}" not in FLAGS.runtimes:
                        continue
                    print(f"{key}: tflite {kind}, {t} thread(s) ...", flush=True)
                    fps = {}
                    for b in batches:
                        fps[str(b)] = tflite_throughput(path, p, b, t, FLAGS.seconds,
                                                        min_iters=3 if b <= 16 else 1,
                                                        warmup=2 if b <= 16 else 1)
                    row[f"tflite_{kind}"] = {"faces_per_s": fps}
                peak = result["sgemm"][str(t)].get("best_flops")
                for rt in row.values():
                    if "faces_per_s" in rt and peak:
                        rt["fraction_of_sgemm"] = {b: v * c_feat.flops / peak for b, v in rt["faces_per_s"].items()}
                thr[str(t)] = row
            entry["throughput"] = thr
            if gpu and "keras" in FLAGS.runtimes:
                print(f"{key}: keras on GPU ...", flush=True)
                entry["gpu"] = _run_worker(["--worker=keras", f"--model={key}", f"--seconds={FLAGS.seconds}",
                                            f"--batches=1,{FLAGS.large_batch}", "--device=gpu"], n_threads)
            for path in tfl["paths"].values():
                path.unlink(missing_ok=True)
            result["models"][key] = entry
    finally:
        if tmp is not None:
            tmp.cleanup()
    result["machine"]["loadavg_end"] = _loadavg()
    result["summary"] = summarise(result)
    return result


def _best_single_thread(entry: dict) -> tuple[str, str, float]:
    """(runtime, batch, faces/s) of the fastest single-thread CPU configuration."""
    best = ("", "", 0.0)
    for rt, r in entry.get("throughput", {}).get("1", {}).items():
        for b, v in r.get("faces_per_s", {}).items():
            if v > best[2]:
                best = (rt, b, v)
    return best


def summarise(result: dict) -> dict:
    models = result["models"]
    summ = {}
    teacher = models.get("T-224")
    for key, e in models.items():
        s = {}
        rt, b, fps = _best_single_thread(e)
        s["best_single_thread"] = {"runtime": rt, "batch": b, "faces_per_s": fps}
        paper = PAPER_TABLE3.get(key)
        if paper and fps:
            s["best_single_thread"]["x_paper_cpu"] = fps / paper["cpu_fps"]
            b1 = e["throughput"]["1"]
            s["batch1_single_thread_x_paper_cpu"] = {r: v["faces_per_s"]["1"] / paper["cpu_fps"]
                                                     for r, v in b1.items() if "faces_per_s" in v}
        if teacher and key.startswith("S-"):
            s["memory_ratio_inplace"] = teacher["activation_bytes_inplace"] / e["activation_bytes_inplace"]
            s["memory_ratio_all"] = teacher["activation_bytes_all"] / e["activation_bytes_all"]
            s["paper_memory_ratio"] = PAPER_FIG8_RATIO.get(key)
        summ[key] = s
    return summ


# ----------------------------------------------------------------------------------------------------------------
# Printing
# ----------------------------------------------------------------------------------------------------------------

def _fmt(v, nd=1):
    if v is None:
        return "-"
    if v >= 1e4:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}"


def format_tables(result: dict) -> str:
    models, summ = result["models"], result["summary"]
    lines = []
    sg = result["sgemm"]
    lines.append("sgemm peak (float32, 2048^3): " + ", ".join(
        f"{t} thread(s) {v.get('best_flops', 0) / 1e9:.1f} GFLOP/s" for t, v in sg.items()))
    lines.append("")
    lines.append("Complexity (batch 1; MACs of conv+dense, FLOPs = 2 MACs; activations float32)")
    lines.append(f"{'model':6s} {'params':>11s} {'params+sm':>11s} {'MMACs':>10s} {'act MB inpl':>11s} "
                 f"{'act MB all':>10s} {'T/S inpl':>8s} {'T/S all':>8s} {'paper':>6s} {'tfl f32 MB':>10s} "
                 f"{'tfl i8 MB':>9s}")
    for key, e in models.items():
        s = summ[key]
        lines.append(
            f"{key:6s} {e['params_without_softmax']:>11,d} {e['params_with_softmax']:>11,d} {e['macs'] / 1e6:>10.1f} "
            f"{e['activation_bytes_inplace'] / 1e6:>11.3f} {e['activation_bytes_all'] / 1e6:>10.3f} "
            f"{_fmt(s.get('memory_ratio_inplace')):>8s} {_fmt(s.get('memory_ratio_all')):>8s} "
            f"{_fmt(s.get('paper_memory_ratio'), 0):>6s} {e['file_bytes'].get('float32', 0) / 1e6:>10.2f} "
            f"{e['file_bytes'].get('int8', 0) / 1e6:>9.2f}")
    threads = sorted({t for e in models.values() for t in e["throughput"]}, key=int)
    for t in threads:
        lines.append("")
        lines.append(f"CPU throughput, {t} thread(s): faces/s at batch 1 (ms/face) | large batch; "
                     f"[fraction of {t}-thread sgemm peak]")
        lines.append(f"{'model':6s} {'runtime':15s} {'b1 faces/s':>11s} {'b1 ms':>8s} {'big b':>5s} "
                     f"{'faces/s':>9s} {'peak b1':>7s} {'peak big':>8s}")
        for key, e in models.items():
            for rt, r in e["throughput"].get(t, {}).items():
                if "faces_per_s" not in r:
                    lines.append(f"{key:6s} {rt:15s} {r.get('error', '?')[:80]}")
                    continue
                f = r["faces_per_s"]
                big = str(e["batches"][1])
                frac = r.get("fraction_of_sgemm", {})
                lines.append(f"{key:6s} {rt:15s} {_fmt(f['1']):>11s} {1000 / f['1']:>8.3f} {big:>5s} "
                             f"{_fmt(f[big]):>9s} {frac.get('1', 0):>7.3f} {frac.get(big, 0):>8.3f}")
    lines.append("")
    lines.append("Beside the paper's Table III (CPU: one Intel 2.6 GHz core; GPU: K80)")
    lines.append(f"{'model':6s} {'paper CPU f/s':>13s} {'paper ms':>8s} {'best 1-thread f/s':>17s} {'x paper':>8s} "
                 f"{'artifact, batch':24s} {'b1 best f/s':>11s} {'b1 x paper':>10s} {'b1 artifact':15s} "
                 f"{'paper GPU f/s':>13s} "
                 f"{'GPU b1':>8s} {'GPU big':>8s}")
    for key, e in models.items():
        paper = PAPER_TABLE3.get(key, {})
        s = summ[key]
        best = s["best_single_thread"]
        b1 = s.get("batch1_single_thread_x_paper_cpu", {})
        one = e.get("throughput", {}).get("1", {})
        b1_best = max(((r, v["faces_per_s"]["1"]) for r, v in one.items() if "faces_per_s" in v),
                      key=lambda x: x[1], default=("", 0.0))
        g = e.get("gpu", {}).get("faces_per_s", {})
        big = str(FLAGS.large_batch)
        lines.append(
            f"{key:6s} {_fmt(paper.get('cpu_fps'), 2):>13s} {_fmt(paper.get('cpu_ms'), 2):>8s} "
            f"{_fmt(best['faces_per_s']):>17s} {_fmt(best.get('x_paper_cpu')):>8s} "
            f"{best['runtime'] + ', b' + best['batch']:24s} {_fmt(b1_best[1]):>11s} "
            f"{_fmt(b1.get(b1_best[0])):>10s} {b1_best[0]:15s} {_fmt(paper.get('gpu_fps'), 0):>13s} "
            f"{_fmt(g.get('1')):>8s} {_fmt(g.get(big)):>8s}")
    return "\n".join(lines)


def main(argv) -> None:
    del argv
    if FLAGS.reprint:
        print(format_tables(json.loads(Path(FLAGS.reprint).read_text(encoding="utf-8"))))
        return
    if FLAGS.worker == "keras":
        res = keras_worker(FLAGS.model, FLAGS.worker_threads, [int(b) for b in FLAGS.batches], FLAGS.seconds,
                           FLAGS.device)
        print("WORKER_RESULT " + json.dumps(res), flush=True)
        return
    if FLAGS.worker == "sgemm":
        print("WORKER_RESULT " + json.dumps(sgemm_worker(FLAGS.worker_threads, FLAGS.seconds)), flush=True)
        return
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    if FLAGS.worker:
        raise ValueError(f"--worker: expected keras or sgemm, got {FLAGS.worker!r}")
    t0 = time.time()
    result = run_benchmark()
    result["wall_s"] = time.time() - t0
    print()
    print(format_tables(result))
    if FLAGS.out:
        from skd_tf.utils.io import write_json

        write_json(FLAGS.out, result)
        print(f"\nwrote {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
