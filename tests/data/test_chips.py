"""Tests for skd_tf.data.chips: chips read by row id (optionally corrupted) and the in-memory crops, which must be the
streamed crops pixel for pixel."""
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_builders.face_folder.face_folder_dataset_builder import Builder
from skd_tf.data.chips import read_chips, render_crops
from skd_tf.data.noise import corrupt_chip
from skd_tf.data.sources import Degradation, TfdsFaces

DUMMY = Path(__file__).resolve().parents[2] / "data_builders" / "face_folder" / "dummy_data"


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    builder = Builder(data_dir=str(tmp_path_factory.mktemp("tfds")), config="aligned_150")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(DUMMY)))
    return TfdsFaces(builder.data_dir)


def test_read_chips_returns_the_requested_rows_in_order(faces):
    everything = {int(r): (faces.decode(e).numpy(), lm.numpy()) for e, lm, r in faces.read(0, len(faces))}
    rows = faces.row_ids[[5, 0, 3]]
    chips = read_chips(faces, rows, corrupt_rows=[rows[1]], corrupt_seed=4)
    np.testing.assert_array_equal(chips.row_ids, rows)
    for i, r in enumerate(rows):
        image, landmarks = everything[int(r)]
        expected = corrupt_chip(image, 4, int(r)) if i == 1 else image
        np.testing.assert_array_equal(chips.images[i], expected)
        np.testing.assert_allclose(chips.landmarks[i], landmarks)
    with pytest.raises(ValueError, match="row ids \\[999999\\] are not in the split"):
        read_chips(faces, [999999])


def test_render_crops_equal_degrade_faces(faces):
    chips = read_chips(faces, faces.row_ids)
    degradation = Degradation(16, 3, seed=5)
    crops = render_crops(chips, degradation)
    # The streamed crops of every face (`Degradation.degrade`, epoch 0), face after face.
    expected = np.concatenate([degradation.degrade(im, lm, int(r), 0)
                               for im, lm, r in zip(chips.images, chips.landmarks, chips.row_ids)])
    np.testing.assert_array_equal(crops.images, expected)
    np.testing.assert_array_equal(crops.source_rows, np.repeat(chips.row_ids, 3))
    with pytest.raises(ValueError, match="sampling='fixed'"):
        render_crops(chips, Degradation(16, 3, sampling="fresh"))
