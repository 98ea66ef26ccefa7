"""skd_tf.data.calibration: calibration faces from chips, synthetic faces, LFW and the `representative_faces` specs."""
import numpy as np
import pytest

from skd_tf.data.calibration import lfw_faces, lowres_from_chips, representative_faces, synthetic_faces


def test_truncated_representative_npz_is_named(tmp_path):
    np.savez(tmp_path / "rep.npz", images=np.zeros((4, 16, 16, 3), np.uint8))
    data = (tmp_path / "rep.npz").read_bytes()
    bad = tmp_path / "cut.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"^{bad}: unreadable representative faces \(truncated or corrupt \.npz"):
        representative_faces(f"npz:{bad}", 16, 4, seed=0)


def test_representative_faces_from_arrays_draws_up_to_n(tmp_path):
    images = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 8, 8, 3), np.uint8)
    np.savez(tmp_path / "train.npz", images=images, labels=np.zeros(10, np.int64))
    np.save(tmp_path / "faces.npy", images.astype(np.float32))
    got, described = representative_faces(f"npz:{tmp_path / 'train.npz'}", 8, 4, seed=0)
    assert got.shape == (4, 8, 8, 3) and got.dtype == np.uint8 and described == f"4 faces from {tmp_path / 'train.npz'}"
    assert np.all(np.diff(got[:, 0, 0, 0].astype(int)) > 0)  # drawn without replacement, in file order
    again, _ = representative_faces(f"npz:{tmp_path / 'train.npz'}", 8, 4, seed=0)
    np.testing.assert_array_equal(got, again)
    all_of_them, _ = representative_faces(f"npy:{tmp_path / 'faces.npy'}", 8, 20, seed=0)
    np.testing.assert_array_equal(all_of_them, images)
    with pytest.raises(ValueError, match=r"expected a non-empty RGB array \[N, 16, 16, 3\]"):
        representative_faces(f"npz:{tmp_path / 'train.npz'}", 16, 4, seed=0)
    with pytest.raises(FileNotFoundError, match=r"^representative: .*missing.npz does not exist"):
        representative_faces(f"npz:{tmp_path / 'missing.npz'}", 8, 4, seed=0)
    with pytest.raises(ValueError, match=r"^representative: expected npz:PATH, npy:PATH, lfw or synthetic"):
        representative_faces("imagenet", 8, 4, seed=0)


def test_synthetic_faces_and_lowres_from_chips():
    faces, labels = synthetic_faces(16, 3, 2, seed=0)
    assert faces.shape == (6, 16, 16, 3) and faces.dtype == np.uint8
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2, 2])
    reps, described = representative_faces("synthetic", 16, 5, seed=0)
    assert reps.shape == (5, 16, 16, 3) and described == "5 synthetic faces (seed 0)"
    chips = np.full((2, 32, 32, 3), 200, np.uint8)
    assert lowres_from_chips(chips, 8).shape == (2, 8, 8, 3) and np.all(lowres_from_chips(chips, 8) == 200)
    assert lowres_from_chips(chips, 32).dtype == np.uint8


def test_lfw_faces_are_disjoint_by_offset(lfw_root):
    a, la = lfw_faces(16, 6, seed=1, root=lfw_root)
    b, _ = lfw_faces(16, 6, seed=1, offset=6, root=lfw_root)
    assert a.shape == (6, 16, 16, 3) and la.dtype == np.int64 and la.min() == 0
    assert not any(np.array_equal(x, y) for x in a for y in b)


def test_lfw_faces_absent_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^LFW not found: expected"):
        lfw_faces(16, 2, root=tmp_path)
