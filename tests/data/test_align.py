"""Tests for skd_tf.data.align: similarity fit, dlib chip geometry, size consistency, parity with dlib's own chips."""
import csv

import cv2
import numpy as np
import pytest

from skd_tf.data import align as A

# A typical LFW deep-funneled face (means of dlib's landmarks over LFW, in dlib's 5-point order).
LFW_MEAN_LANDMARKS = np.array([[153.2, 112.6], [137.2, 113.4], [96.3, 113.9], [112.5, 113.9], [125.5, 144.7]])


def _rot_scale(angle, scale, tx, ty):
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.array([[c, -s, tx], [s, c, ty]])


def test_similarity_transform_recovers_exact_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(5, 2))
    m = _rot_scale(0.3, 1.7, 12.0, -4.0)
    dst = A.transform_points(src, m)
    np.testing.assert_allclose(A.similarity_transform(src, dst), m, atol=1e-10)


def test_similarity_transform_is_least_squares():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, size=(5, 2))
    dst = A.transform_points(src, _rot_scale(-0.2, 0.8, 3.0, 5.0)) + rng.normal(0, 2.0, size=(5, 2))
    m = A.similarity_transform(src, dst)
    base = np.sum((A.transform_points(src, m) - dst) ** 2)
    for _ in range(20):  # no nearby similarity does better
        pert = m.copy()
        a, b = pert[0, 0] + rng.normal(0, 1e-3), pert[1, 0] + rng.normal(0, 1e-3)
        pert[:, :2] = [[a, -b], [b, a]]
        pert[:, 2] += rng.normal(0, 1e-2, size=2)
        assert np.sum((A.transform_points(src, pert) - dst) ** 2) >= base


def test_chip_points_dlib_template():
    pts = A.chip_points(150, 0.25)
    np.testing.assert_allclose(pts, (0.25 + A.DLIB_5_TEMPLATE) / 1.5 * 150)
    np.testing.assert_allclose(A.chip_points(200, 0.0), A.DLIB_5_TEMPLATE * 200)


def test_alignment_matrix_puts_landmarks_on_template():
    # Landmarks that are an exact similarity image of the template land on it (dlib's half-pixel convention).
    m_true = _rot_scale(0.1, 0.8, 40.0, 30.0)
    lm = A.transform_points(A.chip_points(150, 0.25), m_true)
    got = A.transform_points(lm, A.alignment_matrix(lm, 150, 0.25))
    np.testing.assert_allclose(got, A.chip_points(150, 0.25) - 0.5, atol=0.15)  # dlib: (150s-1)/149 px steps
    # At other sizes the same face region is covered: positions scale with pixel areas aligned.
    for size in (16, 32, 600):
        got = A.transform_points(lm, A.alignment_matrix(lm, size, 0.25))
        expect = (A.chip_points(150, 0.25) - 0.5 + 0.5) * size / 150 - 0.5
        np.testing.assert_allclose(got, expect, atol=0.15 * max(1.0, size / 150))


def test_alignment_matrix_inverse_roundtrip():
    m = A.alignment_matrix(LFW_MEAN_LANDMARKS, 112, 0.25)
    pts = np.array([[0.0, 0.0], [50.0, 80.0]])
    np.testing.assert_allclose(A.transform_points(A.transform_points(pts, m), A.invert_affine(m)), pts, atol=1e-9)


def _face_like_image(seed=0, size=250):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(size // 10, size // 10, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def test_align_face_shape_dtype_and_size_consistency():
    img = _face_like_image()
    chip = A.align_face(img, LFW_MEAN_LANDMARKS, 150)
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    # A chip rendered at 4x and area-downsampled is the 150 px chip (same region, same geometry).
    big = A.align_face(img, LFW_MEAN_LANDMARKS, 600)
    down = cv2.resize(big, (150, 150), interpolation=cv2.INTER_AREA)
    assert np.abs(down.astype(float) - chip.astype(float)).mean() < 2.0
    small = A.align_face(img, LFW_MEAN_LANDMARKS, 16)
    assert small.shape == (16, 16, 3)
    ref16 = cv2.resize(big, (16, 16), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(float) - ref16.astype(float)).mean() < 8.0
    # float input in 0..255 and grayscale are accepted
    np.testing.assert_array_equal(A.align_face(img.astype(np.float32), LFW_MEAN_LANDMARKS, 150), chip)
    assert A.align_face(img[:, :, 0], LFW_MEAN_LANDMARKS, 150).shape == (150, 150, 3)


def test_align_face_accepts_jittered_landmarks():
    img = _face_like_image(1)
    rng = np.random.default_rng(3)
    jit = LFW_MEAN_LANDMARKS + rng.normal(0, 3.0, size=(5, 2))
    a = A.align_face(img, LFW_MEAN_LANDMARKS, 64)
    b = A.align_face(img, jit, 64)
    assert b.shape == (64, 64, 3) and not np.array_equal(a, b)


def test_align_face_identity_translation_copies_pixels():
    # Landmarks at the 150 px template (+0.5, dlib's convention) of a 150 px image: the chip is the image itself.
    img = _face_like_image(2, size=150)
    lm = A.chip_points(150, 0.25) - 0.5
    np.testing.assert_array_equal(A.align_face(img, lm, 150)[1:-1, 1:-1], img[1:-1, 1:-1])


def test_errors_are_clear():
    img = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(ValueError, match="landmarks"):
        A.align_face(img, np.zeros((4, 2)), 32)
    with pytest.raises(ValueError, match="landmarks"):
        A.align_face(img, np.zeros((5, 2)), 32)
    with pytest.raises(ValueError, match="image"):
        A.align_face(np.zeros((50, 50, 4)), LFW_MEAN_LANDMARKS, 32)
    with pytest.raises(ValueError, match="size"):
        A.alignment_matrix(LFW_MEAN_LANDMARKS, 0)
    with pytest.raises(ValueError, match="finite"):
        A.alignment_matrix(np.full((5, 2), np.nan), 32)


def test_student_chip_spec():
    assert A.TEACHER_CHIP == A.ChipSpec(150, 0.25)
    assert A.student_chip(16) == A.ChipSpec(16, 0.25)


def test_matches_dlib_parity_chips(lfw_root):
    """dlib 20.0.1's get_face_chip(img, shape, 150, 0.25) on the first 32 LFW images (see dlib/README.md)."""
    parity = lfw_root / "dlib" / "parity" / "chips.npy"
    if not parity.is_file():
        pytest.skip(f"dlib parity chips not found at {parity}")
    chips = np.load(parity)
    with open(lfw_root / "dlib" / "landmarks5.csv", newline="") as f:
        rows = list(csv.DictReader(f))[: len(chips)]
    diffs = []
    for row, ref in zip(rows, chips):
        img = cv2.cvtColor(cv2.imread(str(lfw_root / "lfw-deepfunneled" / row["path"])), cv2.COLOR_BGR2RGB)
        lm = np.array([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(5)])
        chip = A.align_face(img, lm, 150, 0.25)
        d = np.abs(chip.astype(np.int16) - ref.astype(np.int16))
        assert d.max() <= 1, row["path"]
        diffs.append(d.mean())
    # measured: mean 3.5e-5, worst chip 8.9e-5 grey levels (differences of 1 from float32 vs double rounding)
    assert np.mean(diffs) < 1e-3 and np.max(diffs) < 2e-3


def _dlib_bilinear_reference(img, matrix, size):
    """Test-only reference of dlib's transform_image + interpolate_bilinear (double precision, truncation, black)."""
    inv = A.invert_affine(matrix)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    x = inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]
    y = inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]
    left, top = np.floor(x).astype(int), np.floor(y).astype(int)
    h, w = img.shape[:2]
    ok = (left >= 0) & (top >= 0) & (left + 1 <= w - 1) & (top + 1 <= h - 1)
    lc, tc = np.clip(left, 0, w - 2), np.clip(top, 0, h - 2)
    fx, fy = (x - left)[..., None], (y - top)[..., None]
    im = img.astype(np.float64)
    v = ((1 - fy) * ((1 - fx) * im[tc, lc] + fx * im[tc, lc + 1])
         + fy * ((1 - fx) * im[tc + 1, lc] + fx * im[tc + 1, lc + 1]))
    return np.where(ok[..., None], v, 0).astype(np.uint8)


@pytest.mark.parametrize("shift", [(0.0, 0.0), (-110.0, -40.0), (100.0, 90.0)])
def test_matches_dlib_sampling_including_borders(shift):
    # A face near the image border: dlib writes black where the 2x2 neighbourhood leaves the image.
    img = _face_like_image(4)
    lm = LFW_MEAN_LANDMARKS + np.array(shift)
    chip = A.align_face(img, lm, 150)
    ref = _dlib_bilinear_reference(img, A.alignment_matrix(lm, 150), 150)
    d = np.abs(chip.astype(np.int16) - ref.astype(np.int16))
    assert d.mean() < 0.01 and np.mean(d > 1) < 1e-3


def test_black_exactly_where_the_bilinear_neighbourhood_leaves_the_image():
    # On a white image a chip pixel is black iff dlib's rule says so: floor(x) < 0, floor(x) + 1 > w - 1 (same in y),
    # with x, y the float64 source coordinates of the pixel. Checked pixel by pixel against the brute-force rule.
    rng = np.random.default_rng(7)
    img = np.full((60, 80, 3), 255, np.uint8)
    partial = 0
    for _ in range(20):
        lm = A.chip_points(60, 0.25) + rng.normal(0, 3, (5, 2)) + rng.uniform(-25, 45, 2)
        size = int(rng.choice([16, 37, 64]))
        matrix = A.alignment_matrix(lm, size)
        inverse = A.invert_affine(matrix)
        cols, rows = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))
        x = inverse[0, 0] * cols + inverse[0, 1] * rows + inverse[0, 2]
        y = inverse[1, 0] * cols + inverse[1, 1] * rows + inverse[1, 2]
        inside = (np.floor(x) >= 0) & (np.floor(y) >= 0) & (np.floor(x) + 1 <= 79) & (np.floor(y) + 1 <= 59)
        chip = A.align_face(img, lm, size)
        partial += 0 < inside.sum() < size * size
        np.testing.assert_array_equal(chip[..., 0] > 0, inside)
    assert partial >= 10
    # The identity chip of a 150 px image: the last row and column sit at x or y = 149 = w - 1 exactly, whose
    # neighbourhood leaves the image, so they are black and everything else is white.
    chip = A.align_face(np.full((150, 150, 3), 255, np.uint8), A.chip_points(150, 0.25) - 0.5, 150)
    assert (chip[:, -1] == 0).all() and (chip[-1, :] == 0).all() and (chip[:-1, :-1] > 0).all()


def test_inside_runs_equal_the_rule_on_the_whole_grid():
    # The run search evaluates the coordinates at a few columns per row; it must black exactly the pixels the
    # float64 rule (x < 0 or x >= w - 1, same in y) picks on the whole grid, also for axis-aligned, 90-degree and
    # near-vertical matrices and coordinates that land exactly on the limits.
    rng = np.random.default_rng(3)
    for t in range(600):
        size, w, h = int(rng.choice([1, 7, 16, 37, 160])), int(rng.integers(1, 120)), int(rng.integers(1, 120))
        m = _rot_scale(rng.choice([0.0, np.pi / 2, -np.pi]) if t % 3 == 0 else rng.uniform(-np.pi, np.pi),
                       rng.uniform(0.1, 3.0), *rng.uniform(-60, 150, 2))
        if t % 3 == 1:
            m = np.round(m * 4) / 4  # on the quarter-pixel grid: many coordinates exactly on a limit
        if t % 5 == 0:
            m[rng.integers(2), rng.integers(2)] = rng.choice([0.0, -0.0, 1e-13, -1e-300])
        grid = np.arange(size, dtype=np.float64)
        outside = np.zeros((size, size), bool)
        for r, limit in ((0, w - 1), (1, h - 1)):
            coord = np.add.outer(m[r, 1] * grid, m[r, 0] * grid) + m[r, 2]
            outside |= (coord < 0.0) | (coord >= limit)
        chip = np.ones((size, size, 3), np.uint8)
        A._blacken_outside(chip, *A._inside_runs(m[None], size, w, h))
        np.testing.assert_array_equal(chip[..., 0] == 0, outside)
        assert (chip[outside] == 0).all() and (chip[~outside] == 1).all()


def test_warp_chips_equal_one_warp_per_matrix():
    # Chips rendered together (the black-outside step shared by the chips that need it) equal one align_face each,
    # whether all, some or none of the chips reach outside the image.
    img = _face_like_image(5)
    shifts = [(0.0, 0.0), (-70.0, 10.0), (3.0, -2.0), (90.0, 60.0)]
    for picks in ([0, 2], [1, 3], [0, 1, 2, 3]):
        lms = [LFW_MEAN_LANDMARKS * 0.5 + np.array(shifts[i]) for i in picks]
        chips = A.warp_chips(img, np.stack([A.alignment_matrix(lm, 48) for lm in lms]), 48)
        np.testing.assert_array_equal(chips, np.stack([A.align_face(img, lm, 48) for lm in lms]))
