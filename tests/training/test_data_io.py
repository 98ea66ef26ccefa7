"""skd_tf.training.data_io: bad input files are refused before any training, each error naming the file it comes
from (the features file for feature problems, the selection file for alpha problems, the training set for its own
arrays) and what was expected; loading writes nothing."""
import re

import numpy as np
import pytest

from skd_tf.training.data_io import load_selection, load_student_data, load_teacher_features, save_student_arrays

ROWS = np.arange(10, 30, dtype=np.int64)  # row ids 10..29, so a row's position and its id differ


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    save_student_arrays(tmp_path / "train.npz", rng.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8), ROWS, ROWS,
                        np.arange(20) % 4)
    np.savez(tmp_path / "feats.npz", features=rng.normal(size=(20, 8)).astype(np.float32), row_ids=ROWS)
    np.save(tmp_path / "alpha.npy", np.ones(20, bool))
    return tmp_path


def _listing(folder):
    return sorted((p.name, p.stat().st_size) for p in folder.iterdir())


def _refused(folder, exc, pattern, *args):
    """Asserts `load_student_data(*args)` raises `exc` matching `pattern` and leaves the folder as it was."""
    before = _listing(folder)
    with pytest.raises(exc, match=pattern) as err:
        load_student_data(*args)
    assert _listing(folder) == before
    return str(err.value)


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_good_files_load(files):
    data = load_student_data(files / "train.npz", files / "feats.npz", files / "alpha.npy")
    assert len(data) == 20 and data.table.alpha.dtype == np.float32 and data.table.alpha.sum() == 20


@pytest.mark.parametrize("bad", [7.0, np.nan])
def test_alpha_not_boolean_names_the_selection_file_and_row(files, bad):
    alpha = np.ones(20, np.float32)
    alpha[3] = bad
    np.save(files / "bad_alpha.npy", alpha)
    msg = _refused(files, ValueError, rf"^{re.escape(str(files / 'bad_alpha.npy'))}: expected alpha as booleans or "
                                      rf"0/1 .*got {bad!r} at row 3 \(row id 13\)",
                   files / "train.npz", files / "feats.npz", files / "bad_alpha.npy")
    assert "train.npz" not in msg and "feats.npz" not in msg
    # the same through load_selection, and an .npz selection with its own row ids
    with pytest.raises(ValueError, match=r"bad_alpha.npy: .* at row 3 \(row id 13\)"):
        load_selection(files / "bad_alpha.npy", ROWS)
    np.savez(files / "sel.npz", alpha=alpha[::-1], row_ids=ROWS[::-1])
    with pytest.raises(ValueError, match=rf"sel.npz: expected alpha .*got {bad!r} at row 16 \(row id 13\)"):
        load_selection(files / "sel.npz", None)


def test_nan_features_are_reported_against_the_features_file(files):
    with np.load(files / "feats.npz") as z:
        f, r = z["features"].copy(), z["row_ids"]
    f[5, 2] = np.nan
    np.savez(files / "nan_feats.npz", features=f, row_ids=r)
    msg = _refused(files, ValueError, rf"^{re.escape(str(files / 'nan_feats.npz'))}: teacher features contain NaN or "
                                      rf"inf in 1 row\(s\), first at row 5 \(row id 15\)",
                   files / "train.npz", files / "nan_feats.npz")
    assert "train.npz" not in msg


@pytest.mark.parametrize("shape", [(20,), (5, 8), (20, 8, 1)])
def test_features_of_the_wrong_shape_name_the_file_and_the_shapes(files, shape):
    np.savez(files / "bad_feats.npz", features=np.zeros(shape, np.float32), row_ids=ROWS)
    with pytest.raises(ValueError, match=rf"^{re.escape(str(files / 'bad_feats.npz'))}: expected teacher features "
                                         rf"of shape \[20, D\] .*row_ids has shape \(20,\)\), got shape "
                                         rf"{re.escape(str(shape))}"):
        load_teacher_features(files / "bad_feats.npz")
    _refused(files, ValueError, "bad_feats.npz: expected teacher features", files / "train.npz",
             files / "bad_feats.npz")


def test_missing_feature_rows_name_the_features_file_and_the_training_set(files):
    with np.load(files / "feats.npz") as z:
        np.savez(files / "short.npz", features=z["features"][:5], row_ids=z["row_ids"][:5])
    _refused(files, ValueError, rf"^{re.escape(str(files / 'short.npz'))}: no feature for 15 row id\(s\) of "
                                rf"{re.escape(str(files / 'train.npz'))}: 15, 16",
             files / "train.npz", files / "short.npz")


def test_bad_training_set_arrays_name_the_training_set(files):
    save_student_arrays(files / "bad_labels.npz", np.zeros((20, 16, 16, 3), np.uint8), ROWS, ROWS,
                        -np.ones(20, np.int64))
    _refused(files, ValueError, rf"^{re.escape(str(files / 'bad_labels.npz'))}: SourceTable.labels: expected "
                                r"contiguous class ids >= 0", files / "bad_labels.npz", files / "feats.npz")
    np.savez(files / "no_images.npz", source_rows=ROWS, row_ids=ROWS, labels=np.zeros(20, np.int64))
    _refused(files, ValueError, r"no_images.npz: expected student training set with arrays .*missing \['images'\]",
             files / "no_images.npz")


@pytest.mark.parametrize("name,what,args", [
    ("train.npz", "student training set", lambda d: (d / "train.npz", d / "feats.npz", d / "alpha.npy")),
    ("feats.npz", "teacher features", lambda d: (d / "train.npz", d / "feats.npz", d / "alpha.npy")),
    ("alpha.npy", "selection alpha", lambda d: (d / "train.npz", d / "feats.npz", d / "alpha.npy")),
])
def test_truncated_files_are_named(files, name, what, args):
    _truncate(files / name, 0.9)
    _refused(files, ValueError, rf"^{re.escape(str(files / name))}: unreadable {what} \(truncated or corrupt "
                                rf"\.{name.split('.')[-1]} file", *args(files))


def test_a_selection_folder_is_reported_as_its_alpha_file(files):
    (files / "sel").mkdir()
    np.save(files / "sel" / "alpha.npy", np.ones(19, bool))
    with pytest.raises(ValueError, match=r"sel/alpha.npy: expected 20 alpha values"):
        load_student_data(files / "train.npz", files / "feats.npz", files / "sel")
