"""Tests for skd_tf.data.degrade: determinism, template geometry, anti-aliasing, perturbation subsets."""
import cv2
import numpy as np
import pytest

from skd_tf.data.align import alignment_matrix, chip_points, transform_points
from skd_tf.data.degrade import (
    degrade_face,
    degrade_faces,
    interocular_distance,
    perturb_landmarks,
    render_factor,
    upscale_to,
)
from skd_tf.data.synthetic import generate_faces


@pytest.fixture(scope="module")
def faces():
    return generate_faces(3, 2, image_size=128, noisy_fraction=0.0, seed=11)


def _template_face(size=400, scale=1.3, angle=0.2, shift=(60.0, 40.0), dots=range(5)):
    """Landmarks that are an exact similarity of dlib's template, and a white image with a black dot on each of
    the landmarks listed in `dots`."""
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    lm = transform_points(chip_points(150), np.array([[c, -s, shift[0]], [s, c, shift[1]]]))
    img = np.full((size, size, 3), 255, np.uint8)
    for q in lm[list(dots)]:
        cv2.circle(img, (int(round(q[0] * 16)), int(round(q[1] * 16))), 6 * 16, (0, 0, 0), -1, cv2.LINE_AA, shift=4)
    return img, lm


@pytest.mark.parametrize("p", [16, 32])
def test_shapes_and_determinism(faces, p):
    a = degrade_face(faces.images[0], faces.landmarks[0], p, num_perturbations=4, seed=3, row_id=17)
    b = degrade_face(faces.images[0], faces.landmarks[0], p, num_perturbations=4, seed=3, row_id=17)
    assert a.shape == (4, p, p, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1])  # the perturbations differ
    assert not np.array_equal(a, degrade_face(faces.images[0], faces.landmarks[0], p, num_perturbations=4, seed=3,
                                              row_id=18))
    assert not np.array_equal(a, degrade_face(faces.images[0], faces.landmarks[0], p, num_perturbations=4, seed=4,
                                              row_id=17))


def test_batch_does_not_change_a_face(faces):
    rows = np.array([5, 9, 2, 7, 1, 3])
    lr, src = degrade_faces(faces.images, faces.landmarks, rows, 16, num_perturbations=3, seed=0)
    assert lr.shape == (18, 16, 16, 3)
    np.testing.assert_array_equal(src, np.repeat(rows, 3))
    alone, src1 = degrade_faces(faces.images[2:3], faces.landmarks[2:3], rows[2:3], 16, num_perturbations=3, seed=0)
    np.testing.assert_array_equal(alone, lr[6:9])
    np.testing.assert_array_equal(src1, [2, 2, 2])


@pytest.mark.parametrize("p", [16, 24, 32, 64])
def test_landmarks_land_on_the_template(p):
    _, lm = _template_face(dots=())
    # geometry: the aligner maps exact template landmarks onto the template scaled to p (pixel centres)
    np.testing.assert_allclose(transform_points(lm, alignment_matrix(lm, p)), chip_points(p) - 0.5, atol=0.05 * p / 16)
    # pixels: with jitter 0 every crop is the same, and a dot drawn at a landmark appears at its template point
    ys, xs = np.mgrid[:p, :p]
    for k, q in enumerate(chip_points(p) - 0.5):
        img, _ = _template_face(dots=[k])
        out = degrade_face(img, lm, p, num_perturbations=2, jitter=0.0, seed=0, row_id=0)
        assert np.array_equal(out[0], out[1])
        dark = 255.0 - out[0, :, :, 0].astype(float)
        centroid = np.array([(dark * xs).sum(), (dark * ys).sum()]) / dark.sum()
        assert np.abs(centroid - q).max() < 0.2, (p, k, q, centroid)


def test_anti_aliasing():
    """One-pixel stripes are far above the Nyquist limit of a 16 px crop: they must average to grey, not alias."""
    img, lm = _template_face()
    stripes = np.zeros_like(img)
    stripes[:, ::2] = 255
    out = degrade_face(stripes, lm, 16, num_perturbations=2, jitter=0.0, seed=0)
    inner = out[0, 2:-2, 2:-2].astype(float)
    assert abs(inner.mean() - 127.5) < 6 and inner.std() < 6
    direct = cv2.warpAffine(stripes, alignment_matrix(lm, 16), (16, 16), flags=cv2.INTER_LINEAR)
    assert direct[2:-2, 2:-2].std() > 3 * inner.std()  # what a direct tiny warp would have produced
    assert render_factor(lm, 16) >= 8


def test_jitter_is_relative_to_interocular_distance():
    _, lm = _template_face()
    rng = np.random.default_rng(0)
    pts = perturb_landmarks(lm, 4000, 0.05, rng)
    assert pts.shape == (4000, 5, 2)
    np.testing.assert_allclose((pts - lm).std(axis=0), 0.05 * interocular_distance(lm), rtol=0.06)
    with pytest.raises(ValueError, match="jitter"):
        perturb_landmarks(lm, 2, -1.0, rng)


def test_perturbation_subsets_match_the_full_draw(faces):
    """Perturbation j is the j-th draw whatever K is: the streaming pipeline's fresh crop of epoch e (index e) and
    any subset of the fixed K equal the offline crops."""
    full = degrade_face(faces.images[1], faces.landmarks[1], 16, num_perturbations=6, seed=5, row_id=41)
    np.testing.assert_array_equal(degrade_face(faces.images[1], faces.landmarks[1], 16, perturbations=[4], seed=5,
                                               row_id=41), full[4:5])
    np.testing.assert_array_equal(degrade_face(faces.images[1], faces.landmarks[1], 16, perturbations=[5, 0, 2],
                                               seed=5, row_id=41), full[[5, 0, 2]])
    with pytest.raises(ValueError, match="perturbations"):
        degrade_face(faces.images[1], faces.landmarks[1], 16, perturbations=[-1], seed=5, row_id=41)


def test_upscale_to():
    small = np.full((2, 16, 16, 3), 77, np.uint8)
    big = upscale_to(small, 112)
    assert big.shape == (2, 112, 112, 3) and big.dtype == np.uint8
    assert np.all(big == 77)


def test_bad_input(faces):
    with pytest.raises(ValueError, match="landmarks"):
        degrade_face(faces.images[0], np.zeros((4, 2)), 16, seed=0)
    with pytest.raises(ValueError, match="resolution"):
        degrade_face(faces.images[0], faces.landmarks[0], 0, seed=0)
    with pytest.raises(ValueError, match="row_ids"):
        degrade_faces(faces.images, faces.landmarks, np.arange(3), 16, seed=0)
