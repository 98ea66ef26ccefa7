"""Tests for skd_tf.data.synthetic: determinism, ground truth of the planted noise, splits, pairs, save/load."""
import cv2
import numpy as np
import pytest

from skd_tf.data.align import align_face, alignment_matrix, chip_points, transform_points
from skd_tf.data.synthetic import (
    NOISE_KINDS,
    PARAM_NAMES,
    FaceSet,
    generate_faces,
    load_faceset,
    make_verification_pairs,
    save_faceset,
    split_identities,
)


@pytest.fixture(scope="module")
def faces():
    return generate_faces(8, 6, image_size=96, noisy_fraction=0.25, seed=7)


def test_shapes_and_dtypes(faces):
    n = 48
    assert faces.images.shape == (n, 96, 96, 3) and faces.images.dtype == np.uint8
    assert faces.landmarks.shape == (n, 5, 2) and faces.landmarks.dtype == np.float32
    assert faces.labels.dtype == np.int64 and faces.true_labels.dtype == np.int64
    assert faces.noise.dtype == np.int8
    assert faces.identity_params.shape == (8, len(PARAM_NAMES)) and faces.identity_params.dtype == np.float32
    assert faces.num_classes == 8 and len(faces) == n
    assert FaceSet.NOISE_KINDS == NOISE_KINDS == ("clean", "pose", "occlusion", "wrong_label")
    np.testing.assert_array_equal(faces.labels, np.repeat(np.arange(8), 6))
    assert faces.images.std() > 20  # something is drawn


def test_same_seed_same_bytes_and_seed_matters(faces):
    again = generate_faces(8, 6, image_size=96, noisy_fraction=0.25, seed=7)
    for field in ("images", "landmarks", "labels", "true_labels", "noise", "identity_params", "identity_ids"):
        a, b = getattr(faces, field), getattr(again, field)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), field
    other = generate_faces(8, 6, image_size=96, noisy_fraction=0.25, seed=8)
    assert not np.array_equal(other.images, faces.images)
    assert not np.array_equal(other.identity_params, faces.identity_params)


def test_identities_depend_only_on_seed_and_global_id():
    whole = generate_faces(5, 1, image_size=64, noisy_fraction=0.0, seed=1)
    part = generate_faces(3, 1, image_size=64, noisy_fraction=0.0, seed=1, identity_offset=2)
    np.testing.assert_array_equal(part.identity_params, whole.identity_params[2:])
    np.testing.assert_array_equal(part.identity_ids, [2, 3, 4])
    np.testing.assert_array_equal(part.images, whole.images[2:])  # clean images depend on (seed, identity, index)


def test_noise_ground_truth(faces):
    n = len(faces)
    assert int((faces.noise != 0).sum()) == round(0.25 * n)
    counts = np.bincount(faces.noise, minlength=4)
    assert counts[1:].min() >= 3 and counts[1:].max() - counts[1:].min() <= 1  # spread evenly over the kinds
    wrong = faces.noise == 3
    assert np.all(faces.true_labels[wrong] != faces.labels[wrong])
    np.testing.assert_array_equal(faces.true_labels[~wrong], faces.labels[~wrong])
    assert faces.true_labels.min() >= 0 and faces.true_labels.max() < faces.num_classes
    only_pose = generate_faces(4, 5, image_size=64, noisy_fraction=0.5, noise_kinds=("pose",), seed=0)
    assert set(np.unique(only_pose.noise)) == {0, 1}
    clean = generate_faces(4, 5, image_size=64, noisy_fraction=0.0, seed=0)
    assert not clean.noise.any()


def test_clean_landmarks_fit_the_dlib_template(faces):
    """Clean faces have plausible proportions: the 5 points are close to a similarity of dlib's template."""
    clean = np.flatnonzero(faces.noise == 0)
    for i in clean:
        lm = faces.landmarks[i]
        assert np.all((lm > 0) & (lm < 96))
        res = transform_points(lm, alignment_matrix(lm, 150)) - (chip_points(150) - 0.5)
        assert np.abs(res).max() < 10.0, (i, res)  # pixels of a 150 px chip
        assert lm[0, 0] > lm[1, 0] > lm[3, 0] > lm[2, 0]  # dlib order: image-right eye first, outer corner first


def test_landmarks_move_with_the_drawing():
    """After pose and warp the landmarks still sit on the drawn eyes: the midpoint of each eye's two corners shows
    the iris or sclera, clearly different from the cheek below it."""
    fs = generate_faces(3, 4, image_size=160, noisy_fraction=0.0, seed=2)
    for img, lm in zip(fs.images, fs.landmarks):
        for a, b in ((0, 1), (2, 3)):
            cx, cy = np.round((lm[a] + lm[b]) / 2).astype(int)
            patch = img[cy - 1:cy + 2, cx - 1:cx + 2].reshape(-1, 3).astype(float)
            # the eye centre is the iris/pupil or sclera; compare against the cheek below the eye
            cheek = img[cy + 12, cx].astype(float)
            assert np.abs(patch.mean(0) - cheek).sum() > 30


def test_noisy_faces_are_hard(faces):
    """Extreme pose squeezes the eye landmarks far off the template; heavy occlusion hides much of the chip."""
    def template_residual(i):
        lm = faces.landmarks[i]
        return np.abs(transform_points(lm, alignment_matrix(lm, 150)) - (chip_points(150) - 0.5)).max()

    pose = np.flatnonzero(faces.noise == 1)
    clean = np.flatnonzero(faces.noise == 0)
    assert min(template_residual(i) for i in pose) > max(template_residual(i) for i in clean)
    # an occluded chip differs strongly from the mean clean chip of its identity
    chips = np.stack([cv2.resize(align_face(im, lm, 64), (16, 16), interpolation=cv2.INTER_AREA).astype(float)
                      for im, lm in zip(faces.images, faces.landmarks)])

    def dist_to_own_mean(i):
        own = clean[faces.true_labels[clean] == faces.true_labels[i]]
        own = own[own != i]
        return np.abs(chips[i, 4:12, 4:12] - chips[own, 4:12, 4:12].mean(0)).mean()

    occ = np.flatnonzero(faces.noise == 2)
    assert np.median([dist_to_own_mean(i) for i in occ]) > 1.5 * np.median([dist_to_own_mean(i) for i in clean])


def test_wrong_label_faces_look_like_their_true_identity():
    fs = generate_faces(6, 8, image_size=96, noisy_fraction=0.2, noise_kinds=("wrong_label",), seed=4)
    # identity appearance: the central face region of aligned 16 px crops, brightness-normalised
    crops = np.stack([cv2.resize(align_face(im, lm, 64), (16, 16), interpolation=cv2.INTER_AREA)[4:14, 3:13]
                      .astype(float).ravel() for im, lm in zip(fs.images, fs.landmarks)])
    crops /= np.linalg.norm(crops, axis=1, keepdims=True)
    clean = fs.noise == 0
    means = np.stack([crops[clean & (fs.true_labels == c)].mean(0) for c in range(6)])
    wrong = np.flatnonzero(fs.noise == 3)
    nearest = np.argmin(np.linalg.norm(crops[wrong, None] - means[None], axis=2), axis=1)
    assert np.mean(nearest == fs.true_labels[wrong]) >= 0.7
    assert np.mean(nearest == fs.labels[wrong]) <= 0.2


def test_split_identities_disjoint_and_deterministic():
    train, test = split_identities(20, 0.3, seed=5)
    assert len(test) == 6 and len(train) == 14
    assert not set(train) & set(test) and set(train) | set(test) == set(range(20))
    t2, s2 = split_identities(20, 0.3, seed=5)
    np.testing.assert_array_equal(train, t2)
    np.testing.assert_array_equal(test, s2)
    assert not np.array_equal(split_identities(20, 0.3, seed=6)[1], test)
    assert len(split_identities(3, 0.01, seed=0)[1]) == 1


def test_select_identities_gives_identity_disjoint_sets(faces):
    train_ids, test_ids = split_identities(faces.num_classes, 0.25, seed=0)
    tr, te = faces.select_identities(train_ids), faces.select_identities(test_ids)
    assert tr.num_classes == len(train_ids) and te.num_classes == len(test_ids)
    assert not set(tr.identity_ids[tr.true_labels]) & set(te.identity_ids[te.true_labels])
    assert not set(tr.identity_ids[tr.labels]) & set(te.identity_ids[te.true_labels])
    assert tr.labels.max() < tr.num_classes and te.true_labels.max() < te.num_classes
    assert len(tr) + len(te) <= len(faces)
    np.testing.assert_array_equal(tr.identity_params, faces.identity_params[train_ids])


def test_verification_pairs(faces):
    a, b, same = make_verification_pairs(faces, 40, seed=1)
    assert a.shape == b.shape == same.shape == (40,) and same.dtype == bool
    assert same.sum() == 20
    assert np.all(faces.noise[a] == 0) and np.all(faces.noise[b] == 0)
    np.testing.assert_array_equal(faces.true_labels[a] == faces.true_labels[b], same)
    assert np.all(a != b)
    a2, b2, s2 = make_verification_pairs(faces, 40, seed=1)
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    keys = {(min(x, y), max(x, y)) for x, y in zip(a, b)}
    assert len(keys) == 40


def test_save_load_round_trip(tmp_path, faces):
    path = tmp_path / "faces.npz"
    save_faceset(faces, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.npz"]  # no temporary left behind
    back = load_faceset(path)
    for field in ("images", "landmarks", "labels", "true_labels", "noise", "identity_params", "identity_ids"):
        np.testing.assert_array_equal(getattr(back, field), getattr(faces, field))
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_faceset(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", images=faces.images)
    with pytest.raises(ValueError, match="bad.npz.*missing fields"):
        load_faceset(tmp_path / "bad.npz")


def test_subset(faces):
    sub = faces.subset(faces.noise == 0)
    assert len(sub) == int((faces.noise == 0).sum()) and not sub.noise.any()
    np.testing.assert_array_equal(faces.subset([3, 1]).labels, faces.labels[[3, 1]])
    with pytest.raises(ValueError, match="mask"):
        faces.subset(np.ones(3, bool))


def test_bad_arguments():
    with pytest.raises(ValueError, match="noise_kinds"):
        generate_faces(2, 2, noise_kinds=("blur",))
    with pytest.raises(ValueError, match="noisy_fraction"):
        generate_faces(2, 2, noisy_fraction=1.5)
    with pytest.raises(ValueError, match="wrong_label"):
        generate_faces(1, 4, noisy_fraction=0.5, noise_kinds=("wrong_label",))
    with pytest.raises(ValueError, match="image_size"):
        generate_faces(2, 2, image_size=8)
