"""Selection stage (Sec. III-C, Eq. 2-3): exactness against brute force, backend agreement, nesting over lam,
the similarity-vs-distance reading on planted outliers, int32 safety of the scipy path, and bad input."""
import numpy as np
import pytest

from skd_tf.selection import (BACKENDS, compute_terms, exhaustive_minimum, lambda_for_keep_fraction,
                              select_informative, selection_energy, solve_class, sweep_lambda)
from skd_tf.selection import cut as cutmod


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


def _random_lam(rng):
    r = rng.random()
    if r < 0.08:
        return 0.0
    return -float(2.0 ** rng.uniform(-8, 13))


def _exhaustive_total(terms, lam):
    return sum(exhaustive_minimum(terms.unary[c], terms.pairwise[c], lam)[0] for c in range(terms.num_classes))


def _close(a, b, rel=1e-9):
    return abs(a - b) <= rel * (1.0 + abs(a) + abs(b))


@pytest.mark.parametrize("measure", ["similarity", "distance"])
def test_energy_equals_exhaustive_minimum_all_backends(measure):
    rng = np.random.default_rng(123 if measure == "similarity" else 321)
    for trial in range(90):
        f, labels = _instance(rng)
        lam = _random_lam(rng)
        terms = compute_terms(f, labels, measure)
        best = _exhaustive_total(terms, lam)
        backends = BACKENDS if trial % 3 == 0 else ("scipy", "pymaxflow")
        for backend in backends:
            r = select_informative(f, labels, lam, measure=measure, backend=backend, workers=1, terms=terms)
            assert r.alpha.dtype == bool and r.alpha.shape == (labels.size,)
            assert _close(r.energy, best), (trial, backend, lam, r.energy, best)
            # energy reported == energy recomputed from the definition, independently of compute_terms
            assert _close(selection_energy(r.alpha, f, labels, lam, measure), r.energy)
            assert r.kept_per_class.sum() == r.alpha.sum()
            assert r.stats["classes_not_certified_to_rel_tol"] == 0


def test_solve_class_matches_brute_force_across_scales():
    rng = np.random.default_rng(7)
    for trial in range(150):
        K = int(rng.integers(1, 15))
        x = rng.normal(size=(K, 5)) + rng.uniform(0, 2)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        w = np.clip(x @ x.T, 0, 1)
        np.fill_diagonal(w, 0)
        u = rng.uniform(0, 10 ** rng.uniform(-3, 4), size=K)
        if rng.random() < 0.2:
            u[rng.random(K) < 0.3] = 0.0  # ties: faces with no similarity to other classes
        lam = _random_lam(rng)
        best, _ = exhaustive_minimum(u, w, lam)
        for backend in ("scipy", "pymaxflow"):
            r = solve_class(u, w, lam, backend)
            assert _close(r.energy, best), (trial, backend, lam, r.energy, best)
            assert r.gap <= 1e-9 * (1 + abs(best) + np.abs(u).sum() + abs(lam) * w.sum())


def test_largest_minimiser_is_returned():
    # Two faces, U = 0 and W = 0: every labelling has energy 0; ties keep faces.
    r = solve_class(np.zeros(2), np.zeros((2, 2)), -1.0, "scipy")
    assert r.alpha.all()
    for backend in BACKENDS:
        u = np.array([1.0, 1.0, 5.0])
        w = np.array([[0, 1.0, 0], [1.0, 0, 0], [0, 0, 0]])
        # faces 0,1 together: 1 + 1 + lam = 0 at lam = -2 -> tie between {} and {0, 1}; keep
        r = solve_class(u, w, -2.0, backend)
        assert r.alpha.tolist() == [True, True, False], backend


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


# ---- scipy int32 path ----------------------------------------------------------------------------------------------

def test_scipy_int32_wraps_silently_and_we_refuse():
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import maximum_flow

    big = np.array([[0, 2 ** 32 + 5], [0, 0]], dtype=np.int64)
    assert maximum_flow(csr_array(big), 0, 1).flow_value == 5  # the hazard: 2**32 + 5 becomes 5
    with pytest.raises(OverflowError):
        cutmod.scipy_max_flow_checked(big, 0, 1)
    with pytest.raises(OverflowError):
        cutmod.check_int32_capacities(np.array([[0, 2 ** 30, 0], [0, 0, 2 ** 30], [0, 0, 0]]), n_inner=3)


def test_quantisation_bound_and_huge_capacities():
    rng = np.random.default_rng(5)
    n = 30
    cap = np.triu(rng.uniform(0, 1e15, (n + 2, n + 2)), 1)
    cap[:, n] = 0
    cap[n + 1, :] = 0
    q, scale = cutmod.quantize_capacities(cap, n)
    assert q.dtype == np.int32
    q64 = q.astype(np.int64)
    assert q64[:, :n].sum(axis=0).max() <= cutmod.INT_LIMIT and q64[:n].sum(axis=1).max() <= cutmod.INT_LIMIT
    assert np.all(q64 <= np.floor(cap * scale))  # floored: integer flows are feasible for the real capacities
    value, flow = cutmod.scipy_max_flow_checked(q, n, n + 1)
    assert value >= 0 and np.all(flow <= q64)
    # a class whose capacities are ~1e12: still the exact minimum
    K = 12
    x = np.abs(rng.normal(size=(K, 4))) + 0.1
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w = x @ x.T
    np.fill_diagonal(w, 0)
    u = rng.uniform(0, 1e12, K)
    for lam in (-1e11, -3e11, -1e12):
        best, _ = exhaustive_minimum(u, w, lam)
        r = solve_class(u, w, lam, "scipy")
        assert _close(r.energy, best, rel=1e-12)


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


def test_parallel_workers_agree():
    rng = np.random.default_rng(8)
    C, K = 60, 40
    centers = rng.normal(size=(C, 16))
    labels = np.repeat(np.arange(C), K)
    f = np.abs(centers[labels] + rng.normal(size=(C * K, 16)))
    terms = compute_terms(f, labels)
    r1 = select_informative(f, labels, -8.0, workers=1, terms=terms)
    r2 = select_informative(f, labels, -8.0, workers=2, terms=terms)
    assert np.array_equal(r1.alpha, r2.alpha)


def test_clipped_unary_exact_for_signed_features():
    # signed features: some cosines to other centroids are negative and must be clipped exactly
    rng = np.random.default_rng(9)
    f = rng.normal(size=(40, 5))
    labels = rng.integers(0, 6, size=40)
    terms = compute_terms(f, labels, "similarity", chunk_rows=7)
    assert terms.stats["rows_needing_exact_clipped_unary"] > 0
    fn = f / np.linalg.norm(f, axis=1, keepdims=True)
    cls = np.unique(labels)
    cents = np.stack([f[labels == c].mean(0) for c in cls])
    cents /= np.linalg.norm(cents, axis=1, keepdims=True)
    cos = np.maximum(fn @ cents.T, 0)
    for k, c in enumerate(cls):
        m = terms.members[k]
        expect = cos[m].sum(1) - cos[m, k]
        np.testing.assert_allclose(terms.unary[k], expect, rtol=1e-12, atol=1e-12)


# ---- bad input ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mutate, match", [
    (lambda f, l: (np.where(np.arange(f.size).reshape(f.shape) == 3, np.nan, f), l), "NaN or inf"),
    (lambda f, l: (np.where(np.arange(f.size).reshape(f.shape) == 3, np.inf, f), l), "NaN or inf"),
    (lambda f, l: (np.vstack([f[:2], np.zeros((1, f.shape[1])), f[3:]]), l), "all zero"),
    (lambda f, l: (f, l[:-1]), "does not match"),
    (lambda f, l: (f[:0], l[:0]), "empty"),
    (lambda f, l: (f[:, 0], l), "2-D"),
    (lambda f, l: (f, l + 0.5), "integer labels"),
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
