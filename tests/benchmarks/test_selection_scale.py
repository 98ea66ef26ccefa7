"""benchmarks.selection_scale: the UMDFaces-shaped synthetic generator is deterministic and the paper graph's edge
count is as derived."""
import numpy as np

from benchmarks.selection_scale import class_sizes, generate, paper_graph_edges


def test_synthetic_generator_deterministic(tmp_path):
    sizes = class_sizes(1000, 23, 0.75, np.random.default_rng(0))
    assert sizes.sum() == 1000 and sizes.min() >= 1
    la = generate(tmp_path / "a.npy", 300, 7, 16, seed=3, sigma=0.75, planted=0.05)
    lb = generate(tmp_path / "b.npy", 300, 7, 16, seed=3, sigma=0.75, planted=0.05)
    assert np.array_equal(la, lb) and np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    assert np.load(tmp_path / "a.npy", mmap_mode="r").dtype == np.float32
    assert paper_graph_edges(np.array([3, 2])) == 3 + 1 + 3 * 1 + 2 * 1
