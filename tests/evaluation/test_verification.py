"""Verification metrics against brute-force definitions, and the reproduction of dlib/lfw_eval.json."""
import itertools
import json

import numpy as np
import pytest

from skd_tf.data.lfw import read_pairs
from skd_tf.evaluation import verification as V


def _brute_auc(s, y):
    pos, neg = s[y], s[~y]
    total = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return total / (pos.size * neg.size)


def _brute_best_threshold(s, y):
    u = np.unique(s)
    cands = (u[:-1] + u[1:]) / 2 if u.size > 1 else u
    best_t, best_acc = None, -1.0
    for t in cands:  # ascending, so strict '>' keeps the lowest on ties
        acc = np.mean((s > t) == y)
        if acc > best_acc:
            best_t, best_acc = t, acc
    return best_t, best_acc


@pytest.fixture
def ties_data():
    rng = np.random.default_rng(0)
    y = rng.random(120) < 0.4
    s = np.round(rng.normal(size=120) + 1.2 * y, 1)  # rounding makes many ties, within and across classes
    return s, y


def test_cosine_scores_normalises_rows():
    a = np.array([[3.0, 4.0], [1.0, 0.0], [2.0, 2.0]])
    b = np.array([[6.0, 8.0], [0.0, 5.0], [-1.0, -1.0]])
    np.testing.assert_allclose(V.cosine_scores(a, b), [1.0, 0.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(V.euclidean_scores(a, b), [-5.0, -np.sqrt(26.0), -np.sqrt(18.0)])
    with pytest.raises(ValueError, match="same shape"):
        V.cosine_scores(a, b[:2])


def test_roc_auc_hand_computed():
    # pos {3, 2}, neg {2, 1}: (3>2)=1, (3>1)=1, (2=2)=0.5, (2>1)=1 -> 3.5 / 4
    assert V.roc_auc([3, 2, 2, 1], [True, True, False, False]) == pytest.approx(0.875)
    assert V.roc_auc([1, 2], [False, True]) == 1.0
    assert V.roc_auc([5, 5, 5], [True, False, True]) == 0.5
    with pytest.raises(ValueError, match="both matched and mismatched"):
        V.roc_auc([1, 2], [True, True])


def test_roc_auc_matches_pairwise_definition(ties_data):
    s, y = ties_data
    assert V.roc_auc(s, y) == pytest.approx(_brute_auc(s, y), abs=1e-12)


def test_roc_curve_points_and_area(ties_data):
    s, y = ties_data
    fpr, tpr, thr = V.roc_curve(s, y)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    for f, t, th in zip(fpr[1:], tpr[1:], thr[1:]):  # each point is the rule 'score >= threshold'
        assert f == pytest.approx(np.mean(s[~y] >= th)) and t == pytest.approx(np.mean(s[y] >= th))
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # trapezoids
    assert area == pytest.approx(V.roc_auc(s, y), abs=1e-12)


def test_best_threshold_matches_brute_force(ties_data):
    s, y = ties_data
    t, acc = V.best_threshold(s, y)
    bt, bacc = _brute_best_threshold(s, y)
    assert t == bt and acc == pytest.approx(bacc)
    # Ties go to the lowest candidate: here thresholds 1.5 and 3.5 (and 2.5) all give 3/4.
    t, acc = V.best_threshold([1, 2, 3, 4], [False, True, False, True])
    assert (t, acc) == (1.5, 0.75)


def test_kfold_accuracy_matches_brute_force(ties_data):
    s, y = ties_data
    folds = np.arange(s.size) % 4
    out = V.kfold_accuracy(s, y, folds)
    per = []
    for k in range(4):
        t, _ = _brute_best_threshold(s[folds != k], y[folds != k])
        assert out["thresholds"][k] == t
        per.append(np.mean((s[folds == k] > t) == y[folds == k]))
    np.testing.assert_allclose(out["per_fold"], per)
    assert out["mean"] == pytest.approx(np.mean(per))
    assert out["std"] == pytest.approx(np.std(per)) and out["std_ddof1"] == pytest.approx(np.std(per, ddof=1))
    with pytest.raises(ValueError, match="at least 2 distinct fold"):
        V.kfold_accuracy(s, y, np.zeros(s.size, int))


def _brute_tar_at_far(s, y, far):
    best = 0.0
    for t in np.r_[-np.inf, np.unique(s)]:  # rule: same iff score > t
        if np.mean(s[~y] > t) <= far:
            best = max(best, np.mean(s[y] > t))
    return best


def test_tar_at_far_matches_brute_force(ties_data):
    s, y = ties_data
    for far in (0.0, 1e-3, 0.01, 0.05, 0.1, 0.3, 1.0):
        assert V.tar_at_far(s, y, far) == pytest.approx(_brute_tar_at_far(s, y, far)), far
    np.testing.assert_allclose(V.tar_at_far(s, y, [0.05, 0.1]), [_brute_tar_at_far(s, y, f) for f in (0.05, 0.1)])
    # Hand case: negatives 0.1..1.0 (10), positives 0.55, 0.95, 2.0. FAR <= 0.1 allows one false accept -> t = 0.9.
    neg = np.linspace(0.1, 1.0, 10)
    s2 = np.r_[neg, 0.55, 0.95, 2.0]
    y2 = np.r_[np.zeros(10, bool), np.ones(3, bool)]
    assert V.tar_at_far(s2, y2, 0.1) == pytest.approx(2 / 3)
    assert V.tar_at_far(s2, y2, 0.0) == pytest.approx(1 / 3)


def test_equal_error_rate():
    # Separable: EER 0.
    assert V.equal_error_rate([0, 1, 2, 3], [False, False, True, True]) == 0.0
    # Reversed: EER 1.
    assert V.equal_error_rate([0, 1], [True, False]) == 1.0
    # pos {4, 2}, neg {3, 1}: ROC (0,0),(0,.5),(.5,.5),(.5,1),(1,1); FPR = FNR = 0.5 at the point (0.5, 0.5).
    assert V.equal_error_rate([4, 3, 2, 1], [True, False, True, False]) == pytest.approx(0.5)
    # Random data: at the EER, interpolated FPR and FNR agree, and it lies between the best discrete point errors.
    rng = np.random.default_rng(3)
    y = rng.random(400) < 0.5
    s = rng.normal(size=400) + 1.5 * y
    eer = V.equal_error_rate(s, y)
    fpr, tpr, _ = V.roc_curve(s, y)
    gap = np.abs(fpr - (1 - tpr))
    i = int(np.argmin(gap))
    assert min(fpr[i], 1 - tpr[i]) - 1e-9 <= eer <= max(fpr[i], 1 - tpr[i]) + 1e-9


def test_verification_report_keys(ties_data):
    s, y = ties_data
    r = V.verification_report(s, y, np.arange(s.size) % 3)
    for key in ("roc_auc", "eer", "tar_at_far_1e-3", "tar_at_far_1e-2", "accuracy_mean", "accuracy_std",
                "accuracy_std_ddof1", "accuracy_per_fold", "fold_thresholds", "n_pairs"):
        assert key in r
    assert "accuracy_mean" not in V.verification_report(s, y)


def test_reproduces_dlib_lfw_eval_json(lfw_root):
    """kfold_accuracy/roc_auc reproduce ../shared/data/lfw/dlib/lfw_eval.json from descriptors.npy."""
    ref = json.loads((lfw_root / "dlib" / "lfw_eval.json").read_text())
    desc = np.load(lfw_root / "dlib" / "descriptors.npy")
    index = (lfw_root / "dlib" / "descriptors_index.txt").read_text().split()
    pairs = read_pairs(lfw_root / "protocol" / "pairs.txt")
    ra, rb = pairs.row_indices(index)
    assert len(pairs) == ref["n_pairs"] and int(pairs.is_same.sum()) == ref["n_matched"]
    for key, scores in (("cosine", V.cosine_scores(desc[ra], desc[rb])),
                        ("euclidean", V.euclidean_scores(desc[ra], desc[rb]))):
        want = ref[key]
        got = V.kfold_accuracy(scores, pairs.is_same, pairs.fold)
        assert got["mean"] == pytest.approx(want["tenfold_accuracy_mean"], abs=1e-12), key
        assert got["std"] == pytest.approx(want["tenfold_accuracy_std_ddof0"], abs=1e-12), key
        assert got["std_ddof1"] == pytest.approx(want["tenfold_accuracy_std_ddof1"], abs=1e-12), key
        folds = want["tenfold_folds"]
        np.testing.assert_allclose(got["thresholds"], [f["threshold"] for f in folds], rtol=0, atol=1e-12)
        np.testing.assert_allclose(got["per_fold"], [f["test_acc"] for f in folds], rtol=0, atol=1e-12)
        np.testing.assert_allclose(got["train_accuracy"], [f["train_acc"] for f in folds], rtol=0, atol=1e-12)
        assert V.roc_auc(scores, pairs.is_same) == pytest.approx(want["roc_auc"], abs=1e-12), key
        fixed = want["fixed_threshold"]
        assert V.accuracy_at_threshold(scores, pairs.is_same, fixed) == pytest.approx(
            want["accuracy_at_fixed_threshold"], abs=1e-12), key
    # The README's rounded table: 98.72 % +- 0.42 (Euclidean), 98.77 % +- 0.52 (cosine), AUC 0.99804 / 0.99806.
    cos = V.verification_report(V.cosine_scores(desc[ra], desc[rb]), pairs.is_same, pairs.fold)
    assert (round(100 * cos["accuracy_mean"], 2), round(100 * cos["accuracy_std"], 2)) == (98.77, 0.52)
    assert round(cos["roc_auc"], 5) == 0.99806


def test_paired_bootstrap_auc_difference():
    from skd_tf.evaluation.verification import paired_bootstrap_auc_difference, roc_auc

    rng = np.random.default_rng(1)
    y = np.r_[np.ones(200, bool), np.zeros(200, bool)]
    good = y + rng.normal(0, 0.5, 400)
    bad = y + rng.normal(0, 2.0, 400)
    r = paired_bootstrap_auc_difference(good, bad, y, num_resamples=300, seed=0)
    assert r["difference"] == roc_auc(good, y) - roc_auc(bad, y)
    assert 0 < r["low"] < r["difference"] < r["high"] and r["p_not_greater"] == 0.0
    same = paired_bootstrap_auc_difference(good, good, y, num_resamples=50)
    assert same["difference"] == same["low"] == same["high"] == 0.0 and same["p_not_greater"] == 1.0
    again = paired_bootstrap_auc_difference(good, bad, y, num_resamples=300, seed=0)
    assert again == r


def test_bootstrap_auc_interval_is_the_percentile_of_the_paired_resamples():
    from skd_tf.evaluation.verification import bootstrap_auc_interval, paired_bootstrap_auc_difference, roc_auc

    rng = np.random.default_rng(3)
    y = np.r_[np.ones(40, bool), np.zeros(60, bool)]
    s = y + rng.normal(0, 0.9, y.size)
    r = bootstrap_auc_interval(s, y, num_resamples=400, seed=2)
    assert r["auc"] == roc_auc(s, y) and r["low"] < r["auc"] < r["high"]
    # By hand: stratified resamples (matched, then mismatched pairs, with replacement) from the same generator.
    gen, pos, neg = np.random.default_rng(2), np.flatnonzero(y), np.flatnonzero(~y)
    aucs = []
    for _ in range(400):
        idx = np.r_[gen.choice(pos, pos.size), gen.choice(neg, neg.size)]
        aucs.append(roc_auc(s[idx], y[idx]))
    assert (r["low"], r["high"]) == (np.percentile(aucs, 2.5), np.percentile(aucs, 97.5))
    # The same resamples as the paired difference: AUC(s) - AUC(constant 0.5 scores) has the same interval.
    flat = paired_bootstrap_auc_difference(s, np.zeros_like(s), y, num_resamples=400, seed=2)
    assert flat["low"] == pytest.approx(r["low"] - 0.5) and flat["high"] == pytest.approx(r["high"] - 0.5)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_auc_interval(s, y, confidence=1.0)
