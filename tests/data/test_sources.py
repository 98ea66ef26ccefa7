"""Tests for skd_tf.data.sources: streamed TFDS faces degraded on the fly equal the offline crops, seeded epochs,
table filtering, and the worker-count invariance of global batches."""
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from skd_tf.data.degrade import degrade_face, degrade_faces
from skd_tf.data.pipeline import SourceTable, StudentData, make_dataset
from skd_tf.data.sources import Degradation, TfdsFaces


@pytest.fixture(scope="module")
def built(umdfaces_dummy_dir):
    """The prepared UMDFaces dummy (12 faces at 64-px chips) and its decoded examples in stored order."""
    builder = tfds.builder_from_directory(umdfaces_dummy_dir)
    return builder, list(tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False)))


def _faces(built, **kwargs):
    builder, _ = built
    return TfdsFaces(builder.data_dir, id_key=None, **{"face_buffer": 4, **kwargs})


def _epoch_crops(data, batch, epoch, **kwargs):
    ds = make_dataset(data, batch, with_features=False, first_epoch=epoch, num_epochs=1, **kwargs)
    xs, rows = zip(*[(x.numpy(), y["row_id"].numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(rows)


def _reference(examples, rows, p, k, seed):
    images = np.stack([examples[r]["image"] for r in rows])
    landmarks = np.stack([examples[r]["landmarks"] for r in rows])
    return degrade_faces(images, landmarks, rows, p, num_perturbations=k, seed=seed)[0].reshape(len(rows), k, p, p, 3)


def test_streamed_crops_equal_degrade_faces_pixel_for_pixel(built):
    _, examples = built
    faces = _faces(built)
    assert len(faces) == 12 and faces.row_ids.tolist() == list(range(12))
    np.testing.assert_array_equal(faces.labels, [e["label"] for e in examples])
    deg = Degradation(16, num_perturbations=3, seed=9)
    data = StudentData.stream(faces, deg)
    assert len(data) == 36 and data.resolution == 16
    x, rows = _epoch_crops(data, 12, epoch=0, seed=4)
    assert x.shape == (36, 16, 16, 3) and sorted(rows.tolist()) == sorted(list(range(12)) * 3)
    assert rows[:12].tolist() != sorted(rows[:12].tolist())  # shuffled
    ref = _reference(examples, np.arange(12), 16, 3, seed=9)
    for r in range(12):  # each face's three crops are exactly its perturbations 0, 1, 2 (in some order)
        got = sorted(c.tobytes() for c in x[rows == r])
        assert got == sorted(c.tobytes() for c in ref[r])


def test_fixed_sampling_streams_one_crop_of_every_face_per_round(built):
    """A face's K crops are spread over the epoch (K rounds, round j = crop j of every face), not emitted together:
    with a one-crop shuffle buffer each block of 12 crops holds every face once, with its j-th perturbation."""
    _, examples = built
    data = StudentData.stream(_faces(built), Degradation(16, num_perturbations=3, seed=9))
    ref = _reference(examples, np.arange(12), 16, 3, seed=9)
    x, rows = _epoch_crops(data, 12, epoch=0, seed=4, shuffle_buffer=1)
    for j in range(3):
        block = slice(12 * j, 12 * (j + 1))
        assert sorted(rows[block].tolist()) == list(range(12))
        for crop, r in zip(x[block], rows[block]):
            np.testing.assert_array_equal(crop, ref[r, j])
    assert rows[:12].tolist() != rows[12:24].tolist()  # each round shuffles the faces anew


def test_fresh_sampling_renders_perturbation_epoch(built):
    _, examples = built
    data = StudentData.stream(_faces(built), Degradation(16, sampling="fresh", seed=2))
    assert len(data) == 12
    for epoch in (0, 3):
        x, rows = _epoch_crops(data, 4, epoch=epoch, seed=1)
        for crop, r in zip(x, rows):
            ex = examples[int(r)]
            want = degrade_face(ex["image"], ex["landmarks"], 16, perturbations=[epoch], seed=2, row_id=int(r))[0]
            np.testing.assert_array_equal(crop, want)


def test_epochs_are_seeded_repeatable_and_distinct(built):
    data = StudentData.stream(_faces(built), Degradation(16, num_perturbations=2, seed=0))
    e1, r1 = _epoch_crops(data, 8, epoch=1, seed=5)
    again, r_again = _epoch_crops(data, 8, epoch=1, seed=5)
    np.testing.assert_array_equal(e1, again)
    np.testing.assert_array_equal(r1, r_again)
    _, r0 = _epoch_crops(data, 8, epoch=0, seed=5)
    _, r_other = _epoch_crops(data, 8, epoch=1, seed=6)
    assert r0.tolist() != r1.tolist() and r_other.tolist() != r1.tolist()
    assert len(r1) == data.steps_per_epoch(8) * 8 == 24  # 24 crops = 3 full batches of 8 (remainder dropped)


def test_table_selects_faces_and_joins_features(built):
    faces = _faces(built)
    keep = np.array([1, 4, 5, 9, 11])
    feats = np.arange(5 * 3, dtype=np.float32).reshape(5, 3) + 100
    table = SourceTable(keep, faces.labels[keep], feats, np.array([1, 0, 1, 1, 0], bool))
    data = StudentData.stream(faces, Degradation(16, num_perturbations=2, seed=0), table)
    assert len(data) == 10
    ds = make_dataset(data, 5, seed=0)
    for _, y in ds:
        for r, f, a in zip(y["row_id"].numpy(), y["feature"].numpy(), y["alpha"].numpy()):
            i = int(np.flatnonzero(keep == r)[0])
            np.testing.assert_array_equal(f, feats[i])
            assert a == float(table.alpha[i])
    assert sorted(r for _, y in ds for r in y["row_id"].numpy().tolist()) == sorted(keep.tolist() * 2)


def test_global_batches_do_not_depend_on_the_number_of_workers(built):
    """With S input shards, each of W workers reads only its shards, and the union of the workers' batches at every
    step is the single-worker global batch (in-memory crops: the same through batch slicing)."""
    data = StudentData.stream(_faces(built, input_shards=2), Degradation(16, num_perturbations=2, seed=3))
    one = [y["row_id"].numpy() for _, y in make_dataset(data, 8, with_features=False, seed=7)]
    per_worker = []
    for w in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=w, num_replicas_in_sync=2)
        per_worker.append([y["row_id"].numpy() for _, y in make_dataset(data, 8, with_features=False, seed=7,
                                                                           input_context=ctx)])
    assert len(one) == len(per_worker[0]) == len(per_worker[1]) == 3
    for g, batch in enumerate(one):
        assert sorted(np.r_[per_worker[0][g], per_worker[1][g]].tolist()) == sorted(batch.tolist())
    parts = data.source.faces.parts(data.table.row_ids)
    seen = [set(np.concatenate(b).tolist()) for b in per_worker]
    assert seen[0].isdisjoint(seen[1])
    assert seen[0] <= set(range(*parts[0][:2])) and seen[1] <= set(range(*parts[1][:2]))
    # In-memory crops: worker w gets slice w of each global batch.
    arrays = StudentData.build(np.zeros((20, 16, 16, 3), np.uint8), np.arange(20) % 5, np.arange(5), np.arange(5))
    one = [y["row_id"].numpy() for _, y in make_dataset(arrays, 8, with_features=False, seed=1)]
    halves = [[y["row_id"].numpy() for _, y in make_dataset(
        arrays, 8, with_features=False, seed=1, input_context=tf.distribute.InputContext(2, w, 2))] for w in range(2)]
    for g in range(2):  # 20 crops: two full global batches (the partial one is dropped under distribution)
        np.testing.assert_array_equal(np.r_[halves[0][g], halves[1][g]], one[g])


def test_bad_sources_are_named(built):
    builder, _ = built
    with pytest.raises(ValueError, match="row_id"):
        TfdsFaces(builder.data_dir, id_key="row_id")  # UMDFaces has no row_id feature
    assert TfdsFaces(builder.data_dir).id_key is None  # "auto": positions in the split
    with pytest.raises(ValueError, match="no_such_dataset"):
        TfdsFaces("no_such_dataset", data_dir=str(Path(builder.data_dir).parents[2]))
    with pytest.raises(ValueError, match="sampling"):
        Degradation(16, sampling="every")
    data = StudentData.stream(_faces(built, input_shards=3), Degradation(16, num_perturbations=1))
    with pytest.raises(ValueError, match="multiple of input_shards"):
        data.steps_per_epoch(8)


def test_crop_cache_gives_the_uncached_batches_and_renders_once(built, tmp_path, monkeypatch):
    """Fixed sampling with a crop cache: every epoch's batches (images and rows, in order) equal the uncached stream's,
    over two input shards and a table that drops faces; the crops are rendered once, then read from the files."""
    keep = np.array([0, 1, 2, 4, 5, 7, 8, 9, 10, 11])
    faces = _faces(built, input_shards=2)
    table = SourceTable(keep, faces.labels[keep])
    deg = Degradation(16, num_perturbations=3, seed=4)
    plain = StudentData.stream(faces, deg, table)
    cached = StudentData.stream(faces, deg, table, crop_cache=tmp_path / "crops")
    for epoch in (0, 2):
        want = _epoch_crops(plain, 6, epoch=epoch, seed=3)
        got = _epoch_crops(cached, 6, epoch=epoch, seed=3)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    files = sorted((tmp_path / "crops").iterdir())
    assert len(files) == 2 and all(f.suffix == ".bin" for f in files)  # one per input shard, no temporary left
    assert sum(f.stat().st_size for f in files) == len(keep) * (8 + 3 * 16 * 16 * 3)

    def no_render(*args, **kwargs):
        raise AssertionError("rendered again although the crop cache is complete")
    monkeypatch.setattr(Degradation, "degrade", no_render)
    again = _epoch_crops(StudentData.stream(faces, deg, table, crop_cache=tmp_path / "crops"), 6, epoch=2, seed=3)
    np.testing.assert_array_equal(again[0], want[0])
    # A damaged file is named, not read.
    with open(files[0], "r+b") as f:
        f.truncate(100)
    with pytest.raises(ValueError, match=f"crop cache {files[0]}.*damaged"):
        _epoch_crops(StudentData.stream(faces, deg, table, crop_cache=tmp_path / "crops"), 6, epoch=0, seed=3)
    with pytest.raises(ValueError, match="only fixed sampling"):
        StudentData.stream(faces, Degradation(16, sampling="fresh"), table, crop_cache=tmp_path / "crops")
