"""skd_tf.serving.parity: cosine and parity figures, and a reference that is not degenerate (so the cosine bounds of
tests/serving/test_tflite.py mean something; the exported fixture: tests/serving/conftest.py)."""
import numpy as np

from skd_tf.serving import KINDS, PARITY_BOUNDS, cosine_rows, parity


def test_embeddings_are_informative(exported):
    """The cosine bounds below mean something only if different faces have clearly different embeddings."""
    emb = exported["ref"]["embedding"]
    cos = emb @ emb.T
    off = cos[~np.eye(len(emb), dtype=bool)]
    assert np.median(off) < 0.9, f"degenerate embeddings: median cosine between different faces {np.median(off):.3f}"


def test_cosine_rows_and_parity():
    a = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    b = np.array([[2.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(cosine_rows(a, b), [1.0, 0.0, 0.0])
    ref = {"embedding": a, "mimic": a}
    res = parity(ref, {"embedding": b, "mimic": a})
    assert res["embedding"] == {"max_abs_diff": 2.0, "min_cosine": 0.0, "mean_cosine": 1 / 3, "n_faces": 3}
    assert res["mimic"]["max_abs_diff"] == 0.0 and res["mimic"]["n_faces"] == 3


def test_every_kind_has_a_bound():
    assert set(PARITY_BOUNDS) == set(KINDS)
