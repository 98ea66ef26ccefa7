"""Files a student run reads: the training faces, the teacher-feature cache, the selection alpha.

- Training faces, one of:
  - `tfds:NAME` (a TFDS dataset with its config, under `data_dir`) or the folder of a prepared TFDS dataset: high-
    resolution chips with landmarks, labels and row ids (the UMDFaces and face-folder builders), streamed and
    degraded on the fly by a `skd_tf.data.sources.Degradation` (memory does not grow with the dataset);
  - a student set `.npz` (`save_student_arrays`): `images [M, p, p, 3]` uint8, `source_rows [M]` int64 (row id of
    the high-resolution face each image was degraded from), `row_ids [N]` int64 and `labels [N]` int64 (per source
    row), held in memory.
- Teacher features: a `skd_tf.features.cache` directory, or an `.npz` with `features [N', D]` and `row_ids [N']`.
- Selection: `alpha.npy` as written by `experiments.select` (N' booleans in the teacher features' row order), the
  folder holding it, or an `.npz` with `alpha` and `row_ids`.
Everything is joined by row id (`skd_tf.data.pipeline.SourceTable.join`). Each file is checked as it is read, before
any training, and an error names the file it is about: the features file for unreadable, mis-shaped or non-finite
features and for training rows it has no feature for, the selection file for alpha values other than booleans / 0 / 1
(with the first offending row and its row id), the training set for its own arrays and labels.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from skd_tf.data.pipeline import SourceTable, StudentData, check_alpha, check_features, check_row_ids
from skd_tf.data.sources import CropArrays, Degradation, TfdsFaces
from skd_tf.utils.io import atomic_path, read_npy, read_npz

STUDENT_KEYS = ("images", "source_rows", "row_ids", "labels")


def save_student_arrays(path: str | os.PathLike, images, source_rows, row_ids, labels) -> None:
    """Writes a student training set `.npz` atomically (see the module docstring)."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, images=np.asarray(images), source_rows=np.asarray(source_rows, np.int64),
                 row_ids=np.asarray(row_ids, np.int64), labels=np.asarray(labels, np.int64))


def load_teacher_features(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """`(features [N, D] float32, row_ids [N] int64)` from a feature-cache directory or an `.npz` (features, row_ids).

    Checked here, naming the file: a missing, truncated or corrupt file, missing arrays, features that are not
    `[N, D]` with one row per row id, and NaN / inf (the first such row and its row id)."""
    path = Path(path)
    if path.is_dir():
        from skd_tf.features.cache import load_features
        features, row_ids = load_features(path)
    elif not path.is_file():
        raise FileNotFoundError(f"teacher features: {path} does not exist (expected a cache directory or .npz)")
    else:
        z = read_npz(path, ("features", "row_ids"), "teacher features")
        features, row_ids = z["features"], z["row_ids"]
    return check_features(features, row_ids, str(path), own_row_ids=True)


def load_selection(path: str | os.PathLike, feature_row_ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """`(alpha [N] float32 0/1, row_ids [N])`; a bare `alpha.npy` is aligned with `feature_row_ids` (the cache's row
    order). Refused naming the file: a missing, truncated or corrupt file, a wrong length, and values other than
    booleans / 0 / 1 (NaN, 7.0, ...: the first such row and its row id)."""
    path = Path(path)
    if path.is_dir():
        path = path / "alpha.npy"
    if not path.is_file():
        raise FileNotFoundError(f"selection: {path} does not exist (expected alpha.npy, its folder or an .npz)")
    if path.suffix == ".npz":
        z = read_npz(path, ("alpha", "row_ids"), "selection")
        rows = check_row_ids(z["row_ids"], str(path), "row_ids")
        return check_alpha(z["alpha"], str(path), rows), rows
    alpha = read_npy(path, "selection alpha")
    if feature_row_ids is None:
        raise ValueError(f"{path}: a bare alpha.npy is aligned with the teacher features' rows; give the features")
    if alpha.shape != (len(feature_row_ids),):
        raise ValueError(f"{path}: expected {len(feature_row_ids)} alpha values (one per teacher feature row), "
                         f"got shape {alpha.shape}")
    return check_alpha(alpha, str(path), feature_row_ids), feature_row_ids


def is_tfds_source(path: str | os.PathLike) -> bool:
    """True for `tfds:NAME` or the folder of a prepared TFDS dataset (it holds `dataset_info.json`)."""
    return str(path).startswith("tfds:") or (Path(path) / "dataset_info.json").is_file()


def load_student_data(path: str | os.PathLike, teacher_features: str | os.PathLike | None = None,
                      selection: str | os.PathLike | None = None, *, degradation: Degradation | None = None,
                      data_dir: str | None = None, id_key: str | None = "auto",
                      input_shards: int = 1, crop_cache: str | os.PathLike | None = None) -> StudentData:
    """Reads the training faces (a TFDS source, streamed with `degradation`, or a student `.npz`; see the module
    docstring) and joins them by row id with the teacher features and the selection. `crop_cache`: TFDS sources with
    fixed sampling render their crops once into this folder (`skd_tf.data.sources.DegradedFaces`)."""
    feats = frows = alpha = arows = None
    if teacher_features is not None:
        feats, frows = load_teacher_features(teacher_features)
    if selection is not None:
        alpha, arows = load_selection(selection, frows)
    if selection is not None and Path(selection).is_dir():
        selection = Path(selection) / "alpha.npy"
    # Each check names the file it is about: the features / selection file for their own arrays and rows (above and
    # in the join), the training set for its arrays, labels and crops.
    sources = {"labels": str(path), "features": teacher_features, "alpha": selection}
    if is_tfds_source(path):
        if degradation is None:
            raise ValueError(f"{path}: a TFDS source is degraded on the fly; give a Degradation (resolution, "
                             f"perturbations)")
        name = str(path)[len("tfds:"):] if str(path).startswith("tfds:") else str(path)
        faces = TfdsFaces(name, data_dir=data_dir, id_key=id_key, input_shards=input_shards)
        table = SourceTable.join(faces.row_ids, faces.labels, feats, frows, alpha, arows, sources=sources)
        try:
            return StudentData.stream(faces, degradation, table, crop_cache=crop_cache)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    path = Path(path)
    if crop_cache is not None:
        raise ValueError(f"crop_cache={crop_cache}: only TFDS sources are degraded on the fly (and so cached); "
                         f"{path} is a student .npz of crops already rendered (drop the crop cache)")
    if not path.is_file():
        raise FileNotFoundError(f"student data: {path} does not exist (expected a student .npz, tfds:NAME or a "
                                f"prepared TFDS dataset folder)")
    arrays = read_npz(path, STUDENT_KEYS, "student training set")
    table = SourceTable.join(arrays["row_ids"], arrays["labels"], feats, frows, alpha, arows, sources=sources)
    try:
        return StudentData(CropArrays(arrays["images"], arrays["source_rows"]), table)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
