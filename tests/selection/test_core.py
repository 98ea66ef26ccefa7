"""skd_tf.selection.core, through the package's entry points: the selected energy equals the brute-force minimum
on every backend, kept sets nest as lam rises, the similarity-vs-distance reading on planted outliers, lambda for a
keep fraction, defined results for small classes, input order / dtypes / .npy paths, workers, and bad input."""
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from skd_tf.selection import (
    BACKENDS,
    compute_terms,
    exhaustive_minimum,
    lambda_for_keep_fraction,
    select_informative,
    selection_energy,
    sweep_lambda,
)


def _instance(rng, max_k=14, max_c=4, signed=None):
    C = int(rng.integers(1, max_c + 1))
    sizes = rng.integers(1, max_k + 1, size=C)
    values = rng.choice(np.arange(-50, 50) * 7, size=C, replace=False)  # arbitrary, non-contiguous labels
    labels = np.repeat(values, sizes)
    rng.shuffle(labels)
    D = int(rng.integers(2, 9))
    signed = rng.random() < 0.5 if signed is None else signed
    f = rng.normal(size=(labels.size, D)) + (0.0 if signed else 1.5)
    if not signed:
        f = np.abs(f)
    return f, labels


def _exhaustive_total(terms, lam):
    return sum(exhaustive_minimum(terms.unary[c], terms.pairwise[c], lam)[0] for c in range(terms.num_classes))


@pytest.mark.parametrize("measure", ["similarity", "distance"])
def test_energy_equals_exhaustive_minimum_all_backends(measure, random_lam, close):
    rng = np.random.default_rng(123 if measure == "similarity" else 321)
    for trial in range(90):
        f, labels = _instance(rng)
        lam = random_lam(rng)
        terms = compute_terms(f, labels, measure)
        best = _exhaustive_total(terms, lam)
        backends = BACKENDS if trial % 3 == 0 else ("scipy", "pymaxflow")
        for backend in backends:
            r = select_informative(f, labels, lam, measure=measure, backend=backend, workers=1, terms=terms)
            assert r.alpha.dtype == bool and r.alpha.shape == (labels.size,)
            assert close(r.energy, best), (trial, backend, lam, r.energy, best)
            # energy reported == energy recomputed from the definition, independently of compute_terms
            assert close(selection_energy(r.alpha, f, labels, lam, measure), r.energy)
            assert r.kept_per_class.sum() == r.alpha.sum()
            assert r.stats["classes_not_certified_to_rel_tol"] == 0


def test_kept_sets_nested_as_lam_rises():
    rng = np.random.default_rng(11)
    lams = [-(2.0 ** k) for k in range(12, -7, -1)] + [0.0]
    for trial in range(12):
        f, labels = _instance(rng, max_k=12, max_c=4)
        terms = compute_terms(f, labels, "similarity")
        prev = None
        for lam in lams:  # ascending
            a = select_informative(f, labels, lam, workers=1, terms=terms).alpha
            if prev is not None:
                assert not np.any(a & ~prev), (trial, lam)
            prev = a
        sw = sweep_lambda(f, labels, lams=lams[::-1], workers=1, terms=terms)
        sw_free = sweep_lambda(f, labels, lams=lams, workers=1, terms=terms, nested=False)
        assert np.all(np.diff(sw.lams) > 0)
        assert np.array_equal(sw.kept_counts, sw_free.kept_counts)
        assert np.all(sw.alphas[1:] <= sw.alphas[:-1])
        assert np.all(np.diff(sw.kept_counts) <= 0)


def _planted(seed=0, C=6, clean=20, planted=2, D=32):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(C, D))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    feats, labels, is_planted = [], [], []
    for c in range(C):
        for _ in range(clean):
            feats.append(3 * centers[c] + rng.normal(size=D) * 0.25)
            labels.append(c)
            is_planted.append(False)
        for _ in range(planted):
            other = (c + 1 + rng.integers(C - 1)) % C
            feats.append(3 * centers[other] + rng.normal(size=D) * 0.25)
            labels.append(c)
            is_planted.append(True)
    return np.array(feats), np.array(labels), np.array(is_planted)


PLANTED_LAMS = [-(2.0 ** k) for k in range(13, -11, -1)] + [0.0]


def _rates(sweep, is_planted):
    dropped_planted = (~sweep.alphas[:, is_planted]).mean(axis=1)
    kept_clean = sweep.alphas[:, ~is_planted].mean(axis=1)
    return dropped_planted, kept_clean


def test_planted_outliers_similarity_reading_discards_them():
    f, labels, is_planted = _planted()
    sw = sweep_lambda(f, labels, lams=PLANTED_LAMS, measure="similarity", workers=1)
    dropped_planted, kept_clean = _rates(sw, is_planted)
    assert np.any((dropped_planted >= 0.9) & (kept_clean >= 0.9))


def test_planted_outliers_distance_reading_does_not():
    f, labels, is_planted = _planted()
    sw = sweep_lambda(f, labels, lams=PLANTED_LAMS, measure="distance", workers=1)
    dropped_planted, kept_clean = _rates(sw, is_planted)
    assert not np.any((dropped_planted >= 0.9) & (kept_clean >= 0.9))
    # and it never prefers clean faces: wherever it drops planted faces it drops at least as many clean ones
    assert np.all(1 - kept_clean >= dropped_planted - 1e-12)
    # here it keeps or drops whole classes (planted faces included) at every lam
    sizes = np.bincount(labels)
    assert np.all((sw.kept_per_class == 0) | (sw.kept_per_class == sizes[None, :]))


def test_lambda_for_keep_fraction():
    f, labels, _ = _planted(seed=1)
    sw = sweep_lambda(f, labels, lams=PLANTED_LAMS, workers=1)
    frac = sw.kept_counts / sw.n
    lam = lambda_for_keep_fraction(sw, 0.9)
    k = list(sw.lams).index(lam)
    assert abs(frac[k] - 0.9) == pytest.approx(np.min(np.abs(frac - 0.9)))
    assert lambda_for_keep_fraction(sw, 0.0) == 0.0
    with pytest.raises(ValueError, match="fraction"):
        lambda_for_keep_fraction(sw, 1.5)


def test_default_lams_and_sweep_shape():
    f, labels, _ = _planted(seed=2, C=3, clean=5, planted=1)
    sw = sweep_lambda(f, labels, workers=1)
    assert sw.lams[0] == -8192 and sw.lams[-1] == 0 and sw.lams[-2] == -1 and len(sw.lams) == 15
    assert sw.alphas.shape == (15, labels.size) and sw.kept_per_class.shape == (15, 3)


# ---- defined results -------------------------------------------------------------------------------------------

def test_one_face_classes_and_one_class_input():
    rng = np.random.default_rng(3)
    f = np.abs(rng.normal(size=(7, 6))) + 0.1
    labels = np.array([5, 5, 5, 5, 9, 2, 2])  # class 9 has one face
    r = select_informative(f, labels, -1e6, workers=1)
    # a one-face class has no pairwise term: U > 0 (non-negative features), so it is dropped at every lam
    assert not r.alpha[4]
    assert list(r.classes) == [2, 5, 9] and r.kept_per_class[2] == 0
    one = select_informative(f, np.zeros(7, dtype=int), -3.0, workers=1)
    assert one.alpha.all() and one.energy <= 0
    assert select_informative(f, np.zeros(7, dtype=int), 0.0, workers=1).alpha.all()  # E == 0: ties keep
    single = select_informative(f[:1], [4], 0.0, workers=1)
    assert single.alpha.tolist() == [True]


def test_input_order_dtypes_and_npy_path(tmp_path):
    rng = np.random.default_rng(4)
    f, labels = _instance(rng, max_k=10, max_c=4, signed=False)
    r = select_informative(f, labels, -4.0, workers=1)
    perm = rng.permutation(labels.size)
    rp = select_informative(f[perm], labels[perm], -4.0, workers=1)
    assert np.array_equal(rp.alpha, r.alpha[perm])
    for dtype in (np.float32, np.float16):
        rd = select_informative(f.astype(dtype), labels, -4.0, workers=1)
        assert rd.alpha.shape == r.alpha.shape
    path = tmp_path / "f.npy"
    np.save(path, f.astype(np.float32))
    r32 = select_informative(f.astype(np.float32), labels, -4.0, workers=1)
    rpath = select_informative(str(path), labels, -4.0, workers=1)
    assert np.array_equal(rpath.alpha, r32.alpha) and rpath.energy == pytest.approx(r32.energy, rel=1e-12)


_PARALLEL_CASE = """
import numpy as np
from skd_tf.selection import core
from skd_tf.selection.terms import compute_terms
rng = np.random.default_rng(8)
C, K = 60, 60  # above the cost at which the classes are split over workers
centers = rng.normal(size=(C, 16))
labels = np.repeat(np.arange(C), K)
f = np.abs(centers[labels] + rng.normal(size=(C * K, 16)))
terms = compute_terms(f, labels)
"""


def test_parallel_workers_agree():
    """In a process without TensorFlow (a fresh interpreter), workers=2 forks its pool and finds the same alpha."""
    script = _PARALLEL_CASE + """
forks = []
get_context = core.mp.get_context
core.mp.get_context = lambda method: forks.append(method) or get_context(method)
r1 = core.select_informative(f, labels, -8.0, workers=1, terms=terms)
r2 = core.select_informative(f, labels, -8.0, workers=2, terms=terms)
assert forks == ["fork"], forks
assert np.array_equal(r1.alpha, r2.alpha)
print("ok")
"""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_no_fork_once_tensorflow_is_loaded(monkeypatch):
    """With TensorFlow's threads in the process, forked workers can deadlock: the classes are solved in-process."""
    namespace = {}
    exec(_PARALLEL_CASE, namespace)
    core, f, labels, terms = (namespace[k] for k in ("core", "f", "labels", "terms"))
    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))

    def no_fork(method):
        raise AssertionError(f"a {method} pool was started with TensorFlow loaded")

    monkeypatch.setattr(core.mp, "get_context", no_fork)
    r1 = core.select_informative(f, labels, -8.0, workers=1, terms=terms)
    r2 = core.select_informative(f, labels, -8.0, workers=2, terms=terms)
    assert np.array_equal(r1.alpha, r2.alpha) and r2.alpha.sum() > 0


# ---- bad input ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mutate, match", [
    (lambda f, lab: (np.where(np.arange(f.size).reshape(f.shape) == 3, np.nan, f), lab), "NaN or inf"),
    (lambda f, lab: (np.where(np.arange(f.size).reshape(f.shape) == 3, np.inf, f), lab), "NaN or inf"),
    (lambda f, lab: (np.vstack([f[:2], np.zeros((1, f.shape[1])), f[3:]]), lab), "all zero"),
    (lambda f, lab: (f, lab[:-1]), "does not match"),
    (lambda f, lab: (f[:0], lab[:0]), "empty"),
    (lambda f, lab: (f[:, 0], lab), "2-D"),
    (lambda f, lab: (f, lab + 0.5), "integer labels"),
])
def test_bad_input_raises_clear_error(mutate, match):
    rng = np.random.default_rng(0)
    f = np.abs(rng.normal(size=(6, 4)))
    labels = np.array([0, 0, 1, 1, 2, 2])
    f2, l2 = mutate(f, labels)
    with pytest.raises(ValueError, match=match):
        select_informative(f2, l2, -1.0, workers=1)


def test_bad_options():
    f = np.abs(np.random.default_rng(0).normal(size=(4, 3)))
    labels = [0, 0, 1, 1]
    with pytest.raises(ValueError, match="lam"):
        select_informative(f, labels, 0.5)
    with pytest.raises(ValueError, match="lam"):
        select_informative(f, labels, float("nan"))
    with pytest.raises(ValueError, match="measure"):
        select_informative(f, labels, -1.0, measure="euclid")
    with pytest.raises(ValueError, match="backend"):
        select_informative(f, labels, -1.0, backend="gurobi")
    with pytest.raises(FileNotFoundError):
        select_informative("/nonexistent/features.npy", labels, -1.0)
