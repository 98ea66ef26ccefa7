"""Tests of the UMDFaces TFDS builder and CSV reader on the synthetic dummy data (dummy_data/, 3 batches, 12 faces)."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_builders.umdfaces import umdfaces_csv, umdfaces_dataset_builder
from skd_tf.data.align import alignment_matrix, transform_points

DUMMY = Path(__file__).resolve().parent / "dummy_data"


class UmdfacesTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = umdfaces_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["aligned_224", "aligned_150"]
    SPLITS = {"train": 12}


def _build(tmp_path, manual_dir, **kwargs):
    builder = umdfaces_dataset_builder.Builder(data_dir=str(tmp_path / "data"), config="aligned_150", **kwargs)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def test_examples_labels_and_landmarks(tmp_path):
    builder = _build(tmp_path, DUMMY)
    assert builder.info.metadata["num_classes"] == 6
    assert builder.info.metadata["subject_ids"] == [101, 102, 203, 204, 305, 306]
    examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
    assert len(examples) == 12
    labels = {int(e["subject_id"]): int(e["label"]) for e in examples}
    assert labels == {101: 0, 102: 1, 203: 2, 204: 3, 305: 4, 306: 5}
    ex = examples[0]
    assert ex["image"].shape == (150, 150, 3)
    # the 5 landmarks land on dlib's template in the aligned frame
    lm = ex["landmarks"]
    assert lm[0, 0] > lm[1, 0] > lm[3, 0] > lm[2, 0]  # image-right eye outer/inner, image-left eye inner/outer
    assert lm[4, 1] > lm[:4, 1].max()  # nose below the eyes
    assert ex["pose"].shape == (3,) and ex["file_name"].decode().startswith("umdfaces_batch")


def test_csv_rows_and_five_points():
    text = (DUMMY / "umdfaces_batch1" / "umdfaces_batch1_ultraface.csv").read_text()
    faces = umdfaces_csv.parse_csv(text, "batch1.csv")
    assert len(faces) == 4 and faces[0].subject_id == 101 and faces[0].keypoints.shape == (21, 2)
    kp = faces[0].keypoints
    five = umdfaces_csv.dlib5_from_keypoints(kp)
    # dummy data puts P7-P9 on the image's left eye: P12 is the image-right outer corner, P7 the image-left outer
    np.testing.assert_allclose(five, kp[[11, 9, 6, 8, 14]])
    # mirrored naming (P7-P9 on the image's right) gives the same geometric assignment
    mirrored = kp.copy()
    mirrored[[6, 7, 8, 9, 10, 11]] = kp[[11, 10, 9, 8, 7, 6]]
    np.testing.assert_allclose(umdfaces_csv.dlib5_from_keypoints(mirrored), five)
    m = alignment_matrix(five, 150)
    assert np.all(np.abs(transform_points(five, m)) < 150)


def test_csv_column_mismatch_is_reported():
    bad = "SUBJECT_ID,FILE,FACE_X\n1,a/b.jpg,3\n"
    with pytest.raises(ValueError, match=r"bad\.csv: not a UMDFaces ultraface CSV: missing columns \['FACE_Y'"):
        umdfaces_csv.parse_csv(bad, "bad.csv")
    header = ",".join(umdfaces_csv.COLUMNS)
    row = ",".join(["7", "x/y.jpg"] + ["oops"] + ["1"] * (len(umdfaces_csv.COLUMNS) - 3))
    with pytest.raises(ValueError, match=r"c\.csv:2: column FACE_X: expected a number, got 'oops'"):
        umdfaces_csv.parse_csv(header + "\n" + row + "\n", "c.csv")


def test_missing_csv_lists_expected_files(tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY / "umdfaces_batch1", manual / "umdfaces_batch1")
    with pytest.raises(FileNotFoundError) as err:
        _build(tmp_path, manual)
    msg = str(err.value)
    for batch in (2, 3):
        assert f"umdfaces_batch{batch}/umdfaces_batch{batch}_ultraface.csv" in msg


def test_missing_image_is_listed(tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY, manual)
    (manual / "umdfaces_batch2" / "synthetic_person_204" / "synthetic_person_204_0002.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="umdfaces_batch2/synthetic_person_204/synthetic_person_204_0002.jpg"):
        _build(tmp_path, manual)


def test_corrupt_image_fails_or_is_skipped(tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY, manual)
    bad = manual / "umdfaces_batch3" / "synthetic_person_305" / "synthetic_person_305_0001.jpg"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # a truncated JPEG
    with pytest.raises(ValueError, match=r"synthetic_person_305_0001.jpg: corrupt or unreadable image: truncated JPEG"):
        _build(tmp_path / "a", manual)
    builder = _build(tmp_path / "b", manual, on_corrupt="skip")
    assert builder.info.splits["train"].num_examples == 11
    skipped = builder.info.metadata["skipped"]
    assert [s["file"] for s in skipped] == [str(bad)] and "no end-of-image marker" in skipped[0]["reason"]


def test_landmark_outside_the_image_fails_or_is_skipped(tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY, manual)
    csv_path = manual / "umdfaces_batch1" / "umdfaces_batch1_ultraface.csv"
    lines = csv_path.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[2].split(",")
    row[header.index("P15X")] = "-500"  # the nose, one of the 5 landmarks
    lines[2] = ",".join(row)
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as err:
        _build(tmp_path / "a", manual)
    assert f"({csv_path} line 3): landmark 4 at (x=-500.00" in str(err.value)
    builder = _build(tmp_path / "b", manual, on_corrupt="skip")
    assert builder.info.splits["train"].num_examples == 11
    assert [s["line"] for s in builder.info.metadata["skipped"]] == [3]
