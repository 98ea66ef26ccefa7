"""Fixtures shared by the experiment tests."""
import pytest
import tensorflow_datasets as tfds

from data_builders.face_folder.face_folder_dataset_builder import Builder
from skd_tf.data.lfw_folds import fold_split


@pytest.fixture(scope="session")
def training_people_build(lfw_root, tmp_path_factory):
    """A face-folder build of the 80 training people the smoke run draws (fold 3 held out, seed 0)."""
    split = fold_split(lfw_root, 3, max_train_people=80, seed=0)
    manual = tmp_path_factory.mktemp("lfw_subset")
    (manual / "lfw-deepfunneled").mkdir()
    for name in split.train_people:
        (manual / "lfw-deepfunneled" / name).symlink_to(lfw_root / "lfw-deepfunneled" / name)
    builder = Builder(data_dir=str(tmp_path_factory.mktemp("tfds")), images_subdir="lfw-deepfunneled",
                      landmarks_csv=str(lfw_root / "dlib" / "landmarks5.csv"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    return builder.data_dir
