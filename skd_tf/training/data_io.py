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
Everything is joined by row id (`skd_tf.data.pipeline.SourceTable.join`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from skd_tf.data.pipeline import StudentData
from skd_tf.data.sources import Degradation, TfdsFaces
from skd_tf.utils.io import atomic_path

STUDENT_KEYS = ("images", "source_rows", "row_ids", "labels")


def save_student_arrays(path: str | os.PathLike, images, source_rows, row_ids, labels) -> None:
    """Writes a student training set `.npz` atomically (see the module docstring)."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, images=np.asarray(images), source_rows=np.asarray(source_rows, np.int64),
                 row_ids=np.asarray(row_ids, np.int64), labels=np.asarray(labels, np.int64))


def load_teacher_features(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """`(features [N, D], row_ids [N])` from a feature-cache directory or an `.npz` (features, row_ids)."""
    path = Path(path)
    if path.is_dir():
        from skd_tf.features.cache import load_features
        return load_features(path)
    if not path.is_file():
        raise FileNotFoundError(f"teacher features: {path} does not exist (expected a cache directory or .npz)")
    with np.load(path) as z:
        missing = {"features", "row_ids"} - set(z.files)
        if missing:
            raise ValueError(f"{path}: expected arrays 'features' and 'row_ids', missing {sorted(missing)}")
        return z["features"], z["row_ids"]


def load_selection(path: str | os.PathLike, feature_row_ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """`(alpha [N], row_ids [N])`; a bare `alpha.npy` is aligned with `feature_row_ids` (the cache's row order)."""
    path = Path(path)
    if path.is_dir():
        path = path / "alpha.npy"
    if not path.is_file():
        raise FileNotFoundError(f"selection: {path} does not exist (expected alpha.npy, its folder or an .npz)")
    if path.suffix == ".npz":
        with np.load(path) as z:
            if "alpha" not in z.files or "row_ids" not in z.files:
                raise ValueError(f"{path}: expected arrays 'alpha' and 'row_ids', got {z.files}")
            return z["alpha"], z["row_ids"]
    alpha = np.load(path)
    if feature_row_ids is None:
        raise ValueError(f"{path}: a bare alpha.npy is aligned with the teacher features' rows; give the features")
    if alpha.shape != (len(feature_row_ids),):
        raise ValueError(f"{path}: expected {len(feature_row_ids)} alpha values (one per teacher feature row), "
                         f"got shape {alpha.shape}")
    return alpha, feature_row_ids


def is_tfds_source(path: str | os.PathLike) -> bool:
    """True for `tfds:NAME` or the folder of a prepared TFDS dataset (it holds `dataset_info.json`)."""
    return str(path).startswith("tfds:") or (Path(path) / "dataset_info.json").is_file()


def load_student_data(path: str | os.PathLike, teacher_features: str | os.PathLike | None = None,
                      selection: str | os.PathLike | None = None, *, degradation: Degradation | None = None,
                      data_dir: str | None = None, id_key: str | None = "auto",
                      input_shards: int = 1) -> StudentData:
    """Reads the training faces (a TFDS source, streamed with `degradation`, or a student `.npz`; see the module
    docstring) and joins them by row id with the teacher features and the selection."""
    feats = frows = alpha = arows = None
    if teacher_features is not None:
        feats, frows = load_teacher_features(teacher_features)
    if selection is not None:
        alpha, arows = load_selection(selection, frows)
    if is_tfds_source(path):
        if degradation is None:
            raise ValueError(f"{path}: a TFDS source is degraded on the fly; give a Degradation (resolution, "
                             f"perturbations)")
        name = str(path)[len("tfds:"):] if str(path).startswith("tfds:") else str(path)
        faces = TfdsFaces(name, data_dir=data_dir, id_key=id_key, input_shards=input_shards)
        try:
            return StudentData.stream(faces, degradation, features=feats, feature_row_ids=frows, alpha=alpha,
                                      alpha_row_ids=arows)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"student data: {path} does not exist (expected a student .npz, tfds:NAME or a "
                                f"prepared TFDS dataset folder)")
    with np.load(path) as z:
        missing = set(STUDENT_KEYS) - set(z.files)
        if missing:
            raise ValueError(f"{path}: expected arrays {STUDENT_KEYS}, missing {sorted(missing)}")
        arrays = {k: z[k] for k in STUDENT_KEYS}
    try:
        return StudentData.build(arrays["images"], arrays["source_rows"], arrays["row_ids"], arrays["labels"],
                                 feats, frows, alpha, arows)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
