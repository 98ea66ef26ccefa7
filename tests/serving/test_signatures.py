"""skd_tf.serving.signatures: the SavedModel's uint8 and bytes signatures against Keras, and the uint8 input check
(the exported fixture: tests/serving/conftest.py)."""
import cv2
import numpy as np
import pytest
import tensorflow as tf

from skd_tf.serving import BYTES_SIGNATURE, SIGNATURE, as_uint8_images, load_saved_model_signature


def test_saved_model_matches_keras(exported):
    fn = load_saved_model_signature(exported["paths"]["saved_model"])
    got = fn(images=exported["test"])
    assert set(got) == {"embedding", "mimic"}
    tc = tf.test.TestCase()
    tc.assertAllClose(got["embedding"], exported["ref"]["embedding"], rtol=1e-5, atol=1e-5)
    tc.assertAllClose(got["mimic"], exported["ref"]["mimic"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(got["embedding"], axis=1), 1.0, atol=1e-5)


def test_saved_model_signature_types(exported):
    loaded = tf.saved_model.load(str(exported["paths"]["saved_model"]))
    sig = loaded.signatures[SIGNATURE]
    spec = sig.structured_input_signature[1]["images"]
    assert spec.dtype == tf.uint8 and tuple(spec.shape) == (None, exported["p"], exported["p"], 3)
    assert {k: v.dtype for k, v in sig.structured_outputs.items()} == {"embedding": tf.float32, "mimic": tf.float32}
    assert loaded.signatures[BYTES_SIGNATURE].structured_input_signature[1]["image_bytes"].dtype == tf.string


def test_bytes_signature_matches_uint8_signature(exported):
    sm = exported["paths"]["saved_model"]
    images = exported["test"][:6]
    encoded = [cv2.imencode(".png", im[:, :, ::-1])[1].tobytes() for im in images]
    by_bytes = load_saved_model_signature(sm, BYTES_SIGNATURE)(image_bytes=np.array(encoded, dtype=object))
    by_pixels = load_saved_model_signature(sm)(images=images)
    np.testing.assert_array_equal(by_bytes["embedding"], by_pixels["embedding"])
    np.testing.assert_array_equal(by_bytes["mimic"], by_pixels["mimic"])


def test_bytes_signature_resizes_other_sizes(exported):
    """A crop of another size is resized in-graph (antialiased bilinear) exactly as documented."""
    p = exported["p"]
    big = cv2.resize(exported["test"][0], (3 * p, 3 * p), interpolation=cv2.INTER_CUBIC)
    enc = cv2.imencode(".png", big[:, :, ::-1])[1].tobytes()
    sm = exported["paths"]["saved_model"]
    got = load_saved_model_signature(sm, BYTES_SIGNATURE)(image_bytes=np.array([enc], dtype=object))
    small = tf.image.resize(big[None], [p, p], method="bilinear", antialias=True)
    small = tf.cast(tf.clip_by_value(tf.round(small), 0, 255), tf.uint8).numpy()
    want = load_saved_model_signature(sm)(images=small)
    np.testing.assert_allclose(got["embedding"], want["embedding"], atol=1e-6)


def test_load_saved_model_signature_names_a_bad_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"^{tmp_path}: not a SavedModel folder \(no saved_model.pb\)"):
        load_saved_model_signature(tmp_path)


def test_as_uint8_images_rounds_floats_and_refuses_bad_arrays():
    floats = np.full((2, 4, 4, 3), 254.6, np.float32)
    out = as_uint8_images(floats, 4)
    assert out.dtype == np.uint8 and np.all(out == 255)
    uint8 = np.zeros((1, 4, 4, 3), np.uint8)
    assert as_uint8_images(uint8, 4) is uint8
    with pytest.raises(ValueError, match=r"^faces: expected a non-empty RGB array \[N, 4, 4, 3\], got shape"):
        as_uint8_images(np.zeros((1, 4, 4, 1), np.uint8), 4, what="faces")
    with pytest.raises(ValueError, match=r"expected a non-empty RGB array"):
        as_uint8_images(np.zeros((0, 4, 4, 3), np.uint8), 4)
    with pytest.raises(ValueError, match=r"values must be finite and in 0\.\.255"):
        as_uint8_images(np.full((1, 4, 4, 3), 256.0), 4)
    with pytest.raises(ValueError, match=r"expected uint8 or float RGB values"):
        as_uint8_images(np.zeros((1, 4, 4, 3), bool), 4)
