"""Tests of skd_tf.analysis.complexity: analytic parameters, MACs and activation memory (Section IV-F, Fig. 8)."""
import keras
import numpy as np
import pytest

from skd_tf.analysis.complexity import analyze
from skd_tf.models.student import build_student


def test_hand_computed_small_model():
    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="c")(x)   # 8*8*4 * 3*3*3 = 6912 MACs
    y = keras.layers.BatchNormalization(name="bn")(y)                             # 2 * 256 ops, in place
    y = keras.layers.ReLU(name="r")(y)                                             # 256 ops, in place
    y = keras.layers.MaxPooling2D(2, name="p")(y)                                  # 4*4*4 outputs x 4 = 256 ops
    y = keras.layers.GlobalAveragePooling2D(name="g")(y)                           # 64 ops
    y = keras.layers.Dense(5, name="d")(y)                                         # 4*5 = 20 MACs
    m = keras.Model(x, y)
    c = analyze(m, exclude_layers=("d",))
    assert c.macs == 6912 + 20 and c.flops == 2 * c.macs
    assert c.other_ops == 512 + 256 + 256 + 64
    assert c.params == 4 * 27 + 4 * 4 + 4 * 5 + 5
    assert c.excluded_params == 25 and c.params_without_excluded == c.params - 25
    assert c.input_floats == 192
    outs = 256 + 256 + 256 + 64 + 4 + 5
    assert c.activation_bytes == 4 * (192 + outs)
    assert c.activation_bytes_inplace == 4 * (192 + outs - 512)   # BN and ReLU outputs excluded
    assert not c.uncounted


def test_nested_model_is_expanded():
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, name="inner_dense")], name="inner")
    x = keras.Input((6,))
    m = keras.Model(x, keras.layers.Dense(2, name="outer")(inner(x)))
    c = analyze(m)
    assert c.macs == 6 * 3 + 3 * 2
    assert any(layer.name == "inner/inner_dense" for layer in c.layers)


def test_student_matches_paper_parameter_budget():
    c = analyze(build_student(16, feature_dim=4096, num_classes=1000), exclude_layers=("logits",))
    # 0.79M parameters excluding the softmax layer (paper Section III-B); trainable weights only.
    assert abs(c.trainable_params_without_excluded - 789_648) == 0
    assert c.trainable_params - c.trainable_params_without_excluded == 128 * 1000 + 1000
    # MACs grow with the pixel count in the convolutions; the heads are resolution independent.
    c32 = analyze(build_student(32, feature_dim=4096, num_classes=1000))
    heads = 32 * 4096 + 4096 * 128 + 128 * 1000
    assert c32.macs - heads == pytest.approx(4 * (c.macs - heads), rel=1e-9)


def test_vgg16_reference_counts():
    # Keras' VGG16 (the VGGFace architecture with a 1000-way fc8): 138,357,544 params, 15.47 GMACs at 224 px.
    m = keras.applications.VGG16(weights=None, classifier_activation=None)
    c = analyze(m, exclude_layers=("predictions",))
    assert c.params == 138_357_544
    assert c.macs == 15_470_264_320
    assert c.params_without_excluded == 138_357_544 - (4096 + 1) * 1000
    assert c.activation_bytes == c.activation_bytes_inplace   # ReLU fused into the convolutions


def test_rejects_non_model_and_unknown_exclude():
    with pytest.raises(ValueError, match="keras.Model"):
        analyze(np.zeros(3))
    with pytest.raises(ValueError, match="nope"):
        analyze(build_student(16), exclude_layers=("nope",))
