"""Tests of the SCface TFDS builder on the synthetic dummy data (dummy_data/, official layout, 130 x 23 images).

Chips are built at 16 px in custom configs so the tests stay fast; the split counts are the real protocol's.
"""
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_builders.scface import scface_dataset_builder

DUMMY = Path(__file__).resolve().parent / "dummy_data"
_SMALL = dict(face_size=16, version="1.0.0")


class ScfacePaperTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = scface_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = [scface_dataset_builder.ScfaceConfig(name="paper_16", protocol="paper", **_SMALL)]
    SPLITS = {"train": 800, "gallery": 80, "probe": 1200}


class ScfaceCombinedTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = scface_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = [
        scface_dataset_builder.ScfaceConfig(name="combined_16", protocol="combined", **_SMALL)
    ]
    SPLITS = {"world": 688, "dev_gallery": 44, "dev_probe": 660, "eval_gallery": 43, "eval_probe": 645}


def _build(tmp_path, manual_dir, protocol="close", **kwargs):
    config = scface_dataset_builder.ScfaceConfig(name=f"{protocol}_16", protocol=protocol, **_SMALL)
    builder = scface_dataset_builder.Builder(data_dir=str(tmp_path / "data"), config=config, **kwargs)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def test_standard_protocol_counts_and_features(tmp_path):
    builder = _build(tmp_path, DUMMY, "close")
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {
        "world": 688, "dev_gallery": 44, "dev_probe": 220, "eval_gallery": 43, "eval_probe": 215,
    }
    ex = next(iter(tfds.as_numpy(builder.as_dataset(split="eval_probe"))))
    assert ex["aligned"].shape == (16, 16, 3) and ex["image"].ndim == 3
    assert ex["distance"] == 3 and 1 <= ex["camera"] <= 5 and not ex["infrared"]
    assert ex["landmarks"].shape == (5, 2) and np.all((ex["landmarks"] > 0) & (ex["landmarks"] < 16))
    assert 88 <= ex["subject"] + 1 <= 130


@pytest.mark.parametrize("content", [None, "mugshot_frontal_cropped_all"])
def test_missing_manual_dir_lists_expected_files(tmp_path, content):
    manual = tmp_path / "manual"
    manual.mkdir()
    if content:  # a non-empty directory without the annotation file
        (manual / content).mkdir()
    # TFDS itself rejects an empty manual dir (AssertionError) and prints the builder's instructions.
    with pytest.raises((FileNotFoundError, AssertionError), match="scface_annotations.txt") as err:
        _build(tmp_path, manual)
    assert "mugshot_frontal_cropped_all/001_frontal.JPG" in str(err.value)


def test_incomplete_manual_dir_lists_missing_files(tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY, manual, ignore=shutil.ignore_patterns("cam3"))
    with pytest.raises(FileNotFoundError) as err:
        _build(tmp_path, manual)
    msg = str(err.value)
    assert "missing" in msg and "surveillance_cameras_distance_1/cam3/001_cam3_1.jpg" in msg


def test_corrupt_image_fails_or_is_skipped(tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY, manual)
    bad = manual / "surveillance_cameras_distance_3" / "cam2" / "100_cam2_3.jpg"
    bad.write_bytes(b"not a jpeg")
    cut = manual / "surveillance_cameras_distance_3" / "cam3" / "101_cam3_3.jpg"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])  # a truncated JPEG
    annotations = manual / "scface_annotations.txt"
    lines = annotations.read_bytes().split(b"\r\n")
    k = next(i for i, line in enumerate(lines) if line.startswith(b"102_cam4_3"))
    lines[k] = b"102_cam4_3\t9000\t20\t30\t21\t22\t28\t21\t36"  # a point far outside the image
    annotations.write_bytes(b"\r\n".join(lines))
    with pytest.raises(ValueError, match="100_cam2_3.jpg: corrupt or unreadable image: not a decodable image"):
        _build(tmp_path / "a", manual, on_corrupt="fail")
    builder = _build(tmp_path / "b", manual, on_corrupt="skip")
    assert builder.info.splits["eval_probe"].num_examples == 215 - 3
    skipped = builder.info.metadata["skipped"]["eval_probe"]
    assert [s["file"] for s in skipped] == [str(bad), str(cut), str(manual / "surveillance_cameras_distance_3" /
                                                                     "cam4" / "102_cam4_3.jpg")]
    assert "truncated JPEG (no end-of-image marker)" in skipped[1]["reason"]
    assert f"{annotations} line {k + 1}" in skipped[2]["reason"] and skipped[2]["line"] == k + 1
    assert "annotated point 0 at (x=9000.00, y=20.00) lies outside" in skipped[2]["reason"]
    with pytest.raises(ValueError, match="landmark_margin"):
        scface_dataset_builder.Builder(landmark_margin=-1)


def test_all_config_includes_infrared(tmp_path):
    builder = _build(tmp_path, DUMMY, "all")
    assert builder.info.splits["full"].num_examples == 2990
    ds = builder.as_dataset(split="full").filter(lambda ex: ex["infrared"])
    infrared = list(tfds.as_numpy(ds.map(lambda ex: {"camera": ex["camera"], "image": ex["image"]})))
    assert len(infrared) == 130 * 3 * 2 + 130  # cam6, cam7 at three distances, and the cam8 mugshots
    assert {int(ex["camera"]) for ex in infrared} == {6, 7, 8}
    assert all(ex["image"].shape[-1] == 3 for ex in infrared[:5])
