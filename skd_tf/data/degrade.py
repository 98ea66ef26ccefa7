"""Resolution degradation: the student's low-resolution faces (paper, sections III-A and IV-A).

"To form the low-resolution faces for training each student network, we perform random perturbation 16 times on
the localized facial landmarks, and then crop and normalize the face regions into face images with size p x p"
(section IV-A). For each high-resolution face ``F_i`` this module produces its ``N`` degraded versions
``{F~_ij}_{j=1..N}`` (section III-A):

* each of the 5 landmarks is moved by independent Gaussian noise with standard deviation ``jitter`` times the
  inter-ocular distance (distance between the two eye centres), then
* the face is aligned with the canonical aligner (``skd_tf.data.align``: dlib's 5-point chip template, so a student
  crop is the teacher chip at lower resolution) and
* anti-aliased: rendered at ``m * p`` pixels, where ``m`` is the smallest integer for which the render is at least the
  source resolution, then area-downsampled by ``m`` (``cv2.INTER_AREA``), never warped straight to a tiny size.

Randomness is per face: perturbation ``j`` of the face with row id ``r`` comes from
``np.random.default_rng((seed, r))``, so results do not depend on order, batching or sharding. The same pixels are
available offline (``degrade_faces`` to uint8 arrays, ``write_tfrecord_shards``/``read_tfrecord_shards``) and on the fly
(``tf_degrade_map`` for ``tf.data.Dataset.map``).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from skd_tf.data.align import align_face, alignment_matrix
from skd_tf.utils.io import atomic_path, write_json

__all__ = [
    "interocular_distance",
    "perturb_landmarks",
    "render_factor",
    "render_chip",
    "degrade_face",
    "degrade_faces",
    "upscale_to",
    "write_tfrecord_shards",
    "read_tfrecord_shards",
    "tf_degrade_map",
]

#: Largest side (pixels) of the intermediate high-resolution render.
MAX_RENDER = 2048


def _check_resolution(resolution) -> int:
    p = int(resolution)
    if p != resolution or p < 1:
        raise ValueError(f"resolution must be a positive integer number of pixels, got {resolution!r}")
    return p


def _check_face(image, landmarks) -> tuple[np.ndarray, np.ndarray]:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image: expected an RGB array [H, W, 3], got shape {img.shape}")
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (5, 2):
        raise ValueError(f"landmarks: expected 5 (x, y) points [5, 2] (dlib order), got shape {lm.shape}")
    return img, lm


def interocular_distance(landmarks) -> float:
    """Distance between the two eye centres (means of points 0,1 and 2,3 in dlib's 5-point order)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return float(np.linalg.norm(lm[0:2].mean(0) - lm[2:4].mean(0)))


def perturb_landmarks(landmarks, num_perturbations: int, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """``[K, 5, 2]`` copies of `landmarks`, each point moved by N(0, (jitter * inter-ocular distance)^2) per axis."""
    if not jitter >= 0:
        raise ValueError(f"jitter must be >= 0 (a fraction of the inter-ocular distance), got {jitter!r}")
    lm = np.asarray(landmarks, dtype=np.float64)
    noise = rng.standard_normal((int(num_perturbations),) + lm.shape)
    return lm[None] + noise * (float(jitter) * interocular_distance(lm))


def render_factor(landmarks, resolution: int, padding: float = 0.25) -> int:
    """The integer oversampling ``m`` for a ``p``-pixel chip: ``ceil(image pixels per chip pixel)``, clipped to
    ``1 .. MAX_RENDER // p``, so a render at ``m * p`` samples the source at least at its own resolution."""
    p = _check_resolution(resolution)
    mat = alignment_matrix(landmarks, p, padding)
    chip_px_per_image_px = math.hypot(mat[0, 0], mat[1, 0])
    return max(1, min(math.ceil(1.0 / chip_px_per_image_px - 1e-6), MAX_RENDER // p))


def render_chip(image, landmarks, resolution: int, padding: float = 0.25, factor: int | None = None) -> np.ndarray:
    """One anti-aliased ``[p, p, 3]`` uint8 chip: aligned at ``m * p`` pixels, then area-downsampled by ``m``.

    ``m`` is `factor`, or ``render_factor(landmarks, p, padding)`` when None; the box filter of the area
    downsampling removes what ``p`` pixels cannot represent (no aliasing from a direct tiny warp).
    """
    p = _check_resolution(resolution)
    m = render_factor(landmarks, p, padding) if factor is None else int(factor)
    if m < 1:
        raise ValueError(f"factor must be >= 1, got {factor!r}")
    big = align_face(image, landmarks, m * p, padding)
    if m == 1:
        return big
    return cv2.resize(big, (p, p), interpolation=cv2.INTER_AREA)


def degrade_face(
    image,
    landmarks,
    resolution: int,
    *,
    num_perturbations: int = 16,
    jitter: float = 0.05,
    padding: float = 0.25,
    seed: int,
    row_id: int | None = None,
) -> np.ndarray:
    """The ``num_perturbations`` low-resolution versions of one face: uint8 ``[K, p, p, 3]``.

    The randomness is ``np.random.default_rng((seed, row_id))`` (``default_rng(seed)`` without a row id): pass the
    face's row id so that a face gets the same crops wherever and with whatever it is processed.
    """
    p = _check_resolution(resolution)
    k = int(num_perturbations)
    if k < 1:
        raise ValueError(f"num_perturbations must be >= 1, got {num_perturbations!r}")
    img, lm = _check_face(image, landmarks)
    rng = np.random.default_rng((int(seed), int(row_id)) if row_id is not None else int(seed))
    points = perturb_landmarks(lm, k, jitter, rng)
    m = render_factor(lm, p, padding)  # one oversampling factor per face, from its unperturbed landmarks
    img = np.ascontiguousarray(img, dtype=np.float32)  # align_face samples in float32: convert once, not K times
    out = np.empty((k, p, p, 3), np.uint8)
    for j in range(k):
        out[j] = render_chip(img, points[j], p, padding, factor=m)
    return out


def degrade_faces(
    images,
    landmarks,
    row_ids,
    resolution: int,
    *,
    num_perturbations: int = 16,
    jitter: float = 0.05,
    padding: float = 0.25,
    seed: int,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Offline precompute for a batch: ``(lr_images uint8 [N*K, p, p, 3], source_rows int64 [N*K])``.

    Rows ``i*K .. i*K+K-1`` are the perturbations of face ``i`` and ``source_rows`` repeats its row id. A tqdm
    progress bar is shown when `progress` is True (default: for more than 2000 faces).
    """
    images = np.asarray(images)
    landmarks = np.asarray(landmarks, dtype=np.float64)
    row_ids = np.asarray(row_ids, dtype=np.int64)
    n = len(images)
    if images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"images: expected RGB [N, H, W, 3], got shape {images.shape}")
    if landmarks.shape != (n, 5, 2):
        raise ValueError(f"landmarks: expected shape ({n}, 5, 2) to match images, got {landmarks.shape}")
    if row_ids.shape != (n,):
        raise ValueError(f"row_ids: expected shape ({n},) to match images, got {row_ids.shape}")
    p, k = _check_resolution(resolution), int(num_perturbations)
    out = np.empty((n * k, p, p, 3), np.uint8)
    it = range(n)
    if progress or (progress is None and n > 2000):
        from tqdm import tqdm

        it = tqdm(it, desc=f"degrade to {p}px", unit="face")
    for i in it:
        out[i * k:(i + 1) * k] = degrade_face(
            images[i], landmarks[i], p, num_perturbations=k, jitter=jitter, padding=padding, seed=seed,
            row_id=int(row_ids[i]),
        )
    return out, np.repeat(row_ids, k)


def upscale_to(images, size: int) -> np.ndarray:
    """Bicubic upscaling of uint8 ``[N, p, p, 3]`` to ``[N, size, size, 3]`` (the "teacher on upscaled
    low-resolution faces" baseline)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"images: expected RGB [N, H, W, 3], got shape {images.shape}")
    size = _check_resolution(size)
    out = np.empty((len(images), size, size, 3), np.uint8)
    for i, im in enumerate(images):
        out[i] = cv2.resize(np.ascontiguousarray(im), (size, size), interpolation=cv2.INTER_CUBIC)
    return out


# ----------------------------------------------------------------------------------------------------------------
# TFRecord shards

_MANIFEST = "manifest.json"


def write_tfrecord_shards(
    out_dir: str | os.PathLike,
    lr_images,
    source_rows,
    *,
    labels=None,
    num_perturbations: int | None = None,
    shard_size: int = 8192,
    prefix: str = "lr",
) -> list[Path]:
    """Writes degraded faces as TFRecord shards plus a ``manifest.json`` in `out_dir` (each file atomically).

    Each record holds ``image`` (raw ``p*p*3`` bytes), ``row_id`` and, when given, ``label`` (int64), and
    ``perturbation`` (the index within its face when `num_perturbations` is given, else -1). Returns the shard paths.
    """
    import tensorflow as tf

    lr_images = np.asarray(lr_images, dtype=np.uint8)
    source_rows = np.asarray(source_rows, dtype=np.int64)
    n = len(lr_images)
    if lr_images.ndim != 4 or lr_images.shape[1] != lr_images.shape[2] or lr_images.shape[3] != 3:
        raise ValueError(f"lr_images: expected uint8 [N, p, p, 3], got shape {lr_images.shape}")
    if source_rows.shape != (n,):
        raise ValueError(f"source_rows: expected shape ({n},), got {source_rows.shape}")
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (n,):
            raise ValueError(f"labels: expected shape ({n},), got {labels.shape}")
    if int(shard_size) < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    num_shards = max(1, math.ceil(n / int(shard_size)))
    paths = []
    feat = tf.train.Feature
    for s in range(num_shards):
        path = out_dir / f"{prefix}-{s:05d}-of-{num_shards:05d}.tfrecord"
        with atomic_path(path) as tmp, tf.io.TFRecordWriter(str(tmp)) as w:
            for i in range(s * int(shard_size), min(n, (s + 1) * int(shard_size))):
                f = {
                    "image": feat(bytes_list=tf.train.BytesList(value=[lr_images[i].tobytes()])),
                    "row_id": feat(int64_list=tf.train.Int64List(value=[int(source_rows[i])])),
                    "perturbation": feat(int64_list=tf.train.Int64List(
                        value=[i % int(num_perturbations) if num_perturbations else -1])),
                }
                if labels is not None:
                    f["label"] = feat(int64_list=tf.train.Int64List(value=[int(labels[i])]))
                w.write(tf.train.Example(features=tf.train.Features(feature=f)).SerializeToString())
        paths.append(path)
    write_json(out_dir / _MANIFEST, {
        "resolution": int(lr_images.shape[1]),
        "count": n,
        "num_perturbations": num_perturbations,
        "has_labels": labels is not None,
        "shards": [p.name for p in paths],
    })
    return paths


def read_tfrecord_shards(shard_dir: str | os.PathLike):
    """A ``tf.data.Dataset`` of dicts ``{"image": uint8 [p, p, 3], "row_id", "perturbation"[, "label"]}`` in
    written order, from the shards listed in `shard_dir`'s ``manifest.json``."""
    import json

    import tensorflow as tf

    shard_dir = Path(shard_dir)
    manifest_path = shard_dir / _MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no TFRecord manifest at {manifest_path} (write it with write_tfrecord_shards)")
    manifest = json.loads(manifest_path.read_text())
    for key in ("resolution", "shards", "has_labels"):
        if key not in manifest:
            raise ValueError(f"{manifest_path}: missing field {key!r}")
    files = [str(shard_dir / name) for name in manifest["shards"]]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise FileNotFoundError(f"{manifest_path}: listed shards are missing: {missing}")
    p = int(manifest["resolution"])
    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "row_id": tf.io.FixedLenFeature([], tf.int64),
        "perturbation": tf.io.FixedLenFeature([], tf.int64),
    }
    if manifest["has_labels"]:
        spec["label"] = tf.io.FixedLenFeature([], tf.int64)

    def parse(record):
        ex = tf.io.parse_single_example(record, spec)
        ex["image"] = tf.reshape(tf.io.decode_raw(ex["image"], tf.uint8), [p, p, 3])
        return ex

    return tf.data.TFRecordDataset(files).map(parse)


# ----------------------------------------------------------------------------------------------------------------
# on the fly


def tf_degrade_map(
    resolution: int,
    *,
    num_perturbations: int = 16,
    jitter: float = 0.05,
    padding: float = 0.25,
    seed: int,
) -> Callable:
    """A function ``(image, landmarks, row_id) -> uint8 [K, p, p, 3]`` tensor for ``tf.data.Dataset.map``.

    It runs ``degrade_face`` through ``tf.numpy_function``, so its pixels equal the numpy path's for the same seed
    and row id. Follow it with ``.unbatch()`` to get single crops.
    """
    import tensorflow as tf

    p, k = _check_resolution(resolution), int(num_perturbations)

    def _np(image, landmarks, row_id):
        return degrade_face(image, landmarks, p, num_perturbations=k, jitter=jitter, padding=padding, seed=seed,
                            row_id=int(row_id))

    def fn(image, landmarks, row_id):
        out = tf.numpy_function(_np, [image, landmarks, row_id], tf.uint8, stateful=False)
        out.set_shape([k, p, p, 3])
        return out

    return fn
