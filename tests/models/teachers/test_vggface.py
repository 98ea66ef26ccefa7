"""Tests for the VGGFace VGG16 teacher: exact parameter count and loading a keras-vggface-layout .h5 by layer name.

VGG16 is ~145M parameters (~580 MB float32), so the whole network is built once for this module.
"""
import h5py
import keras
import numpy as np
import pytest

from skd_tf.models import teachers
from skd_tf.models.teachers import vggface

WEIGHT_LAYERS = [name for name, _ in vggface.CONV_LAYERS] + ["fc6", "fc7", "fc8"]


@pytest.fixture(scope="module")
def full_model():
    return vggface.build_full()


def _write_keras_vggface_h5(path, layers, rng, fill_fc6=True):
    """Writes Keras-2 HDF5 weights as keras-vggface's VGG16 file: a group per layer, 'name/kernel:0', 'name/bias:0'."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in ["input_1"] + [layer[0] for layer in layers]])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        f.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        written = {}
        for name, shapes in layers:
            g = f.create_group(name)
            g.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()])
            sub = g.create_group(name)
            for wname, shape in zip(("kernel:0", "bias:0"), shapes):
                if name == "fc6" and wname == "kernel:0" and fill_fc6:
                    # 102M floats: a constant fill value keeps the file and the test's memory small
                    sub.create_dataset(wname, shape=shape, dtype="f4", fillvalue=0.0025)
                    written[(name, wname)] = None
                else:
                    data = rng.standard_normal(shape, dtype=np.float32) * 0.01
                    sub.create_dataset(wname, data=data)
                    written[(name, wname)] = data
    return written


def test_parameter_counts(full_model):
    # VGGFace: VGG16 with fc8 over 2,622 identities. (138,357,544 is VGG16 with 1,000 ImageNet classes:
    # 145,002,878 - 1,622 * 4,097.)
    assert full_model.count_params() == 145_002_878
    assert full_model.count_params() - 1622 * 4097 == 138_357_544
    fc8 = full_model.get_layer("fc8")
    assert fc8.count_params() == 4096 * 2622 + 2622
    # the teacher feature model stops at fc7/ReLU
    assert full_model.count_params() - fc8.count_params() == 134_260_544
    s = teachers.spec("vggface16")
    assert (s.input_size, s.feature_dim) == (224, 4096)


def test_preprocessing_rgb_to_bgr_minus_mean():
    layer = vggface.VGGFacePreprocess()
    x = np.array([[[[10, 20, 30]]]], dtype=np.uint8)
    out = np.asarray(layer(x))
    np.testing.assert_allclose(out[0, 0, 0], [30 - 93.5940, 20 - 104.7624, 10 - 129.1863], atol=1e-4)


def test_load_h5_by_layer_name(full_model, tmp_path):
    rng = np.random.default_rng(0)
    layers = [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in full_model.layers if layer.weights]
    assert [n for n, _ in layers] == WEIGHT_LAYERS
    path = tmp_path / "rcmalli_vggface_tf_vgg16.h5"
    written = _write_keras_vggface_h5(path, layers, rng)
    vggface.load_vggface_h5(full_model, path)
    for (name, wname), data in written.items():
        w = full_model.get_layer(name).get_weights()[0 if wname == "kernel:0" else 1]
        if data is None:
            assert w[0, 0] == pytest.approx(0.0025) and w[-1, -1] == pytest.approx(0.0025)
        else:
            np.testing.assert_array_equal(w, data)
    # the feature network (fc7 after ReLU) on one face
    features = keras.Model(full_model.input, full_model.get_layer("fc7_relu").output)
    out = np.asarray(features(np.full((1, 224, 224, 3), 128, np.uint8)))
    assert out.shape == (1, 4096) and np.all(out >= 0) and np.all(np.isfinite(out))


def test_missing_layer_is_a_clear_error(full_model, tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "no_fc7.h5"
    _write_keras_vggface_h5(path, [("conv1_1", [(3, 3, 3, 64), (64,)])], rng)
    with pytest.raises(ValueError, match=r"no_fc7\.h5.*missing layer.*conv1_2"):
        vggface.load_vggface_h5(full_model, path)


def test_misshaped_layer_is_a_clear_error(full_model, tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "bad_shape.h5"
    _write_keras_vggface_h5(path, [("conv1_1", [(3, 3, 3, 32), (32,)])], rng)
    with h5py.File(path, "a") as f:  # every other layer is listed (the loader stops at the first bad layer)
        f.attrs["layer_names"] = np.array([n.encode() for n in ["input_1"] + WEIGHT_LAYERS])
    with pytest.raises(ValueError, match=r"bad_shape\.h5.*conv1_1.*\(3, 3, 3, 32\).*\(3, 3, 3, 64\)"):
        vggface.load_vggface_h5(full_model, path)


def test_not_an_h5_file(full_model, tmp_path):
    path = tmp_path / "weights.h5"
    path.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="weights.h5"):
        vggface.load_vggface_h5(full_model, path)
    with pytest.raises(FileNotFoundError):
        vggface.load_vggface_h5(full_model, tmp_path / "absent.h5")
