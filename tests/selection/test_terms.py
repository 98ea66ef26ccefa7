"""skd_tf.selection.terms: the clipped unary term is exact for signed features."""
import numpy as np

from skd_tf.selection import compute_terms


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
