"""Teacher feature extraction into the resumable shard cache (paper Section III-C, Eq. 2: f_i = phi^_t(F_i)).

`extract_to_cache(model, source, out_dir, manifest=..., shard_size=..., batch_size=...)` runs a teacher over an
image source and writes `skd_tf.features.cache` shards. Shard k always covers source positions
[k * shard_size, (k + 1) * shard_size), and within a shard the batches are always the same (the last one padded to
the full batch size), so a shard's bytes do not depend on whether the run was interrupted: rerunning after a kill
skips the finished shards and yields a cache identical to an uninterrupted run.

Sources give row ids and aligned uint8 RGB images at the teacher's input size:
- `ArraySource`: images already in memory at the right size;
- `AlignedArraySource`: in-memory images plus 5-point landmarks (e.g. `skd_tf.data.synthetic.FaceSet`), aligned on
  the fly with `skd_tf.data.align.align_face`;
- `LfwFolderSource`: an LFW-layout folder plus a landmarks CSV (`skd_tf.data.lfw.read_landmarks_csv`);
- `TfdsSource`: a TFDS builder with `image` and `landmarks` features, read by split slices.
Each has a `description` (JSON) and a `fingerprint()` that the manifest records, so a cache is never reused for a
different source.

Unusable faces (an image that does not decode completely, a landmark far outside its image, landmarks that cannot be
aligned; `skd_tf.data.images`) follow `on_corrupt`: 'fail' (default) raises `CorruptFaceError` naming the file (and
the CSV line), before any shard is computed where the source can tell without decoding (`ImageSource.precheck`,
e.g. `LfwFolderSource` checks every file's structure and its landmarks against the image's header); 'skip' leaves
the face out of its shard and records it in the manifest's ``skipped`` list (row id, source position, reason), so
`load_features` returns the other faces and a training table that still lists a skipped row id is refused by the
join ("no feature for ... row id(s)").

Length: over 400 lines because the image sources and the resumable extraction loop share one contract (sources yield
shards by position; the loop resumes by shard), kept side by side.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from skd_tf.data.images import DEFAULT_MARGIN, CorruptFaceError, check_landmarks, check_margin, check_on_corrupt
from skd_tf.data.images import read_rgb as read_rgb  # re-exported: the one image reader (skd_tf.data.images)
from skd_tf.features import cache as C

# ------------------------------------------------------------------------------------------------------------ sources

class ImageSource:
    """Base class: `row_ids` (int64 [N], unique), `description` (JSON-able), `load(positions)` -> uint8 [n,H,W,3].

    `load` raises `CorruptFaceError` (naming the file) for an unusable face; `load_checked(positions)` returns
    `(images, reasons)` instead, with a black placeholder and the reason for each unusable face ("" for good ones),
    and `checked_dataset` streams such pairs. `precheck()` lists the faces known to be unusable before any decoding.
    Subclasses may override `dataset` / `checked_dataset(start, stop, batch_size)` to stream positions differently.
    """

    row_ids: np.ndarray
    description: dict[str, Any]

    def __len__(self) -> int:
        return int(self.row_ids.shape[0])

    def load(self, positions: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def chip_shape(self) -> tuple[int, int, int]:
        """The shape of one loaded image (the placeholder of an unusable face)."""
        size = int(getattr(self, "size"))
        return size, size, 3

    def load_checked(self, positions: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """`(images uint8 [n, H, W, 3], reasons [n])`: like `load`, but an unusable face (`CorruptFaceError`) gives a
        black image and its reason instead of raising; reasons of usable faces are ""."""
        positions = np.asarray(positions).reshape(-1)
        try:
            return np.asarray(self.load(positions), dtype=np.uint8), [""] * len(positions)
        except CorruptFaceError:
            pass
        images, reasons = [], []
        for p in positions:  # one by one, to tell the unusable faces from the others
            try:
                images.append(np.asarray(self.load(np.asarray([p]))[0], dtype=np.uint8))
                reasons.append("")
            except CorruptFaceError as err:
                images.append(None)
                reasons.append(str(err))
        shape = next((im.shape for im in images if im is not None), self.chip_shape())
        return np.stack([np.zeros(shape, np.uint8) if im is None else im for im in images]), reasons

    def precheck(self) -> dict[int, str]:
        """`{position: reason}` of faces known to be unusable without decoding them (none by default; sources
        that can tell cheaply, e.g. from file structure and image headers, override it)."""
        return {}

    def fingerprint(self) -> str:
        return C.fingerprint(self.description, self.row_ids)

    def dataset(self, start: int, stop: int, batch_size: int):
        """A `tf.data.Dataset` of uint8 image batches for positions [start, stop), in order, loaded in parallel."""
        import tensorflow as tf

        def load(pos):
            return np.ascontiguousarray(self.load(pos), dtype=np.uint8)

        ds = tf.data.Dataset.range(start, stop).batch(batch_size)
        ds = ds.map(lambda pos: tf.numpy_function(load, [pos], tf.uint8, stateful=False),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(2)

    def checked_dataset(self, start: int, stop: int, batch_size: int):
        """A `tf.data.Dataset` of `(images uint8 [b, H, W, 3], reasons string [b])` batches (`load_checked`)."""
        import tensorflow as tf

        def load(pos):
            images, reasons = self.load_checked(pos)
            return np.ascontiguousarray(images, dtype=np.uint8), np.asarray(reasons, dtype=object)

        ds = tf.data.Dataset.range(start, stop).batch(batch_size)
        ds = ds.map(lambda pos: tf.numpy_function(load, [pos], (tf.uint8, tf.string), stateful=False),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(2)

    def _check_row_ids(self) -> None:
        r = np.asarray(self.row_ids)
        if r.ndim != 1 or not np.issubdtype(r.dtype, np.integer):
            raise ValueError(f"row_ids: expected a 1-D integer array, got {r.dtype} {r.shape}")
        if np.unique(r).size != r.size:
            raise ValueError("row_ids: expected unique row ids, found duplicates")
        self.row_ids = r.astype(np.int64)


class ArraySource(ImageSource):
    """In-memory uint8 images `[N, H, W, 3]` at the teacher's input size."""

    def __init__(self, images: np.ndarray, row_ids: Sequence[int] | None = None,
                 description: Mapping[str, Any] | None = None):
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images: expected [N, H, W, 3], got {images.shape}")
        self.images = images
        self.row_ids = np.arange(len(images)) if row_ids is None else np.asarray(row_ids)
        if len(self.row_ids) != len(images):
            raise ValueError(f"row_ids: expected {len(images)} (one per image), got {len(self.row_ids)}")
        self._check_row_ids()
        self.description = {"kind": "array", "shape": list(images.shape), **dict(description or {})}

    def load(self, positions):
        return self.images[np.asarray(positions)]

    def chip_shape(self):
        return tuple(self.images.shape[1:])

    def fingerprint(self) -> str:
        return C.fingerprint(self.description, self.row_ids, self.images)


class AlignedArraySource(ImageSource):
    """In-memory images with 5-point landmarks, aligned to `size` x `size` chips (`align_face`) when loaded.

    A face whose landmarks lie outside its image by more than `margin` x its size, or cannot be aligned, is unusable
    (`CorruptFaceError` naming its position and row id)."""

    def __init__(self, images: np.ndarray, landmarks: np.ndarray, size: int, padding: float = 0.25,
                 row_ids: Sequence[int] | None = None, description: Mapping[str, Any] | None = None,
                 margin: float = DEFAULT_MARGIN):
        self.margin = check_margin(margin)
        self.images = np.asarray(images)
        self.landmarks = np.asarray(landmarks, dtype=np.float32)
        if self.landmarks.shape != (len(self.images), 5, 2):
            raise ValueError(f"landmarks: expected [{len(self.images)}, 5, 2], got {self.landmarks.shape}")
        self.size, self.padding = int(size), float(padding)
        self.row_ids = np.arange(len(self.images)) if row_ids is None else np.asarray(row_ids)
        if len(self.row_ids) != len(self.images):
            raise ValueError(f"row_ids: expected {len(self.images)} (one per image), got {len(self.row_ids)}")
        self._check_row_ids()
        self.description = {"kind": "aligned_array", "count": len(self.images), "size": self.size,
                            "padding": self.padding, **dict(description or {})}

    def _where(self, p: int) -> str:
        name = self.description.get("path") or "in-memory images"
        return f"{name}: face {int(p)} (row id {int(self.row_ids[p])})"

    def load(self, positions):
        return np.stack([_aligned(self.images[p], self.landmarks[p], self.size, self.padding, self._where(p),
                                  self.margin) for p in np.asarray(positions)])

    def precheck(self) -> dict[int, str]:
        if getattr(self, "_problems", None) is not None:
            return dict(self._problems)
        problems = {}
        for p in range(len(self.images)):
            try:
                check_landmarks(self.landmarks[p], np.shape(self.images[p]), self._where(p), self.margin)
            except CorruptFaceError as err:
                problems[p] = str(err)
        self._problems = problems
        return dict(problems)

    def fingerprint(self) -> str:
        return C.fingerprint(self.description, self.row_ids, self.landmarks, self.images)


def _aligned(image: np.ndarray, landmarks: np.ndarray, size: int, padding: float, where: str,
             margin: float) -> np.ndarray:
    """`align_face` after the frame check; an alignment failure (degenerate landmarks) is a `CorruptFaceError`."""
    from skd_tf.data.align import align_face

    check_landmarks(landmarks, np.shape(image), where, margin)
    try:
        return align_face(image, landmarks, size, padding=padding)
    except ValueError as err:
        raise CorruptFaceError(f"{where}: cannot align the face: {err}") from err


class LfwFolderSource(ImageSource):
    """Images of an LFW-layout folder, aligned with their CSV landmarks to `size` x `size` chips.

    Row id r is the image's row in the landmarks CSV (for `../shared/data/lfw/dlib/landmarks5.csv` that is also its
    row in `descriptors.npy`). `limit` keeps the first `limit` (>= 1) rows. Images are read with
    `skd_tf.data.images.read_rgb` (a truncated file is refused) and each face's landmarks must lie within `margin` x
    the image size of its frame; errors name the image and the CSV line. `precheck` checks every image's structure
    and header-size frame before anything is decoded.
    """

    def __init__(self, root: str | os.PathLike, landmarks_csv: str | os.PathLike, size: int, padding: float = 0.25,
                 limit: int | None = None, check_exists: bool = True, margin: float = DEFAULT_MARGIN):
        from skd_tf.data.lfw import read_landmarks_table, verify_images_exist

        self.root = Path(root)
        self.margin = check_margin(margin)
        self.table = table = read_landmarks_table(landmarks_csv)
        paths, landmarks, row_ids = table.paths, table.landmarks, np.arange(len(table.paths))
        if limit is not None:
            if isinstance(limit, bool) or int(limit) != limit or int(limit) < 1:
                raise ValueError(f"limit: expected a positive number of faces (>= 1), got {limit!r}")
            paths, landmarks, row_ids = paths[:int(limit)], landmarks[:int(limit)], row_ids[:int(limit)]
        if check_exists:
            verify_images_exist(self.root, paths, source=str(landmarks_csv), lines=table.lines[:len(paths)])
        self.paths, self.landmarks, self.row_ids = list(paths), landmarks, row_ids
        self._check_row_ids()
        self.size, self.padding = int(size), float(padding)
        self.description = {"kind": "lfw_folder", "root": str(self.root), "landmarks": str(landmarks_csv),
                            "count": len(self.paths), "size": self.size, "padding": self.padding}

    def load(self, positions):
        out = []
        for p in np.asarray(positions):
            row = int(self.row_ids[p])
            image = read_rgb(self.root / self.paths[p])
            out.append(_aligned(image, self.landmarks[p], self.size, self.padding, self.table.where(row, self.root),
                                self.margin))
        return np.stack(out)

    def precheck(self) -> dict[int, str]:
        """Every image's structure and its landmarks against the header's frame (computed once per source)."""
        if getattr(self, "_problems", None) is None:
            problems = self.table.frame_problems(self.root, self.row_ids, self.margin, on_corrupt="skip")
            position = {int(r): p for p, r in enumerate(self.row_ids)}
            self._problems = {position[r]: reason for r, reason in problems.items()}
        return dict(self._problems)

    def fingerprint(self) -> str:
        # Paths, not the folder's location: the same images moved elsewhere are the same source.
        desc = {k: v for k, v in self.description.items() if k not in ("root", "landmarks")}
        return C.fingerprint(desc, self.row_ids, np.asarray(self.paths), self.landmarks)


class TfdsSource(ImageSource):
    """A TFDS split with an `image` (uint8 RGB) and a `landmarks` ([5, 2] pixels, dlib order) feature.

    Row id = the value of feature `id_key` (default "auto": the builders' `row_id` when the dataset has one,
    `skd_tf.data.sources.resolve_id_key`), or with `id_key=None` the position in the split (`shuffle_files=False`;
    the prepared dataset's stored order). Shards are read as split slices (`train[1000:2000]`), so resuming does not
    reread finished shards. `name` may include a config (`umdfaces/aligned_150`) or be the folder of a prepared dataset
    (`<data_dir>/face_folder/aligned_150/1.0.0`). With `prealigned=True` the images are taken as they are (already
    aligned chips of the teacher's size, as the UMDFaces and face-folder builders store them) and the landmarks are
    not needed; otherwise each face's landmarks must lie within `margin` x the image size of its image (an unusable
    face names its split position, row id and `file_name` when the dataset has one).
    """

    def __init__(self, name: str, size: int, padding: float = 0.25, split: str = "train",
                 data_dir: str | None = None, image_key: str = "image", landmarks_key: str = "landmarks",
                 id_key: str | None = "auto", limit: int | None = None, prealigned: bool = False,
                 margin: float = DEFAULT_MARGIN):
        import tensorflow as tf
        import tensorflow_datasets as tfds

        if limit is not None and (isinstance(limit, bool) or int(limit) != limit or int(limit) < 1):
            raise ValueError(f"limit: expected a positive number of faces (>= 1), got {limit!r}")
        self.margin = check_margin(margin)
        self.name, self.split, self.data_dir = name, split, data_dir
        self.image_key, self.landmarks_key, self.id_key = image_key, landmarks_key, id_key
        self.size, self.padding, self.prealigned = int(size), float(padding), bool(prealigned)
        self.builder = tfds.builder_from_directory(name) if os.path.isdir(name) else \
            tfds.builder(name, data_dir=data_dir)
        from skd_tf.data.sources import resolve_id_key

        features = self.builder.info.features
        self.id_key = id_key = resolve_id_key(features, id_key)
        needed = (image_key,) + (() if prealigned else (landmarks_key,)) + ((id_key,) if id_key else ())
        for key in needed:
            if key not in features:
                raise ValueError(f"TFDS {name}: feature {key!r} not found (features: {sorted(features.keys())})")
        shape = tuple(getattr(features[image_key], "shape", ()) or ())
        if prealigned and len(shape) == 3 and shape[:2] != (self.size, self.size) and None not in shape[:2]:
            raise ValueError(f"TFDS {name}: feature {image_key!r} is {shape[0]}x{shape[1]}, but prealigned images must "
                             f"be the teacher's {self.size}x{self.size} (pick the builder config of that size)")
        n = int(self.builder.info.splits[split].num_examples)
        if limit is not None:
            n = min(n, int(limit))
        if id_key:
            ds = self.builder.as_dataset(split=f"{split}[:{n}]", shuffle_files=False,
                                         decoders={image_key: tfds.decode.SkipDecoding()})
            ids = ds.map(lambda ex: tf.cast(ex[id_key], tf.int64)).batch(8192)
            self.row_ids = np.concatenate(list(ids.as_numpy_iterator())) if n else np.zeros(0, np.int64)
        else:
            self.row_ids = np.arange(n)
        self._check_row_ids()
        self.description = {"kind": "tfds", "name": self.builder.name, "config": self.builder.builder_config.name
                            if self.builder.builder_config else None, "version": str(self.builder.info.version),
                            "split": split, "count": n, "size": self.size, "padding": self.padding,
                            "image_key": image_key, "landmarks_key": landmarks_key, "id_key": id_key,
                            "prealigned": self.prealigned}

    def _pipeline(self, start: int, stop: int, batch_size: int, strict: bool):
        """Batches of (images, reasons) for positions [start, stop); `strict` raises on an unusable face instead."""
        import tensorflow as tf

        size, padding, name, split, margin = self.size, self.padding, self.name, self.split, self.margin
        row_ids, has_file = self.row_ids, "file_name" in self.builder.info.features

        def where(pos, file_name) -> str:
            text = file_name.decode("utf-8", "replace") if isinstance(file_name, bytes) else str(file_name)
            return (f"TFDS {name} {split}[{int(pos)}] (row id {int(row_ids[int(pos)])}"
                    + (f", {text})" if text else ")"))

        def checked(fn, pos, file_name, *args):
            try:
                return fn(*args, where(pos, file_name)), b""
            except CorruptFaceError as err:
                if strict:
                    raise
                return np.zeros((size, size, 3), np.uint8), str(err).encode("utf-8")

        def align(image, landmarks, where_):
            return _aligned(image, landmarks, size, padding, where_, margin)

        def as_is(image, where_):
            if image.shape[:2] != (size, size):
                raise ValueError(f"{where_}: prealigned image is {image.shape[0]}x{image.shape[1]}, the teacher "
                                 f"needs {size}x{size}")
            return image

        def file_of(ex):
            return ex["file_name"] if has_file else tf.constant("")

        ds = self.builder.as_dataset(split=f"{self.split}[{start}:{stop}]", shuffle_files=False).enumerate(start)
        if self.prealigned:
            ds = ds.map(lambda pos, ex: tf.numpy_function(
                lambda p, f, im: checked(as_is, p, f, im), [pos, file_of(ex), ex[self.image_key]],
                (tf.uint8, tf.string)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:
            ds = ds.map(lambda pos, ex: tf.numpy_function(
                lambda p, f, im, lm: checked(align, p, f, im, lm),
                [pos, file_of(ex), ex[self.image_key], tf.cast(ex[self.landmarks_key], tf.float32)],
                (tf.uint8, tf.string)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.batch(batch_size).prefetch(2)

    def dataset(self, start: int, stop: int, batch_size: int):
        return self._pipeline(start, stop, batch_size, strict=True).map(lambda images, reasons: images)

    def checked_dataset(self, start: int, stop: int, batch_size: int):
        return self._pipeline(start, stop, batch_size, strict=False)

    def load_checked(self, positions):
        positions = np.asarray(positions).reshape(-1)
        start, stop = int(positions.min()), int(positions.max()) + 1
        batches = list(self.checked_dataset(start, stop, stop - start).as_numpy_iterator())
        images = np.concatenate([b[0] for b in batches])[positions - start]
        reasons = np.concatenate([b[1] for b in batches])[positions - start]
        return images, [r.decode("utf-8") if isinstance(r, bytes) else str(r) for r in reasons]

    def load(self, positions):
        images, reasons = self.load_checked(positions)
        bad = next((r for r in reasons if r), None)
        if bad:
            raise CorruptFaceError(bad)
        return images


# --------------------------------------------------------------------------------------------------------- extraction

def _make_infer(model: Any, output_key: str | None) -> Callable[[np.ndarray], np.ndarray]:
    import keras
    import tensorflow as tf

    if isinstance(model, keras.Model):
        @tf.function(reduce_retracing=True)
        def run(x):
            return model(tf.cast(x, tf.float32), training=False)

        call = run
    else:
        call = model

    def infer(images: np.ndarray) -> np.ndarray:
        out = call(images)
        if isinstance(out, Mapping):
            if output_key is None:
                raise ValueError(f"model returns a dict ({sorted(out)}); pass output_key to choose the feature")
            out = out[output_key]
        return np.asarray(out)

    return infer


def _feature_dim(model: Any, infer, source: ImageSource, output_key: str | None) -> int:
    shape = getattr(model, "output_shape", None)
    if isinstance(shape, dict) and output_key:
        shape = shape.get(output_key)
    if isinstance(shape, tuple) and len(shape) == 2 and isinstance(shape[1], int):
        return int(shape[1])
    probe = infer(np.asarray(source.load_checked(np.arange(1))[0], dtype=np.uint8))
    return int(probe.reshape(probe.shape[0], -1).shape[1])


_SKIP_HINT = "pass on_corrupt='skip' (--on_corrupt=skip) to leave unusable faces out and record them in the manifest"


def check_source(source: ImageSource, on_corrupt: str = "fail") -> dict[int, str]:
    """The faces of `source` known to be unusable before decoding (`source.precheck()`, `{position: reason}`).

    With ``on_corrupt='fail'`` a non-empty result raises `CorruptFaceError` naming the first one and the count, so a
    run stops before its expensive step; `extract_to_cache` calls it first."""
    check_on_corrupt(on_corrupt)
    known = source.precheck()
    if known and on_corrupt == "fail":
        raise CorruptFaceError(f"{known[min(known)]}; {len(known)} unusable face(s) in all; {_SKIP_HINT}")
    return known


def extract_to_cache(model: Any, source: ImageSource, out_dir: str | os.PathLike, *, manifest: Mapping[str, Any],
                     shard_size: int = 1024, batch_size: int = 64, dtype: str = "float32",
                     output_key: str | None = None, progress: bool = True, verify_existing: bool = True,
                     on_shard_done: Callable[[int], None] | None = None, on_corrupt: str = "fail") -> dict[str, Any]:
    """Writes the features of `model` over `source` into a sharded cache at `out_dir`, resuming a killed run.

    Args:
      model: a Keras model (uint8/float RGB 0..255 `[B, H, W, 3]` -> `[B, D]`, or a dict with `output_key`) or any
        callable with that contract.
      source: an `ImageSource`.
      out_dir: the cache directory (created; must be empty, absent or a cache of the same teacher and source).
      manifest: at least `teacher` and `layer`; `feature_dim` optional (taken from the model); other keys are
        recorded and must match on resume.
      shard_size: rows per shard (the last shard may be shorter). batch_size: images per forward pass.
      on_shard_done: called with the shard index after each shard is written (tests use it to simulate a kill).
      on_corrupt: 'fail' raises `CorruptFaceError` naming the first unusable face (before anything is written when
        `source.precheck()` finds it); 'skip' leaves unusable faces out of their shard and lists them in the
        manifest's ``skipped`` (`{"row_id", "position", "reason"}`, in source order). A resumed 'fail' run refuses
        a cache whose finished shards left faces out.

    Returns stats: count, num_shards, computed_shards, skipped_shards (finished shards reused), faces_computed,
    skipped_faces (unusable faces left out of the cache), seconds, faces_per_second.
    Raises `CacheError` for a foreign, mismatched or corrupt cache.
    """
    for key in ("teacher", "layer"):
        if key not in manifest:
            raise ValueError(f"manifest: missing required field {key!r}")
    if isinstance(batch_size, bool) or int(batch_size) < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
    if isinstance(shard_size, bool) or int(shard_size) < 1:
        raise ValueError(f"shard_size: expected a positive integer, got {shard_size}")
    out_dir = Path(out_dir)
    check_source(source, on_corrupt)  # before the model runs or anything is written
    infer = _make_infer(model, output_key)
    extra = {k: v for k, v in manifest.items() if k not in ("teacher", "layer", "feature_dim")}
    feature_dim = manifest.get("feature_dim") or _feature_dim(model, infer, source, output_key)
    wanted = C.make_manifest(teacher=manifest["teacher"], layer=manifest["layer"], feature_dim=feature_dim,
                             dtype=dtype, count=len(source), shard_size=shard_size, source=source.description,
                             source_fingerprint=source.fingerprint(), **extra)
    n, num_shards, shard_size, batch_size = len(source), wanted["num_shards"], int(shard_size), int(batch_size)
    stats = {"count": n, "num_shards": num_shards, "computed_shards": 0, "skipped_shards": 0, "faces_computed": 0,
             "skipped_faces": 0}
    t0 = time.perf_counter()
    with C.writer_lock(out_dir):
        existing = C.check_compatible(out_dir, wanted)
        C.remove_stale_temp_files(out_dir)
        if existing is None:
            C.write_manifest(out_dir, wanted)
        # faces left out by earlier runs, keyed by row id (written to the manifest before their shard)
        left_out = {int(e["row_id"]): dict(e) for e in (existing or {}).get("skipped") or []}
        bar = _progress_bar(n, progress)
        checksums, rows = [], []
        try:
            for k in range(num_shards):
                start, stop = k * shard_size, min(n, (k + 1) * shard_size)
                path = out_dir / C.shard_name(k)
                shard_ids = source.row_ids[start:stop]
                if path.is_file():
                    prev = [left_out[int(r)] for r in shard_ids if int(r) in left_out]
                    if prev and on_corrupt == "fail":
                        raise CorruptFaceError(
                            f"{path}: an earlier run with on_corrupt='skip' left {len(prev)} unusable face(s) out of "
                            f"shard {k} (first: {prev[0]['reason']}); rerun with on_corrupt='skip' "
                            f"(--on_corrupt=skip), or delete {out_dir} to rebuild the cache")
                    expected_ids = shard_ids[~np.isin(shard_ids, [e["row_id"] for e in prev])]
                    feats, ids = C.read_shard(path, verify=verify_existing)
                    if not np.array_equal(ids, expected_ids) or feats.shape[1] != feature_dim \
                            or feats.dtype != np.dtype(dtype):
                        raise C.CacheError(f"{path}: holds rows/features that do not match this source and teacher "
                                           f"(shard {k} should have rows {start}..{stop - 1}"
                                           + (f" less {len(prev)} skipped" if prev else "") + "); delete the cache")
                    checksums.append(C.array_checksum(feats, ids))
                    rows.append(len(ids))
                    stats["skipped_shards"] += 1
                    bar.update(stop - start)
                    continue
                feats = np.empty((stop - start, feature_dim), dtype=dtype)
                keep = np.ones(stop - start, dtype=bool)
                entries = []
                pos = 0
                for images, reasons in _iterate(source.checked_dataset(start, stop, batch_size), k):
                    m = images.shape[0]
                    for j, reason in enumerate(reasons):
                        if not reason:
                            continue
                        reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
                        row_id = int(shard_ids[pos + j])
                        if on_corrupt == "fail":
                            raise CorruptFaceError(f"{reason} (source position {start + pos + j}, row id {row_id}); "
                                                   f"{_SKIP_HINT}")
                        keep[pos + j] = False
                        entries.append({"row_id": row_id, "position": start + pos + j, "reason": reason})
                    if m < batch_size:  # pad so every forward pass has the same shape
                        images = np.concatenate([images, np.repeat(images[-1:], batch_size - m, axis=0)])
                    out = infer(images)
                    out = out.reshape(out.shape[0], -1)[:m]
                    if out.shape[1] != feature_dim:
                        raise ValueError(f"model output has {out.shape[1]} features, expected {feature_dim}")
                    feats[pos:pos + m] = out
                    pos += m
                    bar.update(m)
                if pos != stop - start:
                    raise ValueError(f"source gave {pos} images for shard {k}, expected {stop - start}")
                if not np.all(np.isfinite(feats[keep])):
                    raise ValueError(f"shard {k}: the model produced NaN or inf features")
                in_shard = set(int(r) for r in shard_ids)
                stale = [r for r in left_out if r in in_shard]  # recorded by a run killed before this shard
                if entries or stale:
                    for r in stale:
                        del left_out[r]
                    left_out.update({e["row_id"]: e for e in entries})
                    # the manifest lists the faces left out before the shard that lacks them exists
                    C.write_manifest(out_dir, dict(existing or wanted, skipped=_in_order(left_out)))
                checksums.append(C.write_shard(path, feats[keep], shard_ids[keep]))
                rows.append(int(keep.sum()))
                stats["computed_shards"] += 1
                stats["faces_computed"] += int(keep.sum())
                if on_shard_done is not None:
                    on_shard_done(k)
        finally:
            bar.close()
        skipped = _in_order(left_out)
        final = dict(wanted, complete=True, skipped=skipped,
                     shards=[{"file": C.shard_name(k), "rows": rows[k], "checksum": checksums[k]}
                             for k in range(num_shards)])
        C.write_manifest(out_dir, final)
    seconds = time.perf_counter() - t0
    stats.update(skipped_faces=len(skipped), seconds=seconds,
                 faces_per_second=stats["faces_computed"] / seconds if seconds > 0 else 0.0)
    return stats


def _in_order(entries: Mapping[int, Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(e) for e in sorted(entries.values(), key=lambda e: (int(e["position"]), int(e["row_id"])))]


def _iterate(dataset, shard: int):
    """Iterates a tf.data pipeline, turning an error raised inside it (e.g. an unreadable image in a
    `numpy_function`) into a `ValueError` carrying the original message instead of a wrapped TF op error."""
    import re

    import tensorflow as tf

    it = dataset.as_numpy_iterator()
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except tf.errors.OpError as exc:
            first = (exc.message or str(exc)).strip().splitlines()[0]
            inner = re.search(r"\b(\w+(?:Error|Exception): .*)$", first)
            first = inner.group(1) if inner else re.sub(r"^\{\{[^}]*\}\}\s*", "", first)
            raise ValueError(f"loading images for shard {shard} failed: {first}") from exc
        yield batch


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="face", file=sys.stderr, dynamic_ncols=True, desc="features")
