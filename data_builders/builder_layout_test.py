"""Every builder folder is laid out as in tensorflow/datasets: `<name>_dataset_builder.py` with its test, README.md
(the description), CITATIONS.bib, TAGS.txt (tags from TFDS's vocabulary), `dummy_data/` holding data only, and the
generator `make_dummy_data.py` beside it, which rewrites `dummy_data/` byte for byte."""
import importlib
from pathlib import Path

import pytest
from tensorflow_datasets.core import dataset_metadata

ROOT = Path(__file__).resolve().parent
#: Files each builder's dummy data holds (images and their annotation files).
DUMMY_FILES = {"face_folder": 12 + 1, "scface": 2990 + 1, "umdfaces": 12 + 3}


def test_every_builder_folder_is_listed():
    assert sorted(p.parent.name for p in ROOT.glob("*/*_dataset_builder.py")) == sorted(DUMMY_FILES)


@pytest.mark.parametrize("name", sorted(DUMMY_FILES))
def test_folder_has_the_tfds_files_and_valid_tags(name):
    folder = ROOT / name
    for file in (f"{name}_dataset_builder.py", f"{name}_dataset_builder_test.py", "README.md", "CITATIONS.bib",
                 "TAGS.txt", "make_dummy_data.py"):
        assert (folder / file).is_file(), folder / file
    builder = importlib.import_module(f"data_builders.{name}.{name}_dataset_builder").Builder
    metadata = builder.get_metadata()  # what TFDS reads from the folder into the DatasetInfo
    assert metadata.tags and set(metadata.tags) <= set(dataset_metadata.valid_tags()), metadata.tags
    assert metadata.citation and metadata.description
    assert not [p for p in (folder / "dummy_data").rglob("*.py")], "dummy_data/ holds data only"


@pytest.mark.parametrize("name", sorted(DUMMY_FILES))
def test_dummy_data_is_what_make_dummy_data_writes(name, tmp_path):
    importlib.import_module(f"data_builders.{name}.make_dummy_data").make(tmp_path / "dummy")
    dummy = ROOT / name / "dummy_data"
    made = sorted(p.relative_to(tmp_path / "dummy") for p in (tmp_path / "dummy").rglob("*") if p.is_file())
    committed = sorted(p.relative_to(dummy) for p in dummy.rglob("*") if p.is_file())
    assert made == committed and len(made) == DUMMY_FILES[name]
    for rel in made:
        assert (tmp_path / "dummy" / rel).read_bytes() == (dummy / rel).read_bytes(), rel
