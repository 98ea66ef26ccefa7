"""Selection stage (Sec. III-C / IV-B) at UMDFaces scale on synthetic features.

    nice python -m benchmarks.selection_scale --out=runs/bench/selection_scale.json [--scale=0.1] [--keep_file]

Writes UMDFaces-shaped synthetic teacher features (367,888 x 4,096 float32, ~6 GB, `np.lib.format.open_memmap`,
deterministic by --seed) to a temporary folder, then times, each in a fresh child process whose peak RSS is recorded:
(1) `select_informative` at one lam (--lam) from the memory-mapped .npy, (2) the Fig. 5 sweep (`sweep_lambda`,
default lams). Generation is timed separately and excluded from the targets (one lam <= 60 s and <= 8 GiB peak RSS,
sweep <= 120 s). The file is deleted afterwards unless --keep_file.

Synthetic data: 8,419 classes with log-normal sizes (sigma --size_sigma) rescaled to sum to N exactly (mean ~43.7,
largest several hundred); features relu(g + a z_c + b e) (post-ReLU like VGGFace fc7) with a shared offset g, a
class direction z_c and per-face noise e; --planted of the faces take another class's direction (wrong labels).

Measured (2026-11-28, full scale, `nice python -m benchmarks.selection_scale --blas_threads=1 [--backend=...]`, on
2 CPU cores shared with other jobs: 1-minute load average 3.4-7.8 during the runs, so wall times are pessimistic;
CPU time is user+sys of the timed process and its workers; peak RSS is VmHWM of the timed process / its workers):

    run                       one lam (-256): wall (terms+cuts), CPU  sweep (15 lams): wall (terms+cuts), CPU  RSS GiB
    scipy, final run          16.8 s (14.7 + 2.2), 15.2 s             41.4 s (20.7 + 20.7), 27.1 s             0.86/0.31
    scipy, earlier run        22.4 s (16.6 + 5.8), 14.9 s             72.3 s (34.2 + 37.9), 29.2 s             0.86/0.31
    pymaxflow                 36.3 s (33.5 + 2.8), 15.4 s             63.2 s (39.2 + 23.8), 24.0 s             0.86/0.27
    scipy, --dim=128 --signed 38.4 s (34.8 + 3.6), 27.1 s             79.1 s (27.7 + 51.3), 47.9 s             0.54/0.32

Generation of the 5.61 GiB file: 37-86 s (excluded). Class sizes: mean 43.7, max 380, min 2; sum K_c^2 = 27.5 M.
Kept counts (scipy and pymaxflow identical): -8192: 367,884; -1024: 359,368; -512: 318,760; -256: 216,208;
-128: 88,588; -64: 17,331; -32 and above: 0. Largest certified gap 3.2e-10 (exact to ~1e-10 relative).
The --signed run clips negative cosines exactly for every row (N x C x 128 blocked products). Signed 4,096-D
features would need the full N x C x D = 1.3e13 multiply-adds (about 7 s CPU at --scale=0.1, so roughly
10+ minutes at full scale); post-ReLU features such as VGGFace fc7 skip it (all cosines >= 0).
The paper's single sparse graph would have had sum_c K_c (K_c - 1) / 2 + K_c (C - 1) = 3,110,436,493 edges; the
per-class cuts use 13,555,309 pairwise edges in all (the centroid edges become unary terms).
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from absl import app, flags

from skd_tf.utils.io import write_json

UMD_N, UMD_C, UMD_D = 367_888, 8_419, 4_096

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program, so importing this module defines none and cannot
    clash with other CLIs' flags in one process)."""
    flags.DEFINE_float("scale", 1.0, "fraction of UMDFaces' N and C to generate (1.0 = full scale)")
    flags.DEFINE_integer("dim", UMD_D, "feature dimension")
    flags.DEFINE_integer("seed", 0, "seed of the synthetic data")
    flags.DEFINE_float("lam", -256.0, "lam of the single-lam timing")
    flags.DEFINE_string("backend", "scipy", "cut backend: scipy | networkx | pymaxflow")
    flags.DEFINE_string("measure", "similarity", "similarity | distance")
    flags.DEFINE_integer("workers", None, "processes for the per-class cuts (default: all CPUs)")
    flags.DEFINE_float("size_sigma", 0.75, "log-normal sigma of the class sizes")
    flags.DEFINE_float("planted", 0.02, "fraction of faces given another class's identity (wrong labels)")
    flags.DEFINE_bool("signed", False, "features without the ReLU (negative cosines: exercises the exact clipped "
                      "unary, an N x C x D product in blocks)")
    flags.DEFINE_bool("sweep", True, "also time the Fig. 5 sweep")
    flags.DEFINE_bool("keep_file", False, "keep the generated .npy (its path is printed)")
    flags.DEFINE_string("tmp_dir", None, "where to write the features (default: the system temp folder)")
    flags.DEFINE_integer("blas_threads", None, "set OPENBLAS/OMP_NUM_THREADS in the timed processes (default: leave)")
    flags.DEFINE_string("out", None, "write the results as JSON here")


def class_sizes(n: int, c: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Long-tailed (log-normal) class sizes >= 1 summing to exactly n."""
    mu = np.log(n / c) - sigma ** 2 / 2
    raw = np.exp(rng.normal(mu, sigma, size=c))
    sizes = np.maximum(1, np.round(raw * n / raw.sum())).astype(np.int64)
    diff = n - int(sizes.sum())
    while diff != 0:
        step = 1 if diff > 0 else -1
        cand = np.flatnonzero(sizes > 1) if step < 0 else np.arange(c)
        pick = rng.choice(cand, size=min(abs(diff), cand.size), replace=False)
        sizes[pick] += step
        diff = n - int(sizes.sum())
    return sizes


def generate(path: Path, n: int, c: int, dim: int, seed: int, sigma: float, planted: float,
             block: int = 8192, signed: bool = False) -> np.ndarray:
    """Writes features [n, dim] float32 to `path` (.npy) and returns the labels [n] (classes contiguous).
    `signed` skips the ReLU, so some cosines are negative and the exact clipped unary path is exercised."""
    rng = np.random.default_rng(seed)
    sizes = class_sizes(n, c, sigma, rng)
    labels = np.repeat(np.arange(c, dtype=np.int64), sizes)
    source = labels.copy()  # identity whose direction the face really carries
    n_planted = int(round(planted * n))
    if n_planted:
        rows = rng.choice(n, size=n_planted, replace=False)
        source[rows] = (labels[rows] + rng.integers(1, c, size=n_planted)) % c
    g = np.abs(rng.normal(0.0, 1.0, size=dim)).astype(np.float32) * 0.6
    dirs = rng.standard_normal((c, dim), dtype=np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    try:
        for b0 in range(0, n, block):
            b1 = min(n, b0 + block)
            x = rng.standard_normal((b1 - b0, dim), dtype=np.float32)
            x *= 0.9
            x += dirs[source[b0:b1]]
            x += g
            if not signed:
                np.maximum(x, 0.0, out=x)
            out[b0:b1] = x
        out.flush()
    finally:
        del out
    return labels


def _peak_rss_gib(who) -> float:
    return resource.getrusage(who).ru_maxrss / 2 ** 20  # ru_maxrss is in KiB on Linux


def _vm_hwm_gib() -> float | None:
    """This process's own peak RSS (Linux VmHWM). Unlike ru_maxrss it is not inherited across exec: a child spawned
    by a parent that once had a large resident set reports the parent's peak in ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2 ** 20
    except OSError:
        pass
    return None


def _cpu_s() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _child_main(job: str, features: str, labels_path: str, result_path: str, kw: dict) -> None:
    """Runs one timed job in this (fresh) process and writes its figures as JSON."""
    from skd_tf.selection import compute_terms, select_informative, sweep_lambda

    labels = np.load(labels_path)
    t0, c0 = time.perf_counter(), _cpu_s()
    if job == "one":
        r = select_informative(features, labels, kw["lam"], measure=kw["measure"], backend=kw["backend"],
                               workers=kw["workers"])
        res = {"wall_s": time.perf_counter() - t0, "kept": r.kept, "energy": r.energy,
               "classes_with_no_face_kept": int(np.sum(r.kept_per_class == 0)),
               "max_certified_gap": r.max_certified_gap, "solve_s": r.seconds, "stats": r.stats}
    else:
        terms = compute_terms(features, labels, kw["measure"])
        t_terms = time.perf_counter() - t0
        sw = sweep_lambda(None, labels, measure=kw["measure"], backend=kw["backend"], workers=kw["workers"],
                          terms=terms)
        res = {"wall_s": time.perf_counter() - t0, "terms_s": t_terms, "lams": sw.lams.tolist(),
               "kept_counts": sw.kept_counts.tolist(), "solve_s": sw.seconds.tolist()}
    res["cpu_s"] = _cpu_s() - c0
    hwm = _vm_hwm_gib()
    res["ru_maxrss_gib"] = _peak_rss_gib(resource.RUSAGE_SELF)
    res["peak_rss_gib"] = hwm if hwm is not None else res["ru_maxrss_gib"]
    res["peak_rss_children_gib"] = _peak_rss_gib(resource.RUSAGE_CHILDREN)
    res["load_avg_1min_after"] = os.getloadavg()[0]
    write_json(result_path, res)


def _run_child(job: str, path: Path, labels_path: Path, kw: dict) -> dict:
    result = labels_path.parent / f"result_{job}.json"
    env = dict(os.environ)
    if FLAGS.blas_threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(FLAGS.blas_threads)
    code = ("import json,sys; from benchmarks.selection_scale import _child_main; "
            "_child_main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5]))")
    subprocess.run([sys.executable, "-c", code, job, str(path), str(labels_path), str(result), json.dumps(kw)],
                   check=True, env=env, cwd=Path(__file__).resolve().parents[1])
    return json.loads(result.read_text())


def paper_graph_edges(sizes: np.ndarray) -> int:
    """Edges of the paper's single sparse graph: sum_c K_c (K_c - 1) / 2 + K_c (C - 1)."""
    sizes = sizes.astype(np.int64)
    c = sizes.size
    return int(np.sum(sizes * (sizes - 1) // 2 + sizes * (c - 1)))


def main(argv):
    del argv
    n = max(2, int(round(UMD_N * FLAGS.scale)))
    c = max(1, min(n, int(round(UMD_C * FLAGS.scale))))
    dim = FLAGS.dim
    nbytes = n * dim * 4
    tmp_root = Path(FLAGS.tmp_dir or tempfile.gettempdir())
    free = shutil.disk_usage(tmp_root).free
    if free < nbytes + 2 ** 30:
        raise SystemExit(f"{tmp_root}: {free / 2**30:.1f} GiB free, need {nbytes / 2**30:.1f} GiB + 1 GiB")
    tmp = Path(tempfile.mkdtemp(prefix="selection_scale_", dir=tmp_root))
    path = tmp / "features.npy"
    kw = {"lam": FLAGS.lam, "measure": FLAGS.measure, "backend": FLAGS.backend, "workers": FLAGS.workers}
    results = {"signed": FLAGS.signed, "blas_threads": FLAGS.blas_threads,
               "load_avg_1min_before": os.getloadavg()[0], "n": n, "classes": c, "dim": dim, "bytes": nbytes,
               "seed": FLAGS.seed, "cpus": os.cpu_count(), **kw}
    try:
        t0 = time.perf_counter()
        labels = generate(path, n, c, dim, FLAGS.seed, FLAGS.size_sigma, FLAGS.planted, signed=FLAGS.signed)
        results["generate_s"] = time.perf_counter() - t0
        labels_path = tmp / "labels.npy"
        np.save(labels_path, labels)
        sizes = np.bincount(labels)
        results.update({"size_mean": float(sizes.mean()), "size_max": int(sizes.max()), "size_min": int(sizes.min()),
                        "size_p99": float(np.percentile(sizes, 99)), "sum_k_squared": int(np.sum(sizes ** 2)),
                        "paper_graph_edges": paper_graph_edges(sizes),
                        "per_class_pairwise_edges": int(np.sum(sizes * (sizes - 1) // 2))})
        print(f"generated {n} x {dim} float32 ({nbytes / 2**30:.2f} GiB) in {results['generate_s']:.1f} s: {path}",
              flush=True)
        results["one_lam"] = _run_child("one", path, labels_path, kw)
        print(f"one lam: {results['one_lam']['wall_s']:.1f} s", flush=True)
        if FLAGS.sweep:
            results["sweep"] = _run_child("sweep", path, labels_path, kw)
    finally:
        if FLAGS.keep_file:
            print(f"kept {path}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    one = results["one_lam"]
    rows = [("N x D", f"{n} x {dim} ({nbytes / 2**30:.2f} GiB float32)"),
            ("classes (mean / max size)", f"{c} ({results['size_mean']:.1f} / {results['size_max']})"),
            ("generate (excluded)", f"{results['generate_s']:.1f} s"),
            (f"one lam = {FLAGS.lam:g} ({FLAGS.backend})", f"{one['wall_s']:.1f} s wall, solve {one['solve_s']:.1f} s, "
             f"kept {one['kept']}/{n}"),
            ("  terms (2 passes over the file)", f"{one['wall_s'] - one['solve_s']:.1f} s"),
            ("  CPU time (all processes)", f"{one['cpu_s']:.1f} s; load avg after {one['load_avg_1min_after']:.1f}"),
            ("  peak RSS (main / worker)", f"{one['peak_rss_gib']:.2f} / {one['peak_rss_children_gib']:.2f} GiB"),
            ("  max certified gap", f"{one['max_certified_gap']:.3g}"),
            ("  rows needing the exact clipped unary", f"{one['stats']['rows_needing_exact_clipped_unary']}")]
    if "sweep" in results:
        sw = results["sweep"]
        rows += [(f"sweep ({len(sw['lams'])} lams)", f"{sw['wall_s']:.1f} s wall (terms {sw['terms_s']:.1f} s, "
                  f"cuts {sum(sw['solve_s']):.1f} s)"),
                 ("  CPU time (all processes)", f"{sw['cpu_s']:.1f} s; load avg after {sw['load_avg_1min_after']:.1f}"),
                 ("  peak RSS (main / worker)", f"{sw['peak_rss_gib']:.2f} / {sw['peak_rss_children_gib']:.2f} GiB"),
                 ("  kept counts", ", ".join(f"{lam:g}:{k}" for lam, k in zip(sw["lams"], sw["kept_counts"])))]
    rows += [("paper's single sparse graph", f"{results['paper_graph_edges']:,} edges"),
             ("per-class cuts (all lam)", f"{results['per_class_pairwise_edges']:,} pairwise edges")]
    width = max(len(r[0]) for r in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    if FLAGS.out:
        write_json(FLAGS.out, results)
        print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
