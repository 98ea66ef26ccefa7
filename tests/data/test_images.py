"""skd_tf.data.images: the one image reader refuses partial decodes and keeps cv2's pixels; frame checks; policy."""
import io

import cv2
import numpy as np
import pytest

from skd_tf.data import images as I


def _picture(h=61, w=83, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0)


def _encode(ext, image=None, params=()):
    ok, buf = cv2.imencode(ext, _picture() if image is None else image, list(params))
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("ext,params", [(".jpg", ()), (".jpg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)),
                                        (".jpg", (cv2.IMWRITE_JPEG_RST_INTERVAL, 2)), (".png", ()), (".bmp", ()),
                                        (".webp", ())])
def test_good_images_decode_to_exactly_cv2s_pixels(tmp_path, ext, params):
    data = _encode(ext, params=params)
    path = tmp_path / f"x{ext}"
    path.write_bytes(data)
    expected = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    for image in (I.read_rgb(path), I.decode_rgb(data, str(path))):
        assert image.dtype == np.uint8 and image.shape == (61, 83, 3)
        np.testing.assert_array_equal(image, expected)
    assert I.image_size(data, "x") == (61, 83) == I.read_image_size(path)


def test_real_lfw_images_decode_to_cv2s_pixels(lfw_root):
    people = sorted(p for p in (lfw_root / "lfw-deepfunneled").iterdir() if p.is_dir())[:40:8]
    paths = [sorted(p.glob("*.jpg"))[0] for p in people]
    for path in paths:
        expected = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(I.read_rgb(path), expected)
        assert I.read_image_size(path) == (250, 250)


def test_truncated_jpeg_is_refused_naming_the_file(tmp_path):
    data = _encode(".jpg")
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert cv2.imread(str(path)) is not None  # libjpeg decodes it partially, with only a warning on stderr
    for call in (lambda: I.read_rgb(path), lambda: I.decode_rgb(path.read_bytes(), str(path)),
                 lambda: I.read_image_size(path)):
        with pytest.raises(I.CorruptImageError, match=r"half\.jpg: corrupt or unreadable image: truncated JPEG "
                                                      r"\(no end-of-image marker\)"):
            call()
    for cut in (len(data) - 1, len(data) - 2, 300, 3):  # anywhere, even just the end-of-image marker
        with pytest.raises(ValueError, match="truncated JPEG"):
            I.decode_rgb(data[:cut], "cut.jpg")


def test_padding_after_the_end_of_image_marker_is_fine():
    data = _encode(".jpg")
    expected = I.decode_rgb(data, "x")
    np.testing.assert_array_equal(I.decode_rgb(data + bytes(512), "x"), expected)
    np.testing.assert_array_equal(I.decode_rgb(data + b"trailer", "x"), expected)


@pytest.mark.parametrize("ext,what", [(".png", "truncated PNG"), (".bmp", "truncated BMP"),
                                      (".webp", "truncated WebP")])
def test_other_truncated_formats_are_refused(ext, what):
    data = _encode(ext)
    with pytest.raises(I.CorruptImageError, match=f"y{ext}: corrupt or unreadable image: {what}"):
        I.decode_rgb(data[: len(data) // 2], f"y{ext}")


def test_corrupt_png_and_undecodable_data():
    data = bytearray(_encode(".png"))
    data[60] ^= 0xFF  # inside the first IDAT chunk: its CRC no longer matches
    with pytest.raises(I.CorruptImageError, match="corrupt PNG \\(CRC mismatch in chunk IDAT"):
        I.decode_rgb(bytes(data), "z.png")
    with pytest.raises(I.CorruptImageError, match="g.jpg: corrupt or unreadable image: not a decodable image"):
        I.decode_rgb(b"garbage bytes", "g.jpg")
    with pytest.raises(I.CorruptImageError, match="e.jpg: corrupt or unreadable image: empty file"):
        I.decode_rgb(b"", "e.jpg")
    with pytest.raises(FileNotFoundError, match="nowhere.jpg: image not found"):
        I.read_rgb("/nonexistent/nowhere.jpg")


def test_exif_orientation_swaps_the_header_size_as_the_decoder_does():
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    buf = io.BytesIO()
    Image.fromarray(_picture()).save(buf, "JPEG", exif=exif.tobytes())
    data = buf.getvalue()
    assert I.decode_rgb(data, "r").shape == (83, 61, 3)
    assert I.image_size(data, "r") == (83, 61)


def test_check_landmarks_margin():
    shape = (100, 200, 3)  # H, W
    inside = np.array([[-0.5, -0.5], [199.5, 99.5], [-100.5, 149.5], [299.5, -50.5]])  # exactly at the 0.5 bounds
    np.testing.assert_array_equal(I.check_landmarks(inside, shape, "a.jpg"), inside)
    with pytest.raises(I.CorruptFaceError) as err:
        I.check_landmarks(inside + [[0, 0], [0, 0], [-0.01, 0], [0, 0]], shape, "a.jpg (lm.csv line 7)")
    assert str(err.value).startswith("a.jpg (lm.csv line 7): landmark 2 at (x=-100.51, y=149.50) lies outside the "
                                     "200x100 image by more than 0.5 x its size (expected -100.5 <= x <= 299.5 and "
                                     "-50.5 <= y <= 149.5)")
    I.check_landmarks([[-300, 10]], shape, "b", margin=1.5)
    with pytest.raises(I.CorruptFaceError, match=r"b: landmark 0 at \(x=0.00, y=150.00\)"):
        I.check_landmarks([[0, 150]], shape, "b", margin=0)
    with pytest.raises(I.CorruptFaceError, match="b: landmark 1 is not finite"):
        I.check_landmarks([[0, 0], [np.nan, 1]], shape, "b")
    with pytest.raises(ValueError, match="margin=-1"):
        I.check_landmarks([[0, 0]], shape, "b", margin=-1)


def test_check_box():
    I.check_box((10, 10, 30, 40), (48, 80), "s.jpg (face 3)")
    with pytest.raises(I.CorruptFaceError, match=r"s.jpg \(face 3\): box corner 0 at \(x=1000.00, y=10.00\)"):
        I.check_box((1000, 10, 40, 40), (48, 80), "s.jpg (face 3)")
    with pytest.raises(I.CorruptFaceError, match="positive width and height"):
        I.check_box((1, 1, 0, 4), (48, 80), "s.jpg")


def test_corrupt_face_policy():
    assert I.check_on_corrupt("skip") == "skip"
    with pytest.raises(ValueError, match="on_corrupt='maybe': expected 'fail'"):
        I.check_on_corrupt("maybe")
    skipped = []
    err = I.CorruptFaceError("x.jpg: broken")
    with pytest.raises(I.CorruptFaceError, match="x.jpg: broken"):
        I.skip_or_raise(err, "fail", skipped, file="x.jpg")
    I.skip_or_raise(err, "skip", skipped, file="x.jpg", line=3)
    assert skipped == [{"file": "x.jpg", "line": 3, "reason": "x.jpg: broken"}]
