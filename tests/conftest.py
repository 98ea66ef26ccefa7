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
