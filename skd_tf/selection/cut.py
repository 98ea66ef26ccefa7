"""Exact minimisation of one class's selection energy by an s-t minimum cut (Sec. III-C, solved with [58]).

Per class the energy is  E(a) = sum_i a_i U_i + lam * sum_{i<j} a_i a_j W_ij  with U >= 0, W >= 0 and lam <= 0, so
every pairwise coefficient P_ij = lam W_ij is <= 0 and E is submodular. The reduction used:
P a_i a_j = P a_i + (-P) a_i (1 - a_j), i.e. an edge i -> j of capacity -P plus a unary term; with theta_i =
U_i + lam * sum_{j>i} W_ij, node i gets an edge i -> t of capacity theta_i when theta_i > 0 and s -> i of capacity
-theta_i otherwise. Kept faces (a_i = 1) are the source side, and E(a) = cut(a) + sum_i min(theta_i, 0).

Ties. Minimisers of a submodular function form a lattice; we always return the *largest* one (a face whose removal
does not lower the energy is kept). Its source side is V minus the nodes that can still reach t in the final residual
graph. Largest minimisers move monotonically with lam (Topkis), which is what makes the kept sets nested over a sweep.

Before any cut, persistency fixes many faces outright: if U_i + lam * sum_{j free or kept} W_ij > 0, face i is dropped
in every minimiser; if U_i + lam * sum_{j fixed kept} W_ij <= 0, face i is in the largest minimiser. At lam = 0 this
decides every face; at very negative lam most.

Backends
- "networkx": reference (preflow-push on floats), on the reversed graph so that its minimal source side is our
  maximal kept set.
- "scipy": `scipy.sparse.csgraph.maximum_flow` (Dinic). It takes int32 capacities and wraps larger ones without
  warning, so capacities are scaled by `2**30 / B` and floored, where B bounds every node's total in- and out-capacity
  (so any edge flow and any residual u->v plus v->u stays below 2**31 - 1); the bound and the cast are checked, and
  the returned flow is checked for conservation. Because capacities are floored, the integer flow divided by the
  scale is feasible for the real capacities, so F/scale + sum min(theta, 0) is a proven lower bound on the minimum.
  The labelling's energy is evaluated in float64; if it exceeds the lower bound by more than `rel_tol` of the
  problem's magnitude, the solve is refined on the real residual graph (capacities capped at the remaining gap, which
  bounds the remaining flow, and re-quantised) until the certificate closes. `CutResult.gap` is the certified bound.
- "pymaxflow": PyMaxflow's Boykov-Kolmogorov on doubles (the algorithm of [58]); nodes left in neither search tree
  are reported on the source side, i.e. the largest minimiser.
"""
from __future__ import annotations

import dataclasses

import numpy as np

BACKENDS = ("scipy", "networkx", "pymaxflow")
# Quantised per-node capacity sums stay <= this; any residual u->v (<= q_uv + q_vu <= 2 * INT_LIMIT) fits int32.
INT_LIMIT = 2 ** 30 - 1
REL_TOL = 1e-10
MAX_ROUNDS = 8


@dataclasses.dataclass
class CutResult:
    alpha: np.ndarray  # bool [K], in the class's member order
    energy: float
    gap: float  # certified: energy - (lower bound on the minimum); 0 when decided without a cut
    cut_nodes: int  # faces left for the cut after persistency
    rounds: int  # max-flow calls
    certified: bool = True  # gap <= rel_tol * (problem magnitude)


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "pymaxflow":
        try:
            import maxflow  # noqa: F401
        except ImportError as exc:
            raise ValueError("backend='pymaxflow' needs PyMaxflow (pip install 'skd-tf[maxflow]')") from exc
    return backend


def class_energy(alpha: np.ndarray, unary: np.ndarray, pairwise: np.ndarray, lam: float) -> float:
    a = np.asarray(alpha, dtype=np.float64)
    return float(a @ unary + 0.5 * lam * (a @ (pairwise @ a)))


def solve_class(unary: np.ndarray, pairwise: np.ndarray, lam: float, backend: str = "scipy",
                candidates: np.ndarray | None = None, rel_tol: float = REL_TOL) -> CutResult:
    """Largest minimiser of the class energy; faces outside `candidates` (bool [K]) are forced to 0."""
    K = unary.shape[0]
    alpha = np.zeros(K, dtype=bool)
    free = np.ones(K, dtype=bool) if candidates is None else np.asarray(candidates, dtype=bool).copy()
    if K == 0:
        return CutResult(alpha, 0.0, 0.0, 0, 0)
    lam = float(lam)
    # ---- persistency ------------------------------------------------------------------------------------------
    attr_free = pairwise[:, free].sum(axis=1)  # sum_{j free} W_ij (diagonal is 0)
    attr_one = np.zeros(K)
    while free.any():
        best_case = unary + lam * (attr_one + attr_free)
        worst_case = unary + lam * attr_one
        drop = free & (best_case > 0)
        keep = free & ~drop & (worst_case <= 0)
        if not (drop.any() or keep.any()):
            break
        free &= ~(drop | keep)
        alpha[keep] = True
        changed = drop | keep
        attr_free -= pairwise[:, changed].sum(axis=1)
        if keep.any():
            attr_one += pairwise[:, keep].sum(axis=1)
    idx = np.flatnonzero(free)
    rounds = 0
    gap = 0.0
    certified = True
    if idx.size:
        u = unary[idx] + lam * attr_one[idx]
        w = pairwise[np.ix_(idx, idx)]
        # Symmetric split P a_i a_j = P/2 (a_i + a_j) - P/2 [a_i != a_j]: with theta_i = u_i + lam/2 sum_j w_ij, if
        # every theta_i <= 0 keeping all free faces is optimal (and largest); if every theta_i > 0 dropping all is
        # the unique minimum.
        theta_sym = u + 0.5 * lam * w.sum(axis=1)
        if np.all(theta_sym <= 0):
            alpha[idx] = True
            idx = idx[:0]
        elif np.all(theta_sym > 0):
            idx = idx[:0]
    if idx.size:
        if backend == "scipy":
            sub, gap, rounds = _cut_scipy(u, w, lam, rel_tol)
        elif backend == "pymaxflow":
            sub, gap = _cut_pymaxflow(u, w, lam)
            rounds = 1
        elif backend == "networkx":
            sub, gap = _cut_networkx(u, w, lam)
            rounds = 1
        else:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
        alpha[idx] = sub
        theta, P, const = _graph_terms(u, w, lam)
        certified = gap <= rel_tol * (_magnitude(theta, P) + abs(const))
    energy = class_energy(alpha, unary, pairwise, lam)
    return CutResult(alpha, energy, float(gap), int(idx.size), rounds, bool(certified))


def _graph_terms(u: np.ndarray, w: np.ndarray, lam: float):
    """theta [n], upper-triangular pairwise capacities P [n, n] (>= 0) and the constant sum min(theta, 0)."""
    P = np.triu(-lam * w, k=1)
    P[P < 0] = 0.0  # -0.0 and roundoff
    theta = u + lam * np.triu(w, k=1).sum(axis=1)
    return theta, P, float(np.minimum(theta, 0.0).sum())


def _magnitude(theta: np.ndarray, P: np.ndarray) -> float:
    return float(np.abs(theta).sum() + P.sum()) + 1e-300


def _sub_energy(a: np.ndarray, u: np.ndarray, w: np.ndarray, lam: float) -> float:
    return class_energy(a, u, w, lam)


# ---- scipy (int32 Dinic) with certified quantisation ------------------------------------------------------------

def quantize_capacities(cap: np.ndarray, n_inner: int, limit: int = INT_LIMIT) -> tuple[np.ndarray, float]:
    """Floors `cap * scale` to int32 with scale = limit / B, B = the largest total in- or out-capacity of a non-terminal
    node (nodes 0..n_inner-1). Raises OverflowError if any checked quantity would not fit."""
    if np.any(cap < 0) or not np.all(np.isfinite(cap)):
        raise ValueError("capacities must be finite and non-negative")
    inner_in = cap[:, :n_inner].sum(axis=0)
    inner_out = cap[:n_inner, :].sum(axis=1)
    bound = float(max(inner_in.max(initial=0.0), inner_out.max(initial=0.0)))
    if bound <= 0:
        return np.zeros(cap.shape, dtype=np.int32), 1.0
    scale = limit / bound
    q = np.floor(cap * scale)
    q64 = q.astype(np.int64)
    check_int32_capacities(q64, n_inner, limit)
    return q64.astype(np.int32), scale


def check_int32_capacities(q: np.ndarray, n_inner: int, limit: int = INT_LIMIT) -> None:
    """Raises OverflowError unless every capacity and every inner node's in/out total is in [0, limit]."""
    q = np.asarray(q, dtype=np.int64)
    if q.min(initial=0) < 0:
        raise OverflowError("negative quantised capacity")
    tot = max(int(q[:, :n_inner].sum(axis=0).max(initial=0)), int(q[:n_inner, :].sum(axis=1).max(initial=0)))
    if tot > limit or int(q.max(initial=0)) > limit:
        raise OverflowError(f"quantised capacities exceed the int32-safe bound {limit} (node total {tot}); "
                            "scipy.sparse.csgraph.maximum_flow would wrap them silently")


def scipy_max_flow_checked(q: np.ndarray, s: int, t: int):
    """`maximum_flow` on an int32 dense capacity matrix, with overflow/consistency checks on the returned flow."""
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import maximum_flow

    q = np.asarray(q)
    if q.dtype != np.int32:
        qq = np.asarray(q, dtype=np.int64)
        if qq.max(initial=0) > np.iinfo(np.int32).max or qq.min(initial=0) < 0:
            raise OverflowError("capacities do not fit int32; scipy would wrap them silently")
        q = qq.astype(np.int32)
    res = maximum_flow(csr_array(q), s, t, method="dinic")
    flow = res.flow.toarray().astype(np.int64)
    value = int(res.flow_value)
    net = flow.sum(axis=1)
    inner = np.ones(q.shape[0], dtype=bool)
    inner[[s, t]] = False
    q64 = q.astype(np.int64)
    if (np.any(flow > q64) or np.any(flow + flow.T != 0) or np.any(net[inner] != 0) or value != int(net[s])
            or value < 0):
        raise OverflowError("scipy maximum_flow returned an inconsistent flow (capacity overflow?)")
    return value, flow


def _reach_to_sink(resid: np.ndarray, t: int) -> np.ndarray:
    """Nodes that can reach t through edges with positive residual capacity (dense frontier search)."""
    pos = resid > 0
    mask = np.zeros(resid.shape[0], dtype=bool)
    mask[t] = True
    frontier = mask.copy()
    while frontier.any():
        nxt = pos[:, frontier].any(axis=1) & ~mask
        mask |= nxt
        frontier = nxt
    return mask


def _cut_scipy(u: np.ndarray, w: np.ndarray, lam: float, rel_tol: float):
    n = u.shape[0]
    theta, P, const = _graph_terms(u, w, lam)
    s, t = n, n + 1
    cap = np.zeros((n + 2, n + 2))
    cap[:n, :n] = P
    cap[s, :n] = np.maximum(-theta, 0.0)
    cap[:n, t] = np.maximum(theta, 0.0)
    tol = rel_tol * (_magnitude(theta, P) + abs(const))
    resid = cap.copy()  # real residual capacities (both directions) of the accumulated flow
    total = 0.0
    best_a, best_e = None, np.inf
    rounds = 0
    cap_limit = np.inf
    for rounds in range(1, MAX_ROUNDS + 1):
        r = np.minimum(resid, cap_limit)
        r[:, s] = 0.0  # edges into s / out of t never carry s-t flow
        r[t, :] = 0.0
        q, scale = quantize_capacities(r, n)
        value, flow = scipy_max_flow_checked(q, s, t)
        total += value / scale
        resid = np.maximum(resid - flow / scale, 0.0)
        a = ~_reach_to_sink(q.astype(np.int64) - flow, t)[:n]
        e = _sub_energy(a, u, w, lam)
        if e < best_e:
            best_a, best_e = a, e
        gap = max(best_e - (total + const), 0.0)
        if gap <= tol:
            break
        cap_limit = gap * (1 + 1e-9) + 1e-300
    return best_a, gap, rounds


# ---- PyMaxflow (Boykov-Kolmogorov, doubles) ----------------------------------------------------------------------

def _cut_pymaxflow(u: np.ndarray, w: np.ndarray, lam: float):
    import maxflow

    n = u.shape[0]
    theta, P, const = _graph_terms(u, w, lam)
    g = maxflow.GraphFloat(n, int(np.count_nonzero(P)))
    nodes = g.add_nodes(n)
    ii, jj = np.nonzero(P)
    if ii.size:
        g.add_edges(nodes[ii], nodes[jj], P[ii, jj], np.zeros(ii.size))
    g.add_grid_tedges(nodes, np.maximum(-theta, 0.0), np.maximum(theta, 0.0))
    flow = g.maxflow()
    a = ~np.asarray(g.get_grid_segments(nodes), dtype=bool)  # source side (free nodes count as source)
    e = _sub_energy(a, u, w, lam)
    return a, max(e - (flow + const), 0.0)


# ---- networkx reference --------------------------------------------------------------------------------------------

def _cut_networkx(u: np.ndarray, w: np.ndarray, lam: float):
    import networkx as nx

    n = u.shape[0]
    theta, P, const = _graph_terms(u, w, lam)
    G = nx.DiGraph()
    G.add_nodes_from(range(n + 2))
    s, t = n, n + 1
    # reversed graph: its minimal source side (from t) is the set of nodes that can reach t in the original
    for i in range(n):
        if theta[i] < 0:
            G.add_edge(i, s, capacity=float(-theta[i]))
        elif theta[i] > 0:
            G.add_edge(t, i, capacity=float(theta[i]))
    ii, jj = np.nonzero(P)
    for i, j in zip(ii.tolist(), jj.tolist()):
        G.add_edge(j, i, capacity=float(P[i, j]))
    value, (reach_t, _rest) = nx.minimum_cut(G, t, s)
    a = np.ones(n, dtype=bool)
    for v in reach_t:
        if v < n:
            a[v] = False
    e = _sub_energy(a, u, w, lam)
    return a, max(e - (value + const), 0.0)
