"""Tests for skd_tf.models.teachers.compact: registry spec, shapes, training on synthetic faces, weight reload."""
import numpy as np
import pytest

from skd_tf.data.align import align_face
from skd_tf.data.synthetic import generate_faces
from skd_tf.models import teachers
from skd_tf.models.teachers import compact

SIZE = 64  # small chips keep the test fast; the demo uses 112


def test_spec_and_registry():
    s = teachers.spec("compact")
    assert s == compact.SPEC
    got = (s.name, s.input_size, s.feature_dim, s.feature_layer, s.color_order)
    assert got == ("compact", 112, 256, "feature", "RGB")
    assert teachers.spec("compact", feature_dim=64, input_size=96).feature_dim == 64
    model = teachers.build("compact", feature_dim=32, input_size=SIZE)
    assert model.input_shape == (None, SIZE, SIZE, 3) and model.output_shape == (None, 32)
    assert model.get_layer(s.feature_layer).output.shape[-1] == 32
    out = model.predict(np.zeros((2, SIZE, SIZE, 3), np.uint8), verbose=0)
    assert out.shape == (2, 32) and np.all(np.isfinite(out))


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.weights.h5"):
        compact.build(weights=tmp_path / "nope.weights.h5", input_size=SIZE)
    with pytest.raises(ValueError, match="chips"):
        compact.train_compact_teacher(np.zeros((4, 32, 30, 3), np.uint8), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="weights.h5"):
        compact.train_compact_teacher(np.zeros((4, 32, 32, 3), np.uint8), np.array([0, 1, 0, 1]), out_path="x.h5")


def test_trains_to_recognise_held_out_images_and_reloads(tmp_path):
    num_ids, per_id, held = 8, 25, 5
    fs = generate_faces(num_ids, per_id, image_size=96, noisy_fraction=0.0, seed=21)
    chips = np.stack([align_face(im, lm, SIZE) for im, lm in zip(fs.images, fs.landmarks)])
    test = np.tile(np.arange(per_id) >= per_id - held, num_ids)
    path = tmp_path / "teacher" / "compact.weights.h5"
    model = compact.train_compact_teacher(chips[~test], fs.labels[~test], feature_dim=64, epochs=10, batch_size=32,
                                          seed=0, out_path=path)
    assert path.is_file() and model.train_seconds > 0
    assert sorted(p.name for p in path.parent.iterdir()) == ["compact.weights.h5"]  # no temporary left behind

    feats = model.predict(chips, verbose=0)
    assert feats.shape == (len(chips), 64)
    f = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    centroids = np.stack([f[~test & (fs.labels == c)].mean(0) for c in range(num_ids)])
    pred = np.argmax(f[test] @ centroids.T, axis=1)
    accuracy = np.mean(pred == fs.labels[test])
    # chance is 1/8; observed 0.75-0.8 here (tiny data: 20 training images per identity at 64 px). At demo scale
    # (150 identities x 15 images, 112 px, 6 epochs) held-out accuracy is about 0.97.
    assert accuracy >= 0.55, accuracy

    again = compact.build(feature_dim=64, input_size=SIZE, weights=path)
    np.testing.assert_allclose(again.predict(chips, verbose=0), feats, rtol=0, atol=1e-5)
