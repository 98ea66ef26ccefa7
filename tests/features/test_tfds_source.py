"""TfdsSource: a TFDS split with image + landmarks features, read by split slices into the feature cache."""
import numpy as np
import pytest
import tensorflow_datasets as tfds

from skd_tf.data.align import align_face
from skd_tf.data.synthetic import generate_faces
from skd_tf.features.cache import load_features
from skd_tf.features.extract import TfdsSource, extract_to_cache

FACES = generate_faces(2, 4, image_size=64, noisy_fraction=0.0, seed=3)


class SkdTestFaces(tfds.core.GeneratorBasedBuilder):
    """Eight synthetic faces with 5-point landmarks."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(64, 64, 3)),
            "landmarks": tfds.features.Tensor(shape=(5, 2), dtype=np.float32),
            "row": np.int64,
        }))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(len(FACES)):
            yield i, {"image": FACES.images[i], "landmarks": FACES.landmarks[i], "row": 100 + i}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tfds")
    SkdTestFaces(data_dir=str(d)).download_and_prepare()
    return str(d)


def test_tfds_source_into_cache(data_dir, tmp_path):
    # Positions follow the prepared dataset's stored order (TFDS shuffles by key hash), so the builder's "row"
    # feature is what ties a position to a face; without id_key, row id = position.
    source = TfdsSource("skd_test_faces", 16, split="train", data_dir=data_dir, id_key="row")
    assert len(source) == 8 and sorted(source.row_ids) == list(range(100, 108))
    faces = source.row_ids - 100
    want = np.stack([align_face(FACES.images[i], FACES.landmarks[i], 16) for i in faces])
    np.testing.assert_array_equal(source.load(np.arange(2, 5)), want[2:5])

    def mean_rgb(batch):
        return np.asarray(batch, np.float32).mean(axis=(1, 2))

    out = tmp_path / "cache"
    extract_to_cache(mean_rgb, source, out, manifest={"teacher": "mean", "layer": "rgb"}, shard_size=3, batch_size=2,
                     progress=False)
    feats, ids = load_features(out)  # sorted by row id = face order
    np.testing.assert_array_equal(ids, 100 + np.arange(8))
    np.testing.assert_allclose(feats, mean_rgb(want[np.argsort(faces)]), rtol=1e-6)
    by_position = TfdsSource("skd_test_faces", 16, data_dir=data_dir, limit=5)
    np.testing.assert_array_equal(by_position.row_ids, np.arange(5))
    np.testing.assert_array_equal(by_position.load(np.arange(5)), want[:5])
    prealigned = TfdsSource("skd_test_faces", 64, data_dir=data_dir, id_key="row", prealigned=True)
    np.testing.assert_array_equal(prealigned.load(np.arange(3)), FACES.images[faces[:3]])
    with pytest.raises(ValueError, match="'image' is 64x64, but prealigned images must be the teacher's 16x16"):
        TfdsSource("skd_test_faces", 16, data_dir=data_dir, prealigned=True)
    with pytest.raises(ValueError, match="feature 'nope' not found"):
        TfdsSource("skd_test_faces", 16, data_dir=data_dir, landmarks_key="nope")


class SkdTestOffFrameFaces(tfds.core.GeneratorBasedBuilder):
    """Four synthetic faces; the third one's nose lies far outside its image."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(64, 64, 3)),
            "landmarks": tfds.features.Tensor(shape=(5, 2), dtype=np.float32),
            "row_id": np.int64,
            "file_name": tfds.features.Text(),
        }))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(4):
            lm = FACES.landmarks[i].copy()
            if i == 2:
                lm[4] = [32.0, 500.0]
            yield i, {"image": FACES.images[i], "landmarks": lm, "row_id": i, "file_name": f"face_{i}.jpg"}


def test_tfds_landmark_outside_the_image_fails_or_is_skipped(tmp_path):
    from skd_tf.data.images import CorruptFaceError

    SkdTestOffFrameFaces(data_dir=str(tmp_path / "tfds")).download_and_prepare()
    source = TfdsSource("skd_test_off_frame_faces", 16, data_dir=str(tmp_path / "tfds"))
    position = int(np.flatnonzero(source.row_ids == 2)[0])

    def mean_rgb(batch):
        return np.asarray(batch, np.float32).mean(axis=(1, 2))

    kw = dict(manifest={"teacher": "mean", "layer": "rgb"}, shard_size=2, batch_size=2, progress=False)
    with pytest.raises(CorruptFaceError, match=rf"TFDS skd_test_off_frame_faces train\[{position}\] \(row id 2, "
                                               r"face_2.jpg\): landmark 4 at \(x=32.00, y=500.00\) lies outside"):
        extract_to_cache(mean_rgb, source, tmp_path / "a", **kw)
    with pytest.raises(CorruptFaceError, match="row id 2, face_2.jpg"):
        source.load(np.arange(4))
    stats = extract_to_cache(mean_rgb, source, tmp_path / "b", on_corrupt="skip", **kw)
    assert stats["skipped_faces"] == 1
    feats, ids = load_features(tmp_path / "b")
    np.testing.assert_array_equal(ids, [0, 1, 3])
    want = np.stack([align_face(FACES.images[i], FACES.landmarks[i], 16) for i in (0, 1, 3)])
    np.testing.assert_allclose(feats, mean_rgb(want), rtol=1e-6)
    for limit in (0, -1):
        with pytest.raises(ValueError, match="limit: expected a positive number of faces"):
            TfdsSource("skd_test_off_frame_faces", 16, data_dir=str(tmp_path / "tfds"), limit=limit)
