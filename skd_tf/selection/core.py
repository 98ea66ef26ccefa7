"""Selection stage of Sec. III-C: choose the informative faces by minimising Eq. (3) exactly, per class, in parallel.

Where lam's scale sits. Keeping face i changes the energy by U_i + lam * sum_{j kept, same class} W_ij. With the
similarity reading U_i is a sum over the C - 1 other centroids (order (C - 1) * mean inter-class similarity) while the
attraction is a sum over at most K_c - 1 classmates (order (K_c - 1) * mean intra-class similarity); a class is kept
roughly once -lam exceeds (C - 1) s_inter / ((K_c - 1) s_intra). Kept counts therefore fall as lam rises towards 0:
big, tight classes survive longest, small or scattered ones go first, and faces far from their own class or close to
other classes (the outliers of Fig. 6) go before their classmates. At lam = 0 only faces with U_i = 0 stay (none,
usually). The usable range grows with C and shrinks with class size, so pick lam by a stated rule, e.g.
`lambda_for_keep_fraction(sweep_lambda(...), 0.8)`.

Defined results. A one-face class has no pairwise term: its face is kept iff U_i = 0. With a single class U = 0 for
every face, so every face is kept for all lam <= 0 (ties keep; see `cut.py`). Ties in general keep the face (the
largest minimiser is returned).
"""
from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
import os
import sys
import time
from typing import Sequence

import numpy as np

from skd_tf.selection import cut as _cut
from skd_tf.selection.terms import SelectionTerms, check_labels, check_measure, compute_terms

DEFAULT_LAMS = tuple([-(2.0 ** k) for k in range(13, -1, -1)] + [0.0])  # -8192, ..., -2, -1, 0


@dataclasses.dataclass
class SelectionResult:
    alpha: np.ndarray  # bool [N], input order
    energy: float
    kept_per_class: np.ndarray  # int [C], contiguous class ids (see `classes`)
    lam: float
    measure: str
    backend: str
    classes: np.ndarray = None  # original label value of each contiguous class id
    class_sizes: np.ndarray = None
    max_certified_gap: float = 0.0
    seconds: float = 0.0
    stats: dict = dataclasses.field(default_factory=dict)

    @property
    def kept(self) -> int:
        return int(self.alpha.sum())

    def summary(self) -> dict:
        sizes = self.class_sizes
        return {
            "lam": self.lam, "measure": self.measure, "backend": self.backend,
            "num_faces": int(self.alpha.size), "num_kept": self.kept,
            "kept_fraction": float(self.alpha.mean()) if self.alpha.size else 0.0,
            "num_classes": int(len(self.kept_per_class)),
            "classes_with_no_face_kept": int(np.sum(self.kept_per_class == 0)),
            "classes_fully_kept": int(np.sum(self.kept_per_class == sizes)) if sizes is not None else None,
            "energy": self.energy, "max_certified_gap": self.max_certified_gap, "seconds": self.seconds,
            "kept_per_class": {str(c): int(k) for c, k in zip(self.classes.tolist(), self.kept_per_class.tolist())}
            if self.classes is not None else self.kept_per_class.tolist(),
            "stats": self.stats,
        }


@dataclasses.dataclass
class LambdaSweep:
    lams: np.ndarray  # ascending (most negative first)
    kept_counts: np.ndarray  # int [L]
    alphas: np.ndarray  # bool [L, N], input order
    energies: np.ndarray  # float [L]
    kept_per_class: np.ndarray  # int [L, C]
    measure: str
    backend: str
    classes: np.ndarray
    seconds: np.ndarray  # solve seconds per lam (terms excluded)
    terms_seconds: float = 0.0

    @property
    def n(self) -> int:
        return self.alphas.shape[1]

    def to_json(self) -> dict:
        return {"measure": self.measure, "backend": self.backend, "num_faces": self.n,
                "lams": self.lams.tolist(), "kept_counts": self.kept_counts.tolist(),
                "kept_fraction": (self.kept_counts / max(self.n, 1)).tolist(), "energies": self.energies.tolist(),
                "solve_seconds": self.seconds.tolist(), "terms_seconds": self.terms_seconds}


def check_lam(lam) -> float:
    try:
        lam = float(lam)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"lam: expected a number <= 0, got {lam!r}") from exc
    if math.isnan(lam) or lam > 0 or math.isinf(lam):
        raise ValueError(f"lam: expected a finite number <= 0 (Eq. 3 needs lam <= 0 to be submodular), got {lam}")
    return lam


# ---- parallel solve over classes ---------------------------------------------------------------------------------

_WORK: dict = {}


def _solve_range(args):
    cls_ids, lam, backend, cand = args
    terms: SelectionTerms = _WORK["terms"]
    out = []
    for k, c in enumerate(cls_ids):
        r = _cut.solve_class(terms.unary[c], terms.pairwise[c], lam, backend,
                             candidates=None if cand is None else cand[k])
        out.append((c, r.alpha, r.energy, r.gap, r.cut_nodes, r.rounds, r.certified))
    return out


def _fork_is_safe() -> bool:
    """Whether this process may fork its worker processes: not once TensorFlow is loaded. Forking a process whose
    runtime threads (TensorFlow's thread pools, in a pipeline that selects after extracting features) hold locks at
    that instant copies those locks held, and the children can wait on them forever (seen in the noise study: the
    two workers of one lambda idle on a futex for 10 minutes). There the classes are solved in this process."""
    return "tensorflow" not in sys.modules


def _default_workers(workers):
    if workers is None:
        return max(1, min(os.cpu_count() or 1, 8))
    if int(workers) < 1:
        raise ValueError(f"workers: expected >= 1 or None, got {workers}")
    return int(workers)


def _solve_all(terms: SelectionTerms, lam: float, backend: str, workers: int,
               candidates: list[np.ndarray] | None = None):
    C = terms.num_classes
    cost = np.array([len(m) ** 2 + 50 for m in terms.members], dtype=np.float64)
    if candidates is not None:
        cost = np.array([int(c.sum()) ** 2 + 50 for c in candidates], dtype=np.float64)
    n_tasks = 1 if workers == 1 or cost.sum() < 2e5 else workers * 8
    # balanced contiguous split by cost
    bounds = np.searchsorted(np.cumsum(cost), np.linspace(0, cost.sum(), n_tasks + 1)[1:-1])
    splits = np.split(np.arange(C), bounds)
    tasks = [(s.tolist(), lam, backend, None if candidates is None else [candidates[c] for c in s])
             for s in splits if s.size]
    _WORK["terms"] = terms
    try:
        if len(tasks) == 1 or workers == 1 or not _fork_is_safe():
            results = [_solve_range(t) for t in tasks]
        else:
            ctx = mp.get_context("fork")
            with ctx.Pool(processes=workers) as pool:
                results = pool.map(_solve_range, tasks, chunksize=1)
    finally:
        _WORK.clear()
    alpha = np.zeros(terms.n, dtype=bool)
    kept = np.zeros(C, dtype=np.int64)
    energy = 0.0
    gap = 0.0
    cut_nodes = 0
    rounds = 0
    uncertified = 0
    for chunk in results:
        for c, a, e, g, cn, rd, ok in chunk:
            uncertified += not ok
            alpha[terms.members[c]] = a
            kept[c] = int(a.sum())
            energy += e
            gap = max(gap, g)
            cut_nodes += cn
            rounds += rd
    return alpha, kept, energy, gap, {"faces_left_for_cuts": cut_nodes, "max_flow_calls": rounds,
                                         "classes_not_certified_to_rel_tol": uncertified}


def select_informative(features, labels, lam: float, measure: str = "similarity", backend: str = "scipy",
                       workers: int | None = None, terms: SelectionTerms | None = None) -> SelectionResult:
    """Minimises Eq. (3) exactly and returns the informative faces.

    features: [N, D] array of any real dtype, a `.npy` path (read block by block through a memory map) or a
      feature-cache directory (`skd_tf.features.cache`, rows in row-id order); labels: N integers, any values (mapped
      to contiguous ids in sorted order, `result.classes`). lam <= 0. measure: "similarity" (s = max(0, cos), default)
      or "distance" (s = 1 - cos, the paper's literal wording; see WORKSPACE.md). backend: "scipy", "networkx" or
      "pymaxflow". workers: processes for the per-class cuts (None: all CPUs). `terms` lets callers reuse
      `compute_terms(features, labels, measure)` across several lam.
    Raises ValueError for NaN/inf or all-zero rows, length mismatch, lam > 0, empty input, unknown options.
    """
    lam = check_lam(lam)
    check_measure(measure)
    _cut.check_backend(backend)
    workers = _default_workers(workers)
    if terms is None:
        terms = compute_terms(features, labels, measure)
    elif terms.measure != measure:
        raise ValueError(f"terms: computed for measure {terms.measure!r}, asked for {measure!r}")
    t0 = time.perf_counter()
    alpha, kept, energy, gap, st = _solve_all(terms, lam, backend, workers)
    return SelectionResult(alpha=alpha, energy=energy, kept_per_class=kept, lam=lam, measure=measure, backend=backend,
                           classes=terms.classes, class_sizes=terms.sizes, max_certified_gap=gap,
                           seconds=time.perf_counter() - t0, stats={**terms.stats, **st})


def sweep_lambda(features, labels, lams: Sequence[float] | None = None, measure: str = "similarity",
                 backend: str = "scipy", workers: int | None = None, nested: bool = True,
                 terms: SelectionTerms | None = None) -> LambdaSweep:
    """Fig. 5: kept counts over lam. Default lams: -8192, -4096, ..., -2, -1 (powers of two, 14 values) and then 0
    as the end point (15 in all); fractional values such as -0.5 are not included (pass `lams` to add them). lams are
    solved in ascending order and returned ascending; the per-class terms (unary vectors and similarity matrices) are
    computed once and reused. With `nested=True` the faces dropped at one lam stay fixed at 0 for the larger ones:
    exact, because largest minimisers shrink monotonically as lam rises (see `cut.py`), and it makes later cuts
    smaller. `nested=False` solves each lam from scratch."""
    lams = DEFAULT_LAMS if lams is None else lams
    lams = np.array(sorted(check_lam(x) for x in lams), dtype=np.float64)
    if lams.size == 0:
        raise ValueError("lams: expected at least one value")
    check_measure(measure)
    _cut.check_backend(backend)
    workers = _default_workers(workers)
    t0 = time.perf_counter()
    if terms is None:
        terms = compute_terms(features, labels, measure)
    t_terms = time.perf_counter() - t0
    L, N, C = lams.size, terms.n, terms.num_classes
    alphas = np.zeros((L, N), dtype=bool)
    kept = np.zeros((L, C), dtype=np.int64)
    energies = np.zeros(L)
    secs = np.zeros(L)
    cand = None
    for k, lam in enumerate(lams):
        t1 = time.perf_counter()
        a, kp, e, _gap, _st = _solve_all(terms, float(lam), backend, workers, candidates=cand)
        alphas[k], kept[k], energies[k] = a, kp, e
        secs[k] = time.perf_counter() - t1
        if nested:
            cand = [a[m] for m in terms.members]
    return LambdaSweep(lams=lams, kept_counts=alphas.sum(axis=1), alphas=alphas, energies=energies,
                       kept_per_class=kept, measure=measure, backend=backend, classes=terms.classes, seconds=secs,
                       terms_seconds=t_terms)


def lambda_for_keep_fraction(sweep: LambdaSweep, fraction: float) -> float:
    """The swept lam whose kept fraction is closest to `fraction` (0..1); ties go to the larger lam (fewer kept)."""
    if not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"fraction: expected a value in [0, 1], got {fraction}")
    frac = sweep.kept_counts / max(sweep.n, 1)
    diff = np.abs(frac - float(fraction))
    best = np.flatnonzero(diff <= diff.min() + 1e-12)
    return float(sweep.lams[best].max())


# ---- references ----------------------------------------------------------------------------------------------------

def selection_energy(alpha, features, labels, lam: float, measure: str = "similarity") -> float:
    """Eq. (3) evaluated directly from the definition (float64, O(N*C + sum K_c^2) dot products): a reference for
    small inputs and for tests, independent of `compute_terms`."""
    check_measure(measure)
    lam = check_lam(lam)
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] == 0:
        raise ValueError(f"features: expected a non-empty [N, D] array, got shape {f.shape}")
    labels = check_labels(labels, f.shape[0])
    alpha = np.asarray(alpha, dtype=bool)
    if alpha.shape != (f.shape[0],):
        raise ValueError(f"alpha: expected shape ({f.shape[0]},), got {alpha.shape}")
    classes, ids = np.unique(labels, return_inverse=True)
    cents = np.stack([f[ids == c].mean(axis=0) for c in range(len(classes))])

    def s(a, b):
        cos = (a @ b.T) / (np.linalg.norm(a, axis=1)[:, None] * np.linalg.norm(b, axis=1)[None, :])
        return np.maximum(cos, 0.0) if measure == "similarity" else 1.0 - cos

    sc = s(f, cents)
    other = np.ones_like(sc, dtype=bool)
    other[np.arange(f.shape[0]), ids] = False
    e = float(np.sum(alpha * np.where(other, sc, 0.0).sum(axis=1)))
    for c in range(len(classes)):
        m = np.flatnonzero((ids == c) & alpha)
        if m.size > 1:
            w = s(f[m], f[m])
            e += lam * float(np.triu(w, k=1).sum())
    return e


def exhaustive_minimum(unary: np.ndarray, pairwise: np.ndarray, lam: float) -> tuple[float, np.ndarray]:
    """Brute-force minimum of one class's energy over all 2^K labellings (K <= 20); returns (energy, alpha)."""
    K = unary.shape[0]
    if K > 20:
        raise ValueError(f"exhaustive_minimum: K = {K} is too large for brute force (<= 20)")
    codes = np.arange(2 ** K, dtype=np.int64)
    A = ((codes[:, None] >> np.arange(K)) & 1).astype(np.float64)
    E = A @ unary + 0.5 * lam * np.einsum("ij,ij->i", A @ pairwise, A)
    k = int(np.argmin(E))
    return float(E[k]), A[k].astype(bool)
