"""Tests for skd_tf.data.pipeline: join by row id, seeded per-epoch shuffling, resumable epochs."""
import re

import numpy as np
import pytest

from skd_tf.data.pipeline import SourceTable, StudentData, make_dataset
from skd_tf.data.sources import CropArrays


def _ds(images, source_rows, table, *args, **kwargs):
    return make_dataset(StudentData(CropArrays(images, source_rows), table), *args, **kwargs)


def _data(m=23, n=7, d=5, p=16, seed=0):
    rng = np.random.default_rng(seed)
    row_ids = rng.choice(1000, size=n, replace=False).astype(np.int64)
    labels = rng.integers(0, 3, size=n)
    feats = rng.normal(size=(n, d)).astype(np.float32)
    alpha = rng.random(n) > 0.5
    source_rows = rng.choice(row_ids, size=m)
    images = rng.integers(0, 256, size=(m, p, p, 3)).astype(np.uint8)
    # Encode the image index in the first pixel so batches can be traced back.
    images[:, 0, 0, 0] = np.arange(m)
    return images, source_rows, row_ids, labels, feats, alpha


def _collect(ds):
    out = []
    for x, y in ds:
        out.append((x.numpy(), {k: v.numpy() for k, v in y.items()}))
    return out


def test_join_by_row_id_not_position():
    images, source_rows, row_ids, labels, feats, alpha = _data()
    perm = np.random.default_rng(1).permutation(len(row_ids))
    # Features and alpha arrive in another order, keyed by their own row ids.
    table = SourceTable.join(row_ids, labels, feats[perm], row_ids[perm], alpha[perm], row_ids[perm])
    batches = _collect(_ds(images, source_rows, table, batch_size=4, seed=3))
    seen = []
    for x, y in batches:
        for b in range(len(x)):
            m = int(x[b, 0, 0, 0])
            seen.append(m)
            np.testing.assert_array_equal(x[b], images[m])
            r = np.flatnonzero(row_ids == source_rows[m])[0]
            assert y["label"][b] == labels[r]
            np.testing.assert_array_equal(y["feature"][b], feats[r])
            assert y["alpha"][b] == np.float32(alpha[r])
    assert sorted(seen) == list(range(len(images)))  # each face exactly once per epoch


def test_missing_row_ids_are_named():
    images, source_rows, row_ids, labels, feats, alpha = _data()
    with pytest.raises(ValueError, match=str(row_ids[2])):
        SourceTable.join(row_ids, labels, np.delete(feats, 2, 0), np.delete(row_ids, 2))
    table = SourceTable(row_ids[1:], labels[1:], feats[1:], alpha[1:])
    bad = np.concatenate([source_rows, [row_ids[0]]])
    imgs = np.concatenate([images, images[:1]])
    with pytest.raises(ValueError, match=f"no label.*{row_ids[0]}"):
        _ds(imgs, bad, table, batch_size=4)


def test_epochs_are_seeded_distinct_and_resumable():
    images, source_rows, row_ids, labels, feats, alpha = _data(m=40)
    table = SourceTable(row_ids, labels, feats, alpha)
    order = lambda batches: [int(v) for x, _ in batches for v in x[:, 0, 0, 0]]  # noqa: E731
    full = order(_collect(_ds(images, source_rows, table, 8, seed=5, num_epochs=3)))
    again = order(_collect(_ds(images, source_rows, table, 8, seed=5, num_epochs=3)))
    assert full == again
    e0, e1, e2 = full[:40], full[40:80], full[80:]
    assert sorted(e0) == sorted(e1) == sorted(e2) == list(range(40))
    assert e0 != e1 and e1 != e2
    resumed = order(_collect(_ds(images, source_rows, table, 8, seed=5, first_epoch=2, num_epochs=1)))
    assert resumed == e2
    other = order(_collect(_ds(images, source_rows, table, 8, seed=6, num_epochs=1)))
    assert other != e0


def test_small_buffer_is_still_a_permutation_and_batches_do_not_straddle_epochs():
    images, source_rows, row_ids, labels, feats, alpha = _data(m=30)
    table = SourceTable(row_ids, labels, feats, alpha)
    ds = _ds(images, source_rows, table, 8, seed=1, num_epochs=2, shuffle_buffer=7)
    sizes = [len(x) for x, _ in _collect(ds)]
    assert sizes == [8, 8, 8, 6] * 2
    data = StudentData(CropArrays(images, source_rows), table)
    assert data.steps_per_epoch(8) == 4 and data.steps_per_epoch(8, num_replicas=2) == 3
    idx = [int(v) for x, _ in _collect(_ds(images, source_rows, table, 30, seed=1, shuffle_buffer=7))
           for v in x[:, 0, 0, 0]]
    assert sorted(idx) == list(range(30)) and idx != list(range(30))


def test_classification_only_leaves_features_out_and_needs_none():
    images, source_rows, row_ids, labels, _, _ = _data()
    table = SourceTable(row_ids, labels)
    x, y = next(iter(_ds(images, source_rows, table, 5, with_features=False, shuffle=False)))
    assert set(y) == {"label", "row_id"}
    assert x.dtype.name == "uint8" and tuple(x.shape) == (5, 16, 16, 3)
    np.testing.assert_array_equal(x.numpy(), images[:5])
    with pytest.raises(ValueError, match="features"):
        _ds(images, source_rows, table, 5, with_features=True)


def test_table_validation():
    with pytest.raises(ValueError, match="unique"):
        SourceTable(np.array([1, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="labels"):
        SourceTable(np.array([1, 2]), np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="features"):
        SourceTable(np.array([1, 2]), np.array([0, 1]), np.zeros((3, 4)))


@pytest.mark.parametrize("bad", [7.0, np.nan, -1.0, 0.5])
def test_alpha_outside_0_1_is_refused_naming_the_row(bad):
    """alpha_i scales L_reg (Eq. 4): a 7.0 would weigh a face 7x and a NaN poison the loss, so only 0/1 pass."""
    _, _, row_ids, labels, feats, alpha = _data()
    a = alpha.astype(np.float32)
    a[3] = bad
    with pytest.raises(ValueError, match=rf"SourceTable.alpha: expected alpha as booleans or 0/1 .*got {bad!r} at "
                                         rf"row 3 \(row id {row_ids[3]}\)"):
        SourceTable(row_ids, labels, feats, a)
    # Joined from another row order, the row reported is the one of the alpha input, with that input's name.
    perm = np.random.default_rng(2).permutation(len(row_ids))
    k = int(np.flatnonzero(perm == 3)[0])
    with pytest.raises(ValueError, match=rf"sel.npz: expected alpha .*got {bad!r} at row {k} \(row id {row_ids[3]}\)"):
        SourceTable.join(row_ids, labels, feats, row_ids, a[perm], row_ids[perm], sources={"alpha": "sel.npz"})


def test_boolean_and_0_1_alpha_are_accepted():
    _, _, row_ids, labels, feats, alpha = _data()
    for a in (alpha, alpha.astype(np.int64), alpha.astype(np.float64)):
        table = SourceTable(row_ids, labels, feats, a)
        assert table.alpha.dtype == np.float32
        np.testing.assert_array_equal(table.alpha, alpha.astype(np.float32))


@pytest.mark.parametrize("shape", ["1d", "fewer_rows", "more_rows"])
def test_features_of_the_wrong_shape_raise_a_valueerror_with_the_shapes(shape):
    """Not the bare IndexError of indexing [N', D] features with positions of N feature row ids."""
    _, _, row_ids, labels, feats, _ = _data()
    f = {"1d": feats[:, 0], "fewer_rows": feats[:3], "more_rows": np.concatenate([feats, feats])}[shape]
    with pytest.raises(ValueError, match=rf"feats.npz: expected teacher features of shape \[{len(row_ids)}, D\] "
                                         rf".*feature_row_ids has shape \({len(row_ids)},\)\), got shape "
                                         rf"{re.escape(str(f.shape))}"):
        SourceTable.join(row_ids, labels, f, row_ids, sources={"features": "feats.npz"})
    with pytest.raises(ValueError, match="SourceTable.features: expected teacher features of shape"):
        SourceTable.join(row_ids, labels, f, row_ids)


def test_nan_feature_names_the_row_of_the_features_input():
    _, _, row_ids, labels, feats, _ = _data()
    perm = np.random.default_rng(3).permutation(len(row_ids))
    f = feats[perm].copy()
    f[4, 1] = np.nan
    with pytest.raises(ValueError, match=rf"cache_dir: teacher features contain NaN or inf in 1 row\(s\), first at "
                                         rf"row 4 \(row id {row_ids[perm][4]}\)"):
        SourceTable.join(row_ids, labels, f, row_ids[perm], sources={"features": "cache_dir", "labels": "train.npz"})
    with pytest.raises(ValueError, match=r"SourceTable.features: teacher features contain NaN or inf .* row 2"):
        f2 = feats.copy()
        f2[2, 0] = np.inf
        SourceTable(row_ids, labels, f2)


def test_missing_features_name_the_features_input_and_the_table():
    _, _, row_ids, labels, feats, _ = _data()
    with pytest.raises(ValueError, match=rf"f.npz: no feature for 1 row id\(s\) of train.npz: {row_ids[2]}$"):
        SourceTable.join(row_ids, labels, np.delete(feats, 2, 0), np.delete(row_ids, 2),
                         sources={"features": "f.npz", "labels": "train.npz"})


def test_flip_mirrors_half_of_the_faces_per_epoch_as_a_function_of_row_and_epoch():
    rng = np.random.default_rng(0)
    n = 200
    images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    rows = np.arange(1000, 1000 + n)
    data = StudentData.build(images, rows, rows, np.zeros(n, np.int64))
    by_row = {int(r): im for r, im in zip(rows, images)}

    def flipped_rows(epoch, batch_size):
        out = {}
        ds = make_dataset(data, batch_size, with_features=False, seed=3, first_epoch=epoch, flip=True)
        for x, y in ds.as_numpy_iterator():
            for im, r in zip(x, y["row_id"]):
                original = by_row[int(r)]
                assert np.array_equal(im, original) or np.array_equal(im, original[:, ::-1])
                out[int(r)] = not np.array_equal(im, original)
        return out

    e0 = flipped_rows(0, 32)
    assert 0.35 < np.mean(list(e0.values())) < 0.65  # about half of the faces
    other_batching = flipped_rows(0, 50)
    assert other_batching == {r: e0[r] for r in other_batching}  # the same choice under another batch size
    e1 = flipped_rows(1, 32)
    assert any(e0[r] != e1[r] for r in e0 if r in e1)  # another epoch, other faces
    # The documented hash: bit 16 of (row * 2654435761 + epoch * 40503 + seed * 9973) mod 2^31.
    assert all(v == bool((((r * 2654435761 + 0 * 40503 + 3 * 9973) % 2 ** 31) >> 16) & 1) for r, v in e0.items())
    plain = make_dataset(data, 32, with_features=False, seed=3)
    for x, y in plain.as_numpy_iterator():
        assert all(np.array_equal(im, by_row[int(r)]) for im, r in zip(x, y["row_id"]))
