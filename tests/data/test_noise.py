"""Tests for skd_tf.data.noise: planted wrong labels and unusable faces with their ground truth (issue 14)."""
import numpy as np
import pytest

from skd_tf.data.lfw_folds import fold_split
from skd_tf.data.noise import OCCLUDER_SIDE, corrupt_chip, discard_scores, plant_noise


def _table():
    # 6 people: sizes 1, 2, 3, 4, 5, 1 -> 14 eligible faces (people with >= 2 images), 2 one-image faces.
    labels = np.repeat(np.arange(6), [1, 2, 3, 4, 5, 1])
    return np.arange(100, 100 + labels.size), labels


def test_plants_the_stated_numbers_on_eligible_faces_only():
    rows, labels = _table()
    noise = plant_noise(rows, labels, label_rate=0.3, unusable_rate=0.2, seed=1)
    eligible = np.bincount(labels)[labels] >= 2
    np.testing.assert_array_equal(noise.eligible, eligible)
    assert noise.wrong_label.sum() == round(0.3 * 14) == 4 and noise.unusable.sum() == round(0.2 * 14) == 3
    assert not (noise.wrong_label & noise.unusable).any()  # disjoint kinds
    assert not (noise.planted & ~eligible).any()  # one-image people are never planted
    # A relabelled face moves to another existing identity; every other face keeps its label.
    moved = noise.wrong_label
    assert (noise.labels[moved] != labels[moved]).all() and set(noise.labels[moved]) <= set(range(6))
    np.testing.assert_array_equal(noise.labels[~moved], labels[~moved])
    np.testing.assert_array_equal(noise.true_labels, labels)
    np.testing.assert_array_equal(noise.unusable_rows, rows[noise.unusable])
    s = noise.summary()
    assert s["wrong_label_rows"] == rows[moved].tolist() and s["wrong_label_true_labels"] == labels[moved].tolist()
    assert s["unusable_rows"] == rows[noise.unusable].tolist() and s["eligible_faces"] == 14


def test_planting_is_deterministic_per_seed():
    rows, labels = _table()
    a = plant_noise(rows, labels, label_rate=0.4, unusable_rate=0.2, seed=7)
    b = plant_noise(rows, labels, label_rate=0.4, unusable_rate=0.2, seed=7)
    for field in ("labels", "wrong_label", "unusable"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    others = [plant_noise(rows, labels, label_rate=0.4, unusable_rate=0.2, seed=s) for s in range(8, 12)]
    assert any(not np.array_equal(o.planted, a.planted) for o in others)


def test_bad_rates_are_refused():
    rows, labels = _table()
    with pytest.raises(ValueError, match="label_rate"):
        plant_noise(rows, labels, label_rate=1.0)
    with pytest.raises(ValueError, match="more planted faces"):
        plant_noise(rows, labels, label_rate=0.6, unusable_rate=0.5)
    with pytest.raises(ValueError, match="one label per row id"):
        plant_noise(rows, labels[:-1], label_rate=0.1)


def test_discard_scores_count_the_faces_eq3_decides():
    rows, labels = _table()
    noise = plant_noise(rows, labels, label_rate=0.3, unusable_rate=0.2, seed=1)
    decided = np.bincount(noise.labels)[noise.labels] >= 2
    planted = np.flatnonzero(noise.planted)
    alpha = np.ones(rows.size, bool)
    alpha[planted[:3]] = False  # three planted faces discarded ...
    clean_decided = np.flatnonzero(decided & ~noise.planted)
    alpha[clean_decided[:2]] = False  # ... with two clean ones
    alpha[~decided] = False  # one-image classes: always discarded at lambda < 0, not counted
    got = discard_scores(alpha, noise)
    assert got["decided"] == int(decided.sum()) and got["planted"] == len(planted) == 7
    assert (got["discarded"], got["planted_discarded"]) == (5, 3)
    assert got["precision"] == pytest.approx(3 / 5) and got["recall"] == pytest.approx(3 / 7)
    with pytest.raises(ValueError, match="one per training face"):
        discard_scores(alpha[:-1], noise)


def test_corrupt_chip_is_deterministic_blurred_and_occluded():
    rng = np.random.default_rng(0)
    chip = rng.integers(0, 256, (150, 150, 3), dtype=np.uint8)
    a, b = corrupt_chip(chip, 3, 42), corrupt_chip(chip, 3, 42)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, corrupt_chip(chip, 3, 43))  # another face: another occluder
    assert a.shape == chip.shape and a.dtype == np.uint8
    # The occluder: a flat square of side 0.55 * 150 (clipped at the border), so at least a fifth of the chip is
    # one grey level; the rest is heavily blurred (white noise loses nearly all its variance).
    values, counts = np.unique(a.reshape(-1, 3), axis=0, return_counts=True)
    flat = counts.max()
    assert flat >= (OCCLUDER_SIDE * 150 / 2) ** 2 and (values[counts.argmax()] == values[counts.argmax()][0]).all()
    rest = a[a != values[counts.argmax()]]
    assert rest.std() < 0.1 * chip.std()
    with pytest.raises(ValueError, match="uint8 RGB chip"):
        corrupt_chip(chip.astype(np.float32), 0, 0)


def test_planting_never_touches_test_people(lfw_root):
    split = fold_split(lfw_root, 1)
    noise = plant_noise(split.train_rows, split.train_labels, label_rate=0.4, unusable_rate=0.2, seed=0)
    test_people = {split.paths[r].split("/")[-2] for r in split.test_rows}
    assert len(test_people) == 435 and not test_people & set(split.train_people)  # fold 1's people
    planted_rows = set(noise.row_ids[noise.planted].tolist())
    assert planted_rows <= set(split.train_rows.tolist()) and not planted_rows & set(split.test_rows.tolist())
    # Wrong labels point at training identities only.
    assert noise.labels.min() >= 0 and noise.labels.max() < len(split.train_people)
    assert noise.wrong_label.sum() == round(0.4 * noise.eligible.sum())
