"""Rank-k / CMC retrieval against hand-computed and brute-force answers (multi-entry gallery, closed set)."""
import numpy as np
import pytest

from skd_tf.evaluation.retrieval import cmc_curve, match_ranks, rank_k_accuracy


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
    for p, lab in zip(pn, p_labels):
        order = np.argsort(-(gn @ p))
        ranks.append(1 + int(np.nonzero(g_labels[order] == lab)[0][0]))
    np.testing.assert_array_equal(match_ranks(probes, p_labels, gallery, g_labels), ranks)
    cmc = cmc_curve(probes, p_labels, gallery, g_labels)
    for k in range(1, 16):
        assert cmc[k - 1] == pytest.approx(np.mean(np.asarray(ranks) <= k))
        assert rank_k_accuracy(probes, p_labels, gallery, g_labels, k) == pytest.approx(cmc[k - 1])
