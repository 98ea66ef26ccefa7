"""Face alignment: a similarity transform from 5 landmarks onto a canonical template, rendered with OpenCV.

The paper (Ge et al., TIP 2019, section IV-A) aligns every face with a similarity transform on facial landmarks
before cropping it for the teacher (high resolution) and the student (low resolution). skd-tf uses dlib's 5-point
template so that the dlib ResNet teacher sees exactly the chips dlib itself computes descriptors on, and the student
crops use the same template: a student crop of size p is the teacher chip resampled to p x p.

Geometry (the same as dlib's ``get_face_chip(img, shape, size=150, padding=0.25)``):

* Template: dlib's 5 normalised points ``t_i`` (unit square). In a chip of ``size`` pixels with ``padding`` the
  template point is ``(padding + t_i) / (1 + 2 padding) * size`` (``chip_points``).
* A least-squares similarity ``T`` (scale ``s``, rotation ``R``, translation) is fitted from those chip points to the
  image landmarks (``similarity_transform``).
* dlib then samples the chip on a rectangle centred on ``T(size/2, size/2)`` whose corner pixels are ``size*s - 1``
  image pixels apart: chip pixel ``c`` (pixel centres at integer coordinates) is read from image point
  ``T(size/2) + (size*s - 1)/(size - 1) * R (c - (size-1)/2)``. This is half a pixel off the plain ``T`` and is
  reproduced here exactly at the reference size (150 px).
* Other output sizes cover exactly the image region that the reference-size chip covers (pixel areas aligned), so
  a chip rendered at any size is that reference chip resampled (e.g. area-downsampling a 600 px chip by 4 gives the
  150 px chip, and a 16 px student crop is the same face region). dlib's own ``get_face_chip`` at sizes other than
  150 differs from this by its ``- 1`` pixel term (a few per cent of the extent at 16 px); skd-tf prefers the
  resolution-consistent geometry.

Landmarks follow the project convention (CONTRIBUTING.md): dlib's 5-point order, ``(x, y)`` pixels, pixel centres at
integer coordinates. The aligner uses whatever points it is given, so callers may jitter them (the degradation of the
training pipeline does). Rendering is ``cv2.warpAffine`` with bilinear interpolation in float32, then truncation to
uint8 and black wherever the 2x2 neighbourhood leaves the image, as dlib's ``interpolate_bilinear`` with
``black_background`` (on dlib's 32 LFW parity chips the mean absolute difference from dlib is about 4e-5 grey
levels; rounding instead of truncating would add ~0.5). Very large downscales (dlib uses an image pyramid there)
are out of scope: render at a high resolution and area-downsample instead.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "DLIB_5_TEMPLATE",
    "TEACHER_CHIP",
    "ChipSpec",
    "student_chip",
    "similarity_transform",
    "chip_points",
    "alignment_matrix",
    "transform_points",
    "invert_affine",
    "align_face",
    "warp_chip",
    "warp_chips",
]

#: dlib's 5-point template on the unit square (``get_face_chip_details`` in dlib/image_transforms/interpolation.h),
#: in dlib's 5-point order: outer and inner corner of the eye on the image's right side, outer and inner corner of
#: the eye on the image's left side, base of the nose.
DLIB_5_TEMPLATE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ],
    dtype=np.float64,
)

#: The size at which the geometry is exactly dlib's (dlib's face-recognition chip).
REFERENCE_SIZE = 150


@dataclass(frozen=True)
class ChipSpec:
    """A named crop geometry: output size in pixels and template padding (fraction of the template size)."""

    size: int
    padding: float = 0.25


#: The teacher chip of the dlib ResNet: 150 px, padding 0.25 (dlib's ``compute_face_descriptor`` defaults).
TEACHER_CHIP = ChipSpec(size=150, padding=0.25)


def student_chip(resolution: int) -> ChipSpec:
    """The student's low-resolution crop: the teacher chip's template and padding at `resolution` pixels."""
    if int(resolution) <= 0:
        raise ValueError(f"student resolution must be a positive integer, got {resolution!r}")
    return ChipSpec(size=int(resolution), padding=TEACHER_CHIP.padding)


def _as_points(points, name: str) -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 2:
        raise ValueError(f"{name}: expected an array of (x, y) points with shape [K, 2], K >= 2; got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: points must be finite, got {arr.tolist()}")
    return arr


def similarity_transform(src_points, dst_points) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping src onto dst.

    Returns the 2x3 float64 matrix ``M`` with ``dst ~= M[:, :2] @ src + M[:, 2]``. This is the closed form of
    Umeyama's estimate in 2-D (what dlib's ``find_similarity_transform`` computes).
    """
    src = _as_points(src_points, "src_points")
    dst = _as_points(dst_points, "dst_points")
    if src.shape != dst.shape:
        raise ValueError(f"src_points {src.shape} and dst_points {dst.shape} must have the same shape")
    return _similarity(src, dst)


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``similarity_transform`` on already checked float64 point arrays (the per-crop hot path skips the checks)."""
    src_mean = src.mean(axis=0)
    dst_mean = dst.mean(axis=0)
    s = src - src_mean
    d = dst - dst_mean
    var = float(np.sum(s * s))
    if var <= 0.0:
        raise ValueError("src_points: all points coincide, a similarity transform is undefined")
    a = float(np.sum(s[:, 0] * d[:, 0] + s[:, 1] * d[:, 1])) / var
    b = float(np.sum(s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0])) / var
    rot_scale = np.array([[a, -b], [b, a]])
    trans = dst_mean - rot_scale @ src_mean
    return np.concatenate([rot_scale, trans[:, None]], axis=1)


def chip_points(size: int, padding: float = 0.25, template=DLIB_5_TEMPLATE) -> np.ndarray:
    """The template in output pixels: ``(padding + t) / (1 + 2 padding) * size``, float64 ``[K, 2]``.

    These are dlib's template coordinates. With dlib's sampling convention (module docstring) an exactly matching
    face has its landmarks at about these points minus half a pixel in pixel-centre coordinates; use
    ``transform_points(landmarks, alignment_matrix(...))`` for exact positions in a rendered chip.
    """
    if int(size) <= 0:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if not padding >= 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    t = _as_points(template, "template")
    return (padding + t) / (1.0 + 2.0 * padding) * float(size)


@functools.lru_cache(maxsize=8)
def _reference_points(padding: float) -> np.ndarray:
    """dlib's template at the reference size, computed once per padding (``alignment_matrix`` runs once per crop)."""
    points = chip_points(REFERENCE_SIZE, padding)
    points.setflags(write=False)
    return points


def invert_affine(matrix) -> np.ndarray:
    """The inverse of a 2x3 affine matrix."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"matrix: expected shape (2, 3), got {m.shape}")
    return cv2.invertAffineTransform(m)


def alignment_matrix(landmarks, size: int, padding: float = 0.25, template=DLIB_5_TEMPLATE) -> np.ndarray:
    """The 2x3 float64 matrix mapping image pixels to chip pixels (both with pixel centres at integer coordinates).

    `landmarks` is ``[K, 2]`` (x, y) in the template's order (for the default template, dlib's 5 points). The
    geometry is dlib's at the reference size (150 px) and the same image region at any other `size` (module
    docstring). Apply it to points with ``transform_points`` or pass it to ``cv2.warpAffine``.
    """
    size = int(size)
    if size <= 0:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    pts = _as_points(landmarks, "landmarks")
    ref = REFERENCE_SIZE
    tmpl = _reference_points(float(padding)) if template is DLIB_5_TEMPLATE else chip_points(ref, padding, template)
    if tmpl.shape != pts.shape:
        raise ValueError(f"landmarks: expected shape {tmpl.shape} to match the template, got {pts.shape}")
    fwd = _similarity(tmpl, pts)  # reference-chip template -> image
    rs = fwd[:, :2]
    scale = float(np.hypot(rs[0, 0], rs[1, 0]))
    if scale <= 0.0:
        raise ValueError(f"landmarks: degenerate points {pts.tolist()} (zero scale)")
    rot = rs / scale
    centre = rs @ np.array([ref / 2.0, ref / 2.0]) + fwd[:, 2]
    step = (ref * scale - 1.0) / (ref - 1.0)  # image pixels per reference-chip pixel (dlib's drect convention)
    if step <= 0.0:
        raise ValueError(f"landmarks: face too small to align ({ref * scale:.3f} px across the chip)")
    # reference chip pixel c -> image: centre + step * rot @ (c - (ref-1)/2)
    # output chip pixel o (size px) -> reference chip pixel: c = (o + 0.5) * ref/size - 0.5
    k = ref / float(size)
    a = step * k * rot
    b = centre + step * rot @ (np.array([0.5 * k - 0.5, 0.5 * k - 0.5]) - (ref - 1) / 2.0)
    chip_to_image = np.concatenate([a, b[:, None]], axis=1)
    return invert_affine(chip_to_image)


def transform_points(points, matrix) -> np.ndarray:
    """Applies a 2x3 affine `matrix` to points ``[..., 2]``; returns float64 of the same shape."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"matrix: expected shape (2, 3), got {m.shape}")
    p = np.asarray(points, dtype=np.float64)
    if p.shape[-1] != 2:
        raise ValueError(f"points: expected a trailing dimension of 2 (x, y), got shape {p.shape}")
    return p @ m[:, :2].T + m[:, 2]


def align_face(image, landmarks, size: int, padding: float = 0.25, template=DLIB_5_TEMPLATE) -> np.ndarray:
    """Aligns one face: a ``[size, size, 3]`` uint8 chip with the landmarks mapped onto the template.

    `image` is RGB ``[H, W, 3]`` (uint8, or float in 0..255) or grayscale ``[H, W]`` (repeated
    to 3 channels); `landmarks` is ``[K, 2]`` (x, y) pixels. With ``size=150, padding=0.25`` this is dlib's
    ``get_face_chip``. Pixels that fall outside the image are black.
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"image: expected an RGB array [H, W, 3] (or grayscale [H, W]), got shape {img.shape}")
    if not (img.dtype == np.uint8 or np.issubdtype(img.dtype, np.floating) or np.issubdtype(img.dtype, np.integer)):
        raise ValueError(f"image: expected uint8 or float 0..255, got dtype {img.dtype}")
    return warp_chip(img, alignment_matrix(landmarks, size, padding, template), size)


def warp_chip(image: np.ndarray, matrix: np.ndarray, size: int, *, clip: bool = True) -> np.ndarray:
    """The rendering of ``align_face``: RGB `image` ``[H, W, 3]`` (uint8 or float 0..255) sampled through the
    image-to-chip `matrix` (``alignment_matrix``) into a ``[size, size, 3]`` uint8 chip, black outside the image.
    ``clip`` as in ``warp_chips``."""
    return warp_chips(image, np.asarray(matrix)[None], size, clip=clip)[0]


def warp_chips(image: np.ndarray, matrices: np.ndarray, size: int, *, clip: bool = True) -> np.ndarray:
    """``warp_chip`` for several matrices ``[K, 2, 3]`` of one image (e.g. the perturbations of a face): uint8
    ``[K, size, size, 3]``, chip k exactly ``warp_chip(image, matrices[k], size)``; the black-outside step runs
    once for all K chips.

    ``clip=False`` skips clipping the float samples to 0..255, for callers whose image holds uint8 values (e.g. a
    uint8 face converted to float32 once for many warps): bilinear weights are non-negative and sum to one, so the
    samples already lie in 0..255 and the chips are the same.
    """
    size, src = int(size), np.ascontiguousarray(image, dtype=np.float32)
    h, w = image.shape[:2]
    warped = np.empty((len(matrices), size, size, 3), np.float32)
    inverses, outside = [], []
    edge = np.array([[0.0, 0.0], [size - 1.0, 0.0], [0.0, size - 1.0], [size - 1.0, size - 1.0]])
    for k, matrix in enumerate(matrices):
        cv2.warpAffine(src, matrix, (size, size), dst=warped[k], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=(0.0, 0.0, 0.0))
        inverse = invert_affine(matrix)
        corners = transform_points(edge, inverse)
        if corners.min() < 0.0 or np.any(corners[:, 0] >= w - 1) or np.any(corners[:, 1] >= h - 1):
            inverses.append(inverse)
            outside.append(k)
    if clip:
        np.clip(warped, 0.0, 255.0, out=warped)
    # Interpolate in float and truncate, as dlib assigns its double bilinear value to uint8 (static_cast): a cast
    # truncates toward zero, which is the floor once the values are clipped to 0..255.
    chips = warped.astype(np.uint8)
    # dlib writes black wherever a 2x2 bilinear neighbourhood leaves the image (OpenCV would blend with the border).
    if outside:
        lo, hi = _inside_runs(np.stack(inverses), size, w, h)
        if len(outside) == len(chips):
            _blacken_outside(chips, lo, hi)
        else:
            part = chips[outside]
            _blacken_outside(part, lo, hi)
            chips[outside] = part
    return chips


def _inside_runs(chip_to_image: np.ndarray, size: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Per chip row, the run of columns ``[lo, hi)`` whose 2x2 bilinear neighbourhood lies in a ``width`` x
    ``height`` image (none when ``hi <= lo``), for chip-to-image matrices ``[K, 2, 3]``: two int64 ``[K, size]``.

    The neighbourhood of source point x starts at ``floor(x)`` and leaves the image iff ``floor(x) < 0`` or
    ``floor(x) + 1 > width - 1``, i.e. iff ``x < 0`` or ``x >= width - 1`` (``width - 1`` is an integer), so no
    floor is needed. The coordinates are the float64 ``(m[r, 1] * row + m[r, 0] * col) + m[r, 2]``, evaluated with
    exactly these operations. Along a chip row each rounded operation is monotone in the column, so ``x >= level``
    changes at most once per row and the inside pixels of a row are one run. Its ends are the real-valued crossings,
    corrected one column at a time wherever the float64 test disagrees (rounding moves an end by at most a column; a
    row-constant coordinate that sits exactly on a level may walk further, still exactly): a few coordinates per row
    instead of the whole grid, which cost half of a student crop's render time.
    """
    grid = np.arange(size, dtype=np.float64)
    # Four searches per chip, `size` rows each: where x >= 0, x >= width - 1, y >= 0, y >= height - 1 change.
    coef = np.repeat(chip_to_image, 2, axis=1)
    level = np.array([[0.0], [width - 1.0], [0.0], [height - 1.0]])
    base, step, offset = coef[..., 1:2] * grid, coef[..., :1], coef[..., 2:]
    rising = step > 0.0  # the test turns true along the row; falling or row-constant ones turn false (or never)

    def turned(j):
        return ((base + step * grid[np.minimum(j, size - 1)]) + offset >= level) == rising

    # A row-constant test (step 0) divides by -0.0: +inf (never turns) where x >= level, -inf (column 0) where not.
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = np.ceil((level - offset - base) / np.where(step == 0.0, -0.0, step))
    j = np.fmax(np.fmin(guess, size), 0.0).astype(np.int64)  # fmin maps NaN (x exactly on the level) to `size`
    while True:
        back = (j > 0) & turned(np.maximum(j - 1, 0))
        j -= back
        ahead = (j < size) & ~turned(j)
        j += ahead
        if not (back.any() or ahead.any()):
            break
    # Rising: x >= 0 turning true starts the run, x >= limit ends it; otherwise x < limit starts and x < 0 ends it.
    swapped = j[:, [1, 0, 3, 2]]
    first, last = np.where(rising, j, swapped), np.where(rising, swapped, j)
    return np.maximum(first[:, 0], first[:, 2]), np.minimum(last[:, 0], last[:, 2])


def _blacken_outside(chips: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    """Sets the pixels of chips ``[..., rows, size, 3]`` outside each row's run ``[lo, hi)`` (``[..., rows]``) to 0,
    in place, through the flat indices of the (usually few) outside pixels."""
    size = chips.shape[-2]
    lo = np.clip(lo, 0, size).reshape(-1)
    hi = np.clip(np.maximum(hi.reshape(-1), lo), 0, size)
    row = np.arange(len(lo)) * (3 * size)
    starts, lengths = np.concatenate([row, row + 3 * hi]), np.concatenate([3 * lo, 3 * (size - hi)])
    ends = np.cumsum(lengths)
    chips.reshape(-1)[np.arange(ends[-1]) + np.repeat(starts - (ends - lengths), lengths)] = 0
