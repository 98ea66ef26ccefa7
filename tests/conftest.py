"""Shared fixtures. Tests that need the real data in ../shared/data skip with a message when it is absent."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from skd_tf.utils.paths import lfw_dir, shared_data_dir


@pytest.fixture(scope="session")
def lfw_root():
    """The shared LFW folder (`lfw-deepfunneled/`, `protocol/`, `dlib/`); skips when it is absent."""
    root = lfw_dir()
    if not (root / "lfw-deepfunneled").is_dir() or not (root / "protocol" / "pairs.txt").is_file():
        pytest.skip(f"real LFW data not found at {root} (expected lfw-deepfunneled/ and protocol/pairs.txt)")
    return root


@pytest.fixture(scope="session")
def scface_annotations():
    """The shared SCface annotation file; skips when it is absent."""
    path = shared_data_dir() / "scface" / "scface_annotations.txt"
    if not path.is_file():
        pytest.skip(f"SCface annotations not found at {path}")
    return path


@pytest.fixture(scope="session")
def umdfaces_dummy_dir(tmp_path_factory):
    """The UMDFaces builder's dummy data (12 faces, 6 people) prepared at 64-px chips: a prepared TFDS dataset
    folder for the streaming pipeline (`skd_tf.data.sources.TfdsFaces`; it has no row_id feature, so id_key=None)."""
    from pathlib import Path

    import tensorflow_datasets as tfds

    from data_builders.umdfaces import umdfaces_dataset_builder

    dummy = Path(__file__).resolve().parents[1] / "data_builders" / "umdfaces" / "dummy_data"
    config = umdfaces_dataset_builder.UmdfacesConfig(name="aligned_64", face_size=64)
    builder = umdfaces_dataset_builder.Builder(data_dir=str(tmp_path_factory.mktemp("tfds")), config=config)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(dummy)))
    return builder.data_dir
