"""Shared by the LFW View 2 tests: an untrained 16-px student and the training-run layout it is saved in."""
import pytest

from skd_tf.models.student import build_student


@pytest.fixture(scope="module")
def student16():
    """A freshly built, untrained 16-px student with a dlib-width (128-D) mimic layer."""
    return build_student(16, feature_dim=128, num_classes=10, seed=0)


@pytest.fixture
def save_run():
    """Saves a student as `<folder>/student.keras` (a training run folder) and returns the file."""
    def save(model, folder):
        folder.mkdir(parents=True, exist_ok=True)
        model.save(folder / "student.keras")
        return folder / "student.keras"

    return save
