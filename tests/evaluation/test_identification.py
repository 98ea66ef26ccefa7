"""Top-k identification against hand-computed and argsort answers, ties and bad labels."""
import numpy as np
import pytest

from skd_tf.evaluation.identification import topk_accuracies, topk_accuracy, topk_error, true_class_ranks


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
        assert topk_accuracy(logits, labels, k) == pytest.approx(np.mean([lab in t for lab, t in zip(labels, top)]))
