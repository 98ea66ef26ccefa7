"""tf.data input pipeline for student training (Sections III-D and IV-A of Ge et al., TIP 2019).

A student run sees M low-resolution faces F~_ij (`images [M, p, p, 3]` uint8), each degraded from the
high-resolution face F_i whose row id is `source_rows[m]`. Everything known about F_i lives in a `SourceTable` keyed
by row id: its identity label l_i, the cached teacher feature f_i = phi^_t(F_i) (Eq. 2) and the selection flag
alpha_i (Eq. 3). Training examples `(image, {label, feature, alpha})` are joined by row id through a hash table inside
the tf.data graph ("on-the-fly join"), never by position: a row with no feature raises a ValueError naming the missing
row ids before anything runs.

Pipeline: indices 0..M-1 -> seeded shuffle (a new, repeatable order per epoch: seed_e = f(seed, e)) -> batch ->
parallel map (gather images, look up row ids, gather label / feature / alpha) -> prefetch. Epoch e's order depends
only on (seed, e), so a run resumed at epoch k sees the same batches as an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


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


def epoch_seed(seed: int, epoch) -> tf.Tensor:
    """The stateless shuffle seed `[2]` of epoch `epoch`: a pure function of (seed, epoch), so resumed runs repeat
    it (a stateful `Dataset.shuffle` would restart its sequence of orders in a resumed process)."""
    return tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64) + 17])


def _seeded_buffer_shuffle(idx: tf.Tensor, seed: tf.Tensor, buffer: int) -> tf.Tensor:
    """Shuffles `idx` with a stateless seed. With `buffer >= len(idx)` this is a uniform permutation; a smaller
    buffer shuffles within consecutive blocks of `buffer` items and visits the blocks in a random order (the
    locality of a shuffle buffer, without its state)."""
    m = tf.shape(idx, out_type=tf.int64)[0]
    keys = tf.random.stateless_uniform(tf.shape(idx), seed=seed, dtype=tf.float64)
    if buffer < int(idx.shape[0] or 2**62):
        block = tf.range(m) // buffer
        block_keys = tf.random.stateless_uniform([(m + buffer - 1) // buffer], seed=seed + [0, 7919],
                                                 dtype=tf.float64)
        block_rank = tf.argsort(tf.argsort(block_keys))
        keys = tf.cast(tf.gather(block_rank, block), tf.float64) * 2.0 + keys
    return tf.gather(idx, tf.argsort(keys, stable=True))


def make_dataset(images: np.ndarray, source_rows: np.ndarray, table: SourceTable, batch_size: int = 256, *,
                 with_features: bool = True, shuffle: bool = True, seed: int = 0, first_epoch: int = 0,
                 num_epochs: int | None = 1, shuffle_buffer: int | None = None, drop_remainder: bool = False,
                 num_parallel_calls=AUTOTUNE, prefetch=AUTOTUNE, deterministic: bool = True) -> tf.data.Dataset:
    """The student-training tf.data pipeline: `(image uint8 [B,p,p,3], {"label", "feature", "alpha"})` batches.

    Epochs `first_epoch .. first_epoch + num_epochs - 1` are concatenated (`num_epochs=None`: forever); each epoch
    is shuffled with `epoch_seed(seed, e)` over a buffer of `shuffle_buffer` faces (default: all of them, i.e. a
    uniform permutation) and batched separately, so batches never straddle epochs. `with_features=False` (mode `c`)
    leaves features and alpha out. A missing alpha is treated as alpha = 1 (direct distillation).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images: expected [M, p, p, 3], got {images.shape}")
    source_rows = np.asarray(source_rows).astype(np.int64).reshape(-1)
    if len(source_rows) != len(images):
        raise ValueError(f"source_rows: expected [{len(images)}] (one per image), got {len(source_rows)}")
    check_join(source_rows, table, need_features=with_features)
    m = len(images)
    if m == 0:
        raise ValueError("images: empty training set")
    buffer = int(shuffle_buffer or m)

    images_t = tf.constant(images) if images.dtype == np.uint8 else tf.constant(images, tf.float32)
    rows_t = tf.constant(source_rows)
    # The on-the-fly join: row id -> table position, through a hash table in the graph.
    lookup = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(table.row_ids), tf.range(len(table.row_ids), dtype=tf.int64)),
        default_value=-1)
    labels_t = tf.constant(table.labels)
    feats_t = tf.constant(table.features) if with_features else None
    alpha_np = table.alpha if table.alpha is not None else np.ones(len(table.row_ids), np.float32)
    alpha_t = tf.constant(alpha_np)

    def epoch_indices(epoch):
        idx = tf.range(m, dtype=tf.int64)
        if shuffle:
            idx = _seeded_buffer_shuffle(idx, epoch_seed(seed, epoch), buffer)
        return tf.data.Dataset.from_tensor_slices(idx).batch(batch_size, drop_remainder=drop_remainder)

    def gather(idx):
        t = lookup.lookup(tf.gather(rows_t, idx))
        with tf.control_dependencies([tf.debugging.assert_non_negative(
                t, message="source row id missing from the SourceTable")]):
            t = tf.identity(t)
        y = {"label": tf.gather(labels_t, t)}
        if with_features:
            y["feature"] = tf.gather(feats_t, t)
            y["alpha"] = tf.gather(alpha_t, t)
        return tf.gather(images_t, idx), y

    epochs = tf.data.Dataset.range(first_epoch, first_epoch + num_epochs) if num_epochs is not None else \
        tf.data.Dataset.counter(first_epoch)
    ds = epochs.flat_map(epoch_indices)
    ds = ds.map(gather, num_parallel_calls=num_parallel_calls, deterministic=deterministic)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options)
    return ds.prefetch(prefetch)


def steps_per_epoch(num_images: int, batch_size: int, drop_remainder: bool = False) -> int:
    return num_images // batch_size if drop_remainder else -(-num_images // batch_size)


__all__: Sequence[str] = ("SourceTable", "make_dataset", "check_join", "steps_per_epoch", "epoch_seed")
