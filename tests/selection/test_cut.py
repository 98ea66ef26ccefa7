"""skd_tf.selection.cut: the per-class min-cut against brute force across scales, ties keep faces, and the int32
safety of the scipy path (quantised capacities, refused overflow)."""
import numpy as np
import pytest

from skd_tf.selection import BACKENDS, exhaustive_minimum, solve_class
from skd_tf.selection import cut as cutmod


def test_solve_class_matches_brute_force_across_scales(random_lam, close):
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
        lam = random_lam(rng)
        best, _ = exhaustive_minimum(u, w, lam)
        for backend in ("scipy", "pymaxflow"):
            r = solve_class(u, w, lam, backend)
            assert close(r.energy, best), (trial, backend, lam, r.energy, best)
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


def test_quantisation_bound_and_huge_capacities(close):
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
        assert close(r.energy, best, rel=1e-12)
