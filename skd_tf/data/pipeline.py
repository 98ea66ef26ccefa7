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
anything runs; so do features that are not `[N', D]` with one row per row id or hold NaN / inf, and alpha values other
than booleans / 0 / 1 (`check_features`, `check_alpha`: the input and its first offending row are named). Under
tf.distribute, `make_distributed_dataset` builds one such pipeline per worker (`distribute_datasets_from_function`);
each reads only its share of every global batch.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import tensorflow as tf

from skd_tf.data.sources import AUTOTUNE, BatchPlan, CropArrays, Degradation, DegradedFaces, FaceSource, TfdsFaces


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
            self.features = check_features(self.features, self.row_ids, "SourceTable.features")
        if self.alpha is not None:
            self.alpha = check_alpha(self.alpha, "SourceTable.alpha", self.row_ids)

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    @property
    def feature_dim(self) -> int | None:
        return None if self.features is None else int(self.features.shape[1])

    @classmethod
    def join(cls, row_ids, labels, features=None, feature_row_ids=None, alpha=None,
             alpha_row_ids=None, *, sources=None) -> "SourceTable":
        """Builds a table from per-row labels plus features / alpha that may come in another row order.

        `features` is an array `[N', D]` with `feature_row_ids [N']`, or a feature-cache directory read with
        `skd_tf.features.cache.load_features`. `alpha` is `[N'']` (booleans or 0/1) with `alpha_row_ids` (default:
        aligned with `row_ids`). Every row id in `row_ids` must have a feature (and an alpha) or a ValueError lists the
        missing ids. Features and alpha are checked in their own row order (shape, finiteness, alpha in {0, 1}), so an
        error names the offending row of the input it comes from.

        `sources`: optional names of the inputs (`{"labels": ..., "features": ..., "alpha": ...}`, e.g. their files)
        that errors are reported against; by default the fields of the table (a feature-cache directory: its path).
        """
        src = {k: str(v) for k, v in dict(sources or {}).items() if v is not None}
        row_ids = np.asarray(row_ids).astype(np.int64).reshape(-1)
        feats = None
        if features is not None:
            if isinstance(features, (str, bytes)) or hasattr(features, "__fspath__"):
                from skd_tf.features.cache import load_features  # the teacher-feature cache
                src.setdefault("features", str(features))
                features, feature_row_ids = load_features(features)
            features_name = src.get("features", "SourceTable.features")
            if feature_row_ids is None:
                raise ValueError(f"{features_name}: feature_row_ids is required with a feature array")
            features, feature_row_ids = check_features(features, feature_row_ids, features_name,
                                                       row_ids_field="feature_row_ids", own_row_ids=True)
            feats = features[_positions(feature_row_ids, row_ids, "feature", features_name,
                                        src.get("labels"))]
        a = None
        if alpha is not None:
            alpha_name = src.get("alpha", "SourceTable.alpha")
            if alpha_row_ids is not None:
                alpha_row_ids = check_row_ids(alpha_row_ids, alpha_name, "alpha_row_ids")
                a = check_alpha(alpha, alpha_name, alpha_row_ids, n=len(alpha_row_ids))
                a = a[_positions(alpha_row_ids, row_ids, "alpha", alpha_name, src.get("labels"))]
            else:
                a = check_alpha(alpha, alpha_name, row_ids, n=len(row_ids))
        try:
            return cls(row_ids=row_ids, labels=labels, features=feats, alpha=a)
        except ValueError as e:
            if "labels" in src:
                raise ValueError(f"{src['labels']}: {e}") from None
            raise


def check_row_ids(row_ids, name: str, field: str) -> np.ndarray:
    """`row_ids` as int64 `[N]`; ValueError naming `name` and `field` unless it is a 1-D array of whole numbers."""
    ids = np.asarray(row_ids)
    if ids.ndim != 1 or not (np.issubdtype(ids.dtype, np.integer) or ids.size == 0 or (
            np.issubdtype(ids.dtype, np.floating) and np.all(np.isfinite(ids)) and np.all(ids == np.round(ids)))):
        raise ValueError(f"{name}: {field}: expected a 1-D array of integer row ids, got {ids.dtype} {ids.shape}")
    return ids.astype(np.int64)


def check_features(features, row_ids, name: str = "features", *, row_ids_field: str = "row_ids",
                   own_row_ids: bool = False):
    """Teacher features `[N, D]` (finite, real) with one row per id of `row_ids [N]`; ValueError naming `name` (the
    file or field), the shapes, or the first row (and its row id) holding NaN / inf.

    With `own_row_ids` (`row_ids`, called `row_ids_field` in messages, come with the features and are checked too):
    returns `(float32 features, int64 row ids)`; otherwise (`row_ids` are the table's) the float32 features."""
    own = bool(own_row_ids)
    ids = check_row_ids(row_ids, name, row_ids_field) if own else np.asarray(row_ids).astype(np.int64).reshape(-1)
    f = np.asarray(features)
    if f.dtype == object or not (np.issubdtype(f.dtype, np.floating) or np.issubdtype(f.dtype, np.integer)):
        raise ValueError(f"{name}: expected teacher features as a real float array [N, D], got dtype {f.dtype}")
    if f.ndim != 2 or f.shape[0] != len(ids):
        raise ValueError(f"{name}: expected teacher features of shape [{len(ids)}, D] (one row per row id; "
                         f"{row_ids_field} has shape {ids.shape}), got shape {f.shape}")
    f = f.astype(np.float32, copy=False)
    finite = np.isfinite(f).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(f"{name}: teacher features contain NaN or inf in {len(bad)} row(s), first at row {bad[0]} "
                         f"(row id {ids[bad[0]]}); expected finite features (recompute them)")
    return (f, ids) if own else f


def check_alpha(alpha, name: str = "alpha", row_ids=None, *, n: int | None = None) -> np.ndarray:
    """The selection flags alpha_i of Eq. 3 as float32 0/1: booleans, or numbers that are exactly 0 or 1 (a NaN or a
    7.0 would silently drop or scale the regression loss of Eq. 4). ValueError naming `name` (the file or field),
    the expected length `n` (default: len(row_ids)) and the first offending row (with its row id)."""
    a = np.asarray(alpha)
    n = len(row_ids) if n is None and row_ids is not None else n
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        raise ValueError(f"{name}: expected alpha as a 1-D array of {n if n is not None else 'N'} booleans (one per "
                         f"row id), got shape {a.shape}")
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{name}: expected alpha as booleans or 0/1, got dtype {a.dtype}")
    ok = (a == 0) | (a == 1)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        where = f"row {i}" + (f" (row id {int(np.asarray(row_ids).reshape(-1)[i])})" if row_ids is not None else "")
        raise ValueError(f"{name}: expected alpha as booleans or 0/1 (alpha_i of Eq. 3), got {a[i].item()!r} at "
                         f"{where}; {int((~ok).sum())} value(s) are neither 0 nor 1")
    return a.astype(np.float32)


def _positions(table_ids, wanted_ids, what: str, name: str | None = None,
               wanted_name: str | None = None) -> np.ndarray:
    """Index into `table_ids` of every id in `wanted_ids`; ValueError naming the ids that are absent (and `name`, the
    input holding `table_ids`, and `wanted_name`, the one asking for `wanted_ids`, when given)."""
    table_ids = np.asarray(table_ids).astype(np.int64).reshape(-1)
    wanted_ids = np.asarray(wanted_ids).astype(np.int64).reshape(-1)
    order = np.argsort(table_ids, kind="stable")
    sorted_ids = table_ids[order]
    if len(np.unique(sorted_ids)) != len(sorted_ids):
        dup = sorted_ids[1:][sorted_ids[1:] == sorted_ids[:-1]][0]
        raise ValueError(f"{name + ': ' if name else ''}{what} row ids: expected unique row ids, found duplicates "
                         f"(row id {dup})")
    pos = np.searchsorted(sorted_ids, wanted_ids)
    pos_c = np.minimum(pos, max(len(sorted_ids) - 1, 0))
    ok = (pos < len(sorted_ids)) & (sorted_ids[pos_c] == wanted_ids) if len(sorted_ids) else \
        np.zeros(len(wanted_ids), bool)
    if not ok.all():
        missing = np.unique(wanted_ids[~ok])
        shown = ", ".join(str(i) for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
        of = f" of {wanted_name}" if wanted_name else ""
        raise ValueError(f"{name + ': ' if name else ''}no {what} for {len(missing)} row id(s){of}: {shown}")
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
               features=None, feature_row_ids=None, alpha=None, alpha_row_ids=None,
               crop_cache=None) -> "StudentData":
        """High-resolution `faces` degraded on the fly. The table defaults to every face of the split with its TFDS
        label, joined with `features` / `alpha` by row id (as `SourceTable.join`). `crop_cache`: a folder where fixed
        crops are rendered once and streamed from afterwards (`DegradedFaces`)."""
        if table is None:
            table = SourceTable.join(faces.row_ids, faces.labels, features, feature_row_ids, alpha, alpha_row_ids)
        return cls(DegradedFaces(faces, degradation, crop_cache=crop_cache), table)

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
                 input_context: tf.distribute.InputContext | None = None, prefetch=AUTOTUNE,
                 flip: bool = False) -> tf.data.Dataset:
    """The student-training tf.data pipeline: `(image uint8 [b,p,p,3], {"label", "feature", "alpha", "row_id"})`.

    Epochs `first_epoch .. first_epoch + num_epochs - 1` are concatenated; each epoch
    is shuffled from (seed, epoch) (in-memory crops: over a buffer of `shuffle_buffer` crops, default all of them,
    i.e. a uniform permutation; streamed faces: a crop buffer of `shuffle_buffer`, default 16,384) and batched
    separately, so batches never straddle epochs. `batch_size` is the global batch; with an `input_context` (one
    worker's pipeline under `distribute_datasets_from_function`) this pipeline yields its replicas' share of every
    global batch. `with_features=False` (mode `c`) leaves features and alpha out. A missing alpha counts as
    alpha = 1 (direct distillation). `flip`: each epoch mirrors the crops of half of the faces (`mirror`).
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
    def epoch_batches(e: int) -> tf.data.Dataset:
        ds = epoch(e)
        return ds.map(lambda im, rows: (mirror(im, rows, seed, e), rows)) if flip else ds

    ds = epoch_batches(int(first_epoch))
    for e in range(int(first_epoch) + 1, int(first_epoch) + int(num_epochs)):
        ds = ds.concatenate(epoch_batches(e))
    ds = ds.map(join, num_parallel_calls=AUTOTUNE)
    options = tf.data.Options()
    # Each pipeline already holds only its own share; nothing for tf.distribute to shard again.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(prefetch)


def mirror(images: tf.Tensor, rows: tf.Tensor, seed: int, epoch: int) -> tf.Tensor:
    """Horizontal flips for a batch `images [b, p, p, 3]` of faces `rows [b]`: a face's crops are mirrored in epoch
    `epoch` iff bit 16 of a multiplicative hash of (row id, epoch, seed) is set, so the choice is a pure function of
    them (the same under any batching, sharding or resume) and about half of the faces are mirrored each epoch."""
    key = (rows * 2654435761 + (int(epoch) * 40503 + int(seed) * 9973)) % (2 ** 31)
    flipped = tf.bitwise.bitwise_and(tf.bitwise.right_shift(key, 16), 1) > 0
    return tf.where(flipped[:, None, None, None], tf.reverse(images, axis=[2]), images)


def make_distributed_dataset(strategy: tf.distribute.Strategy, data: StudentData, batch_size: int, **kwargs):
    """`make_dataset` under `strategy`: one pipeline per worker (`distribute_datasets_from_function`), each reading
    only its part of the data, together yielding exactly the global batches of a single-worker run."""
    return strategy.distribute_datasets_from_function(
        lambda context: make_dataset(data, batch_size, input_context=context, **kwargs))


__all__: Sequence[str] = ("SourceTable", "StudentData", "check_alpha", "check_features", "check_join", "check_row_ids",
                          "make_dataset", "make_distributed_dataset", "mirror")
