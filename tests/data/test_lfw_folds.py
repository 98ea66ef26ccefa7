"""Tests for skd_tf/data/lfw_folds.py on the real LFW protocol (skipped when ../shared/data is absent)."""
import numpy as np
import pytest

from skd_tf.data.lfw import read_people
from skd_tf.data.lfw_folds import fold_split


def _person(path: str) -> str:
    return path.split("/")[0]


@pytest.mark.parametrize("fold", [1, 7])
def test_fold_split_is_identity_disjoint_and_complete(lfw_root, fold):
    split = fold_split(lfw_root, fold)
    people = read_people(lfw_root / "protocol" / "people.txt")
    train_people = {p for j, f in enumerate(people) if j != fold - 1 for p in f}
    assert set(split.train_people) == train_people
    # Every image of every training person, labelled by person.
    assert len(split.train_rows) == sum(f[p] for j, f in enumerate(people) if j != fold - 1 for p in f)
    names = [_person(split.paths[r]) for r in split.train_rows]
    assert all(split.train_people[lab] == n for lab, n in zip(split.train_labels, names))
    # The 600 pairs of the held-out fold, 300 matched, only people of that fold.
    assert len(split.is_same) == 600 and split.is_same.sum() == 300
    test_people = {_person(split.paths[r]) for r in split.test_rows}
    assert test_people <= set(people[fold - 1]) and not test_people & train_people
    same = [_person(split.paths[split.test_rows[a]]) == _person(split.paths[split.test_rows[b]])
            for a, b in zip(split.pair_a, split.pair_b)]
    np.testing.assert_array_equal(same, split.is_same)
    assert split.summary()["train_people_with_one_image"] > 0


def test_fold_split_subsets_are_seeded(lfw_root):
    a = fold_split(lfw_root, 2, max_train_people=50, max_test_pairs=20, seed=3)
    b = fold_split(lfw_root, 2, max_train_people=50, max_test_pairs=20, seed=3)
    c = fold_split(lfw_root, 2, max_train_people=50, max_test_pairs=20, seed=4)
    assert len(a.train_people) == 50 and len(a.is_same) == 20 and a.is_same.sum() == 10
    np.testing.assert_array_equal(a.train_rows, b.train_rows)
    assert a.train_people != c.train_people


def test_fold_split_rejects_bad_fold(lfw_root):
    with pytest.raises(ValueError, match="test_fold: expected 1..10"):
        fold_split(lfw_root, 0)


def test_fold_split_min_train_images_drops_one_image_people(lfw_root):
    full = fold_split(lfw_root, 4)
    multi = fold_split(lfw_root, 4, min_train_images=2)
    counts = np.bincount(full.train_labels)
    assert len(multi.train_people) == int(np.sum(counts >= 2))
    assert len(multi.train_rows) == int(np.sum(counts[counts >= 2]))
    assert np.bincount(multi.train_labels).min() >= 2
    np.testing.assert_array_equal(multi.test_rows, full.test_rows)
