"""Fixtures shared by the selection tests: random lam over the scales the solvers must handle, and the closeness to
the brute-force minimum they are held to."""
import pytest


@pytest.fixture
def random_lam():
    """A function of a numpy Generator drawing lam: 0 with probability 0.08, else -2**u with u ~ U(-8, 13)."""
    def draw(rng):
        if rng.random() < 0.08:
            return 0.0
        return -float(2.0 ** rng.uniform(-8, 13))
    return draw


@pytest.fixture
def close():
    """`close(a, b, rel)`: |a - b| <= rel * (1 + |a| + |b|), a relative test that also holds near zero."""
    def within(a, b, rel=1e-9):
        return abs(a - b) <= rel * (1.0 + abs(a) + abs(b))
    return within
