"""Top-k identification and rank-k / CMC retrieval against hand-computed and brute-force answers."""
import numpy as np
import pytest

from skd_tf.evaluation.identification import topk_accuracies, topk_accuracy, topk_error, true_class_ranks
from skd_tf.evaluation.retrieval import cmc_curve, match_ranks, rank_k_accuracy


def test_topk_hand_computed():
    logits = np.array([[0.1, 0.7, 0.2],   # true 1 -> rank 1
                       [0.5, 0.3, 0.2],   # true 2 -> rank 3
                       [0.2, 0.5, 0.3]])  # true 2 -> rank 2
    labels = np.array([1, 2, 2])
    np.testing.assert_array_equal(true_class_ranks(logits, labels), [1, 3, 2])
    assert topk_accuracy(logits, labels, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(logits, labels, 2) == pytest.approx(2 / 3)
    assert topk_accuracy(logits, labels, 3) == 1.0
    assert topk_error(logits, labels, 1) == pytest.approx(2 / 3)
    assert topk_accuracies(logits, labels, (1, 2)) == pytest.approx({1: 1 / 3, 2: 2 / 3})


def test_topk_ties_and_errors():
    const = np.zeros((4, 5))
    labels = np.array([0, 1, 2, 3])
    assert topk_accuracy(const, labels, 1) == 0.0  # pessimistic: no credit for constant outputs
    assert topk_accuracy(const, labels, 5) == 1.0
    assert topk_accuracy(const, labels, 1, ties="optimistic") == 1.0
    with pytest.raises(ValueError, match="class ids in"):
        topk_accuracy(const, np.array([0, 1, 2, 9]), 1)
    with pytest.raises(ValueError, match="one per row"):
        topk_accuracy(const, labels[:3], 1)


def test_topk_matches_argsort_without_ties():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, 12))
    labels = rng.integers(0, 12, size=50)
    for k in (1, 3, 5):
        top = np.argsort(-logits, axis=1)[:, :k]
        assert topk_accuracy(logits, labels, k) == pytest.approx(np.mean([l in t for l, t in zip(labels, top)]))


def test_retrieval_hand_computed():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    g_labels = np.array([10, 20, 30])
    probes = np.array([[0.9, 0.1],    # nearest 10 (own) -> rank 1
                       [0.8, 0.6],    # own 20: cos 0.6 < cos to 10 (0.8) -> rank 2
                       [0.6, -0.8]])  # own 30: cos -0.6; 10 scores 0.6, 20 scores -0.8 -> rank 2
    p_labels = np.array([10, 20, 30])
    np.testing.assert_array_equal(match_ranks(probes, p_labels, gallery, g_labels), [1, 2, 2])
    assert rank_k_accuracy(probes, p_labels, gallery, g_labels, 1) == pytest.approx(1 / 3)
    np.testing.assert_allclose(cmc_curve(probes, p_labels, gallery, g_labels), [1 / 3, 1.0, 1.0])
    np.testing.assert_allclose(cmc_curve(probes, p_labels, gallery, g_labels, max_rank=1), [1 / 3])
    with pytest.raises(ValueError, match="closed set"):
        rank_k_accuracy(probes, np.array([10, 20, 99]), gallery, g_labels, 1)


def test_retrieval_matches_brute_force_with_multi_entry_gallery():
    rng = np.random.default_rng(2)
    gallery = rng.normal(size=(15, 8))
    g_labels = np.repeat(np.arange(5), 3)
    probes = rng.normal(size=(40, 8))
    p_labels = rng.integers(0, 5, size=40)
    gn = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    pn = probes / np.linalg.norm(probes, axis=1, keepdims=True)
    ranks = []
    for p, l in zip(pn, p_labels):
        order = np.argsort(-(gn @ p))
        ranks.append(1 + int(np.nonzero(g_labels[order] == l)[0][0]))
    np.testing.assert_array_equal(match_ranks(probes, p_labels, gallery, g_labels), ranks)
    cmc = cmc_curve(probes, p_labels, gallery, g_labels)
    for k in range(1, 16):
        assert cmc[k - 1] == pytest.approx(np.mean(np.asarray(ranks) <= k))
        assert rank_k_accuracy(probes, p_labels, gallery, g_labels, k) == pytest.approx(cmc[k - 1])
