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
made offline (``degrade_faces`` to uint8 arrays) and on the fly inside tf.data (``skd_tf.data.sources.DegradedFaces``
calls ``degrade_face``).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from skd_tf.data.align import align_face, alignment_matrix, warp_chips

__all__ = [
    "interocular_distance",
    "perturb_landmarks",
    "render_factor",
    "render_chip",
    "degrade_face",
    "degrade_faces",
    "upscale_to",
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
    return _downsample(align_face(image, landmarks, m * p, padding), p)


def _downsample(big: np.ndarray, p: int) -> np.ndarray:
    """The ``m * p`` render area-downsampled to ``p`` pixels (itself when ``m = 1``)."""
    return big if big.shape[0] == p else cv2.resize(big, (p, p), interpolation=cv2.INTER_AREA)


def degrade_face(
    image,
    landmarks,
    resolution: int,
    *,
    num_perturbations: int = 16,
    perturbations=None,
    jitter: float = 0.05,
    padding: float = 0.25,
    seed: int,
    row_id: int | None = None,
) -> np.ndarray:
    """Low-resolution versions of one face: uint8 ``[K, p, p, 3]``, perturbations ``j = 0..K-1``.

    The randomness is ``np.random.default_rng((seed, row_id))`` (``default_rng(seed)`` without a row id): pass the
    face's row id so that a face gets the same crops wherever and with whatever it is processed. Perturbation ``j``
    is the ``j``-th draw of that generator's sequence, whatever K is, so `perturbations` (indices, overriding
    `num_perturbations`) renders any subset: ``perturbations=[e]`` is the fresh crop of epoch ``e`` in the streaming
    pipeline's ``fresh`` sampling (`skd_tf.data.sources`).
    """
    p = _check_resolution(resolution)
    if perturbations is None:
        k = int(num_perturbations)
        if k < 1:
            raise ValueError(f"num_perturbations must be >= 1, got {num_perturbations!r}")
        indices = np.arange(k)
    else:
        indices = np.asarray(perturbations, dtype=np.int64).reshape(-1)
        if indices.size == 0 or indices.min() < 0:
            raise ValueError(f"perturbations: expected non-negative indices, got {perturbations!r}")
    img, lm = _check_face(image, landmarks)
    rng = np.random.default_rng((int(seed), int(row_id)) if row_id is not None else int(seed))
    points = perturb_landmarks(lm, int(indices.max()) + 1, jitter, rng)[indices]
    m = render_factor(lm, p, padding)  # one oversampling factor per face, from its unperturbed landmarks
    clip = img.dtype != np.uint8  # uint8 values need no clipping after interpolation (`warp_chip`)
    img = np.ascontiguousarray(img, dtype=np.float32)  # the warp samples in float32: convert once, not K times
    big = warp_chips(img, np.stack([alignment_matrix(pts, m * p, padding) for pts in points]), m * p, clip=clip)
    return np.stack([_downsample(chip, p) for chip in big]) if m > 1 else big


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
