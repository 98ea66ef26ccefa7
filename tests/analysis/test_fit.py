"""Tests for skd_tf.analysis.fit: the explained fraction and its least-squares ceiling."""
import numpy as np
import pytest

from skd_tf.analysis.fit import explained_fraction, fit_affine, linear_ceiling


def test_explained_fraction_values():
    t = np.array([[3.0, 4.0], [0.0, 2.0]])  # energy 25 + 4 = 29
    assert explained_fraction(t, t) == 1.0
    assert explained_fraction(t, np.zeros_like(t)) == 0.0
    assert explained_fraction(t, t / 2) == pytest.approx(1 - 29 / 4 / 29)
    assert explained_fraction(t, -t) == pytest.approx(-3.0)  # worse than predicting zero


def test_fit_affine_recovers_an_exact_map_and_equals_normal_equations():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    w, b = rng.normal(size=(5, 3)), rng.normal(size=3)
    got_w, got_b = fit_affine(x, x @ w + b)
    np.testing.assert_allclose(got_w, w, atol=1e-10)
    np.testing.assert_allclose(got_b, b, atol=1e-10)
    noisy = x @ w + b + rng.normal(size=(200, 3))
    got_w, got_b = fit_affine(x, noisy)
    design = np.c_[x, np.ones(200)]
    ref = np.linalg.solve(design.T @ design, design.T @ noisy)
    np.testing.assert_allclose(np.r_[got_w, got_b[None]], ref, atol=1e-10)


def test_linear_ceiling_on_held_out_faces():
    # Targets that are a linear map of the inputs plus noise of known energy: the held-out explained fraction is
    # about signal / (signal + noise), and a map fitted on inputs unrelated to the targets explains about nothing.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4000, 8))
    w = rng.normal(size=(8, 4))
    signal = x @ w
    t = signal + rng.normal(size=signal.shape) * np.sqrt(np.mean(signal ** 2))  # equal signal and noise energy
    ceiling = linear_ceiling(x[:2000], t[:2000], x[2000:], t[2000:])
    assert ceiling == pytest.approx(0.5, abs=0.03)
    unrelated = linear_ceiling(rng.normal(size=(2000, 8)), t[:2000], rng.normal(size=(2000, 8)), t[2000:])
    assert abs(unrelated) < 0.02


def test_errors_name_the_input():
    with pytest.raises(ValueError, match="predictions: expected 2 rows"):
        explained_fraction(np.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="all zero"):
        explained_fraction(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="eval_inputs: expected 2 columns"):
        linear_ceiling(np.ones((4, 2)), np.ones((4, 1)), np.ones((4, 3)), np.ones((4, 1)))
    with pytest.raises(ValueError, match="finite"):
        fit_affine(np.array([[np.nan]]), np.ones((1, 1)))
