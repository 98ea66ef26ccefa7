"""The student-training input pipeline (Sections III-D and IV-A of Ge et al., TIP 2019).

A student run sees low-resolution faces F~_ij, each degraded from the high-resolution face F_i whose row id it
carries. Everything known about F_i lives in a `SourceTable` keyed by row id: its identity label l_i, the cached
teacher feature f_i = phi^_t(F_i) (Eq. 2) and the selection flag alpha_i (Eq. 3). `StudentData` pairs a table with a
source of crops (`skd_tf.data.sources`): `CropArrays` (pre-degraded crops in memory) or `DegradedFaces`
(high-resolution faces streamed from TFDS and degraded on the fly).

One pipeline for both sources: per epoch e the source yields `(images [b, p, p, 3], row ids [b])` replica batches
(a seeded shuffle that depends only on (seed, e), so a run resumed at epoch k sees the batches of an uninterrupted
one); then the join (row id -> table position through a hash table inside the tf.data graph, never by position:
label, feature, alpha) and prefetch. A row with no feature raises a ValueError naming the missing row ids before
anything runs. Under tf.distribute, `make_distributed_dataset` builds one such pipeline per worker
(`distribute_datasets_from_function`); each reads only its share of every global batch.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import tensorflow as tf

from skd_tf.data.sources import (AUTOTUNE, BatchPlan, CropArrays, DegradedFaces, Degradation, FaceSource,
                                 TfdsFaces)


@dataclasses.dataclass
class SourceTable:
    """Per high-resolution face F_i, keyed by row id: label l_i, teacher feature f_i (optional), alpha_i (optional).

    `row_ids [N]` int64 (unique), `labels [N]` int64 in 0..C-1, `features [N, D]` float32 or None,
    `alpha [N]` float32 (bool accepted) or None. All arrays are aligned with `row_ids`.
    """
    row_ids: np.ndarray
    labels: np.ndarray
    features: np.ndarray | None = None
    alpha: np.ndarray | None = None

    def __post_init__(self):
        self.row_ids = np.asarray(self.row_ids).astype(np.int64).reshape(-1)
        n = len(self.row_ids)
        if len(np.unique(self.row_ids)) != n:
            raise ValueError("SourceTable.row_ids: expected unique row ids, found duplicates")
        self.labels = np.asarray(self.labels)
        if self.labels.shape != (n,) or not np.issubdtype(self.labels.dtype, np.integer):
            raise ValueError(f"SourceTable.labels: expected int [{n}] aligned with row_ids, got "
                             f"{self.labels.dtype} {self.labels.shape}")
        self.labels = self.labels.astype(np.int64)
        if n and self.labels.min() < 0:
            raise ValueError("SourceTable.labels: expected contiguous class ids >= 0")
        if self.features is not None:
            self.features = np.asarray(self.features, dtype=np.float32)
            if self.features.ndim != 2 or self.features.shape[0] != n:
                raise ValueError(f"SourceTable.features: expected float [{n}, D] aligned with row_ids, got "
                                 f"{self.features.shape}")
            if not np.all(np.isfinite(self.features)):
                raise ValueError("SourceTable.features: contains NaN or inf")
        if self.alpha is not None:
            self.alpha = np.asarray(self.alpha).astype(np.float32).reshape(-1)
            if self.alpha.shape != (n,):
                raise ValueError(f"SourceTable.alpha: expected [{n}] aligned with row_ids, got {self.alpha.shape}")

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    @property
    def feature_dim(self) -> int | None:
        return None if self.features is None else int(self.features.shape[1])

    @classmethod
    def join(cls, row_ids, labels, features=None, feature_row_ids=None, alpha=None,
             alpha_row_ids=None) -> "SourceTable":
        """Builds a table from per-row labels plus features / alpha that may come in another row order.

        `features` is an array `[N', D]` with `feature_row_ids [N']`, or a feature-cache directory read with
        `skd_tf.features.cache.load_features`. `alpha` is `[N'']` with `alpha_row_ids` (default: aligned with
        `row_ids`). Every row id in `row_ids` must have a feature (and an alpha) or a ValueError lists the missing ids.
        """
        row_ids = np.asarray(row_ids).astype(np.int64).reshape(-1)
        feats = None
        if features is not None:
            if isinstance(features, (str, bytes)) or hasattr(features, "__fspath__"):
                from skd_tf.features.cache import load_features  # the teacher-feature cache
                features, feature_row_ids = load_features(features)
            if feature_row_ids is None:
                raise ValueError("SourceTable.join: feature_row_ids is required with a feature array")
            feats = np.asarray(features, dtype=np.float32)[_positions(feature_row_ids, row_ids, "feature")]
        a = None
        if alpha is not None:
            a = np.asarray(alpha).astype(np.float32).reshape(-1)
            if alpha_row_ids is not None:
                a = a[_positions(alpha_row_ids, row_ids, "alpha")]
        return cls(row_ids=row_ids, labels=labels, features=feats, alpha=a)


def _positions(table_ids, wanted_ids, what: str) -> np.ndarray:
    """Index into `table_ids` of every id in `wanted_ids`; ValueError naming the ids that are absent."""
    table_ids = np.asarray(table_ids).astype(np.int64).reshape(-1)
    wanted_ids = np.asarray(wanted_ids).astype(np.int64).reshape(-1)
    order = np.argsort(table_ids, kind="stable")
    sorted_ids = table_ids[order]
    if len(np.unique(sorted_ids)) != len(sorted_ids):
        raise ValueError(f"{what} row ids: expected unique row ids, found duplicates")
    pos = np.searchsorted(sorted_ids, wanted_ids)
    pos_c = np.minimum(pos, max(len(sorted_ids) - 1, 0))
    ok = (pos < len(sorted_ids)) & (sorted_ids[pos_c] == wanted_ids) if len(sorted_ids) else \
        np.zeros(len(wanted_ids), bool)
    if not ok.all():
        missing = np.unique(wanted_ids[~ok])
        shown = ", ".join(str(i) for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise ValueError(f"no {what} for {len(missing)} row id(s): {shown}")
    return order[pos_c]


def check_join(source_rows, table: SourceTable, need_features: bool, need_alpha: bool = False) -> np.ndarray:
    """Validates that every face's source row is in `table` (with a feature when needed); returns table indices."""
    if need_features and table.features is None:
        raise ValueError("SourceTable.features: this supervision mode needs teacher features, got none")
    if need_alpha and table.alpha is None:
        raise ValueError("SourceTable.alpha: this supervision mode needs the selection alpha, got none")
    return _positions(table.row_ids, source_rows, "feature/label" if need_features else "label")


@dataclasses.dataclass
class StudentData:
    """A student's training (or validation) faces: a crop `source` (`CropArrays` or `DegradedFaces`) joined by row
    id with the per-row `table` (labels, teacher features, alpha). Faces of a streamed split whose row id is not in
    the table are skipped, so a table of training people selects them from a larger dataset."""
    source: FaceSource
    table: SourceTable

    def __post_init__(self):
        check_join(self.source.rows_used(self.table.row_ids), self.table, need_features=False)
        if self.source.crops_per_epoch(self.table.row_ids) == 0:
            raise ValueError("StudentData: no face of the source is in the table (empty training set)")

    @classmethod
    def build(cls, images, source_rows, row_ids, labels, features=None, feature_row_ids=None, alpha=None,
              alpha_row_ids=None) -> "StudentData":
        """In-memory crops `images [M, p, p, 3]` degraded from the faces `source_rows [M]`; `labels [N]` aligned
        with `row_ids [N]`; `features` an array with `feature_row_ids` or a feature-cache directory; `alpha` aligned
        with `row_ids` unless `alpha_row_ids` is given. Joined by row id."""
        table = SourceTable.join(row_ids, labels, features, feature_row_ids, alpha, alpha_row_ids)
        return cls(CropArrays(images, source_rows), table)

    @classmethod
    def stream(cls, faces: TfdsFaces, degradation: Degradation, table: SourceTable | None = None, *,
               features=None, feature_row_ids=None, alpha=None, alpha_row_ids=None) -> "StudentData":
        """High-resolution `faces` degraded on the fly. The table defaults to every face of the split with its TFDS
        label, joined with `features` / `alpha` by row id (as `SourceTable.join`)."""
        if table is None:
            table = SourceTable.join(faces.row_ids, faces.labels, features, feature_row_ids, alpha, alpha_row_ids)
        return cls(DegradedFaces(faces, degradation), table)

    @property
    def resolution(self) -> int:
        return self.source.resolution

    def describe(self) -> dict:
        """What the crops are (recorded in a stage's settings, so a resumed stage reads the same data)."""
        return self.source.describe()

    def __len__(self) -> int:
        """Crops per epoch."""
        return self.source.crops_per_epoch(self.table.row_ids)

    def steps_per_epoch(self, batch_size: int, num_replicas: int = 1) -> int:
        """Training steps (global batches of `batch_size`) per epoch; under distribution every batch is full."""
        plan = BatchPlan(batch_size, batch_size // max(num_replicas, 1) or 1, drop_remainder=num_replicas > 1)
        return self.source.steps_per_epoch(self.table.row_ids, plan)


def make_dataset(data: StudentData, batch_size: int = 256, *, with_features: bool = True, shuffle: bool = True,
                 seed: int = 0, first_epoch: int = 0, num_epochs: int = 1, shuffle_buffer: int | None = None,
                 input_context: tf.distribute.InputContext | None = None, prefetch=AUTOTUNE) -> tf.data.Dataset:
    """The student-training tf.data pipeline: `(image uint8 [b,p,p,3], {"label", "feature", "alpha", "row_id"})`.

    Epochs `first_epoch .. first_epoch + num_epochs - 1` are concatenated; each epoch
    is shuffled from (seed, epoch) (in-memory crops: over a buffer of `shuffle_buffer` crops, default all of them,
    i.e. a uniform permutation; streamed faces: a crop buffer of `shuffle_buffer`, default 16,384) and batched
    separately, so batches never straddle epochs. `batch_size` is the global batch; with an `input_context` (one
    worker's pipeline under `distribute_datasets_from_function`) this pipeline yields its replicas' share of every
    global batch. `with_features=False` (mode `c`) leaves features and alpha out. A missing alpha counts as
    alpha = 1 (direct distillation).
    """
    table, source = data.table, data.source
    if int(num_epochs) < 1:
        raise ValueError(f"num_epochs: expected >= 1, got {num_epochs}")
    check_join(source.rows_used(table.row_ids), table, need_features=with_features)
    plan = BatchPlan.from_context(int(batch_size), input_context)
    # The on-the-fly join: row id -> table position, through a hash table in the graph.
    lookup = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(table.row_ids), tf.range(len(table.row_ids), dtype=tf.int64)),
        default_value=-1)
    labels_t = tf.constant(table.labels)
    feats_t = tf.constant(table.features) if with_features else None
    alpha_t = tf.constant(table.alpha if table.alpha is not None else np.ones(len(table.row_ids), np.float32))

    def join(images, rows):
        t = lookup.lookup(rows)
        with tf.control_dependencies([tf.debugging.assert_non_negative(
                t, message="source row id missing from the SourceTable")]):
            t = tf.identity(t)
        y = {"label": tf.gather(labels_t, t), "row_id": rows}
        if with_features:
            y["feature"] = tf.gather(feats_t, t)
            y["alpha"] = tf.gather(alpha_t, t)
        return images, y

    epoch = source.epochs(plan, table.row_ids, shuffle=shuffle, seed=seed, shuffle_buffer=shuffle_buffer)
    # Epochs are built one by one with Python-int seeds: Dataset.shuffle does not take a tensor seed once a global
    # seed is set (train_student sets one), and every epoch's order must be a pure function of (seed, epoch).
    ds = epoch(int(first_epoch))
    for e in range(int(first_epoch) + 1, int(first_epoch) + int(num_epochs)):
        ds = ds.concatenate(epoch(e))
    ds = ds.map(join, num_parallel_calls=AUTOTUNE)
    options = tf.data.Options()
    # Each pipeline already holds only its own share; nothing for tf.distribute to shard again.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(prefetch)


def make_distributed_dataset(strategy: tf.distribute.Strategy, data: StudentData, batch_size: int, **kwargs):
    """`make_dataset` under `strategy`: one pipeline per worker (`distribute_datasets_from_function`), each reading
    only its part of the data, together yielding exactly the global batches of a single-worker run."""
    return strategy.distribute_datasets_from_function(
        lambda context: make_dataset(data, batch_size, input_context=context, **kwargs))


__all__: Sequence[str] = ("SourceTable", "StudentData", "check_join", "make_dataset", "make_distributed_dataset")
