"""Tests for skd_tf.models.student (Section III-B, Fig. 3)."""
import numpy as np
import pytest

from skd_tf.models.student import build_student, count_parameters


def test_parameter_count_matches_paper():
    model = build_student(32, feature_dim=4096, num_classes=1000)
    n = count_parameters(model, exclude_softmax=True)
    assert abs(n - 790_000) <= 0.03 * 790_000, n
    # Counting BatchNorm moving statistics too stays within the tolerance.
    n_all = count_parameters(model, exclude_softmax=True, trainable_only=False)
    assert abs(n_all - 790_000) <= 0.03 * 790_000, n_all
    # The softmax layer is excluded, and the count does not depend on the resolution.
    assert count_parameters(model, exclude_softmax=False) == n + 128 * 1000 + 1000
    assert count_parameters(build_student(96, 4096, 1000)) == n


def test_architecture_counts():
    model = build_student(16, feature_dim=128, num_classes=5)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 10
    assert kinds.count("MaxPooling2D") == 3
    assert kinds.count("Dense") == 3
    assert kinds.count("BatchNormalization") == 10
    assert kinds.count("GlobalAveragePooling2D") == 1
    for name in ("mimic", "identity", "logits"):
        assert model.get_layer(name).activation.__name__ == "linear"


@pytest.mark.parametrize("p", [16, 32, 64, 96])
def test_output_shapes(p):
    model = build_student(p, feature_dim=64, num_classes=7, identity_dim=128)
    x = np.random.default_rng(0).integers(0, 256, size=(2, p, p, 3)).astype(np.float32)
    out = model(x, training=False)
    assert set(out) == {"mimic", "identity", "logits"}
    assert tuple(out["mimic"].shape) == (2, 64)
    assert tuple(out["identity"].shape) == (2, 128)
    assert tuple(out["logits"].shape) == (2, 7)


def test_uint8_input_equals_float_input():
    model = build_student(20, feature_dim=16, num_classes=3, seed=1)
    x = np.random.default_rng(1).integers(0, 256, size=(2, 20, 20, 3)).astype(np.uint8)
    a = model(x, training=False)["mimic"]
    b = model(x.astype(np.float32), training=False)["mimic"]
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


def test_seeded_build_is_repeatable_and_mimic_is_signed():
    a = build_student(16, feature_dim=32, num_classes=3, seed=3)
    b = build_student(16, feature_dim=32, num_classes=3, seed=3)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    x = np.random.default_rng(2).uniform(0, 255, size=(4, 16, 16, 3)).astype(np.float32)
    mimic = np.asarray(a(x, training=False)["mimic"])
    assert (mimic < 0).any() and (mimic > 0).any()  # linear mimic output can regress signed teacher features


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="resolution"):
        build_student(8)
    with pytest.raises(ValueError, match="num_classes"):
        build_student(16, num_classes=0)


def test_paper_arch_is_fig3_exactly():
    # The default and the named "paper" architecture are the same network: 789,648 parameters at D = 4,096.
    from skd_tf.models.student import ARCHS, PAPER_WIDTHS

    model = build_student(32, feature_dim=4096, num_classes=10, arch="paper")
    assert count_parameters(model) == 789_648
    widths = [layer.filters for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert tuple(widths) == PAPER_WIDTHS == (16, 16, 32, 16, 32, 64, 32, 64, 128, 32)
    default = build_student(32, feature_dim=4096, num_classes=10, seed=3)
    named = build_student(32, feature_dim=4096, num_classes=10, seed=3, arch=ARCHS["paper"])
    for a, b in zip(default.weights, named.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_budget_matched_arch_spends_the_papers_budget_at_d128():
    # 0.79M +- 3% parameters excluding the softmax at dlib's D = 128, pooled width K = D (the rank argument).
    model = build_student(16, feature_dim=128, num_classes=50, arch="budget_d128")
    n = count_parameters(model)
    assert abs(n - 790_000) <= 0.03 * 790_000, n
    assert model.get_layer("mimic").kernel.shape == (128, 128)
    assert count_parameters(build_student(16, feature_dim=128, num_classes=50, arch="paper")) == 150_800
    # The BN + ReLU head adds the BatchNorm's 2 x 128 learned parameters.
    assert count_parameters(build_student(16, feature_dim=128, num_classes=50, arch="budget_d128_bn_relu")) == n + 256


def test_mimic_rank_is_bounded_by_the_pooled_width():
    # The mimic layer is affine in the K-D pooled feature: its centred outputs have rank <= K (32 as in Fig. 3),
    # while K = 128 lets them span all D = 128 directions.
    from skd_tf.models.student import StudentArch

    x = np.random.default_rng(0).integers(0, 256, size=(300, 16, 16, 3)).astype(np.float32)

    def rank(arch):
        mimic = np.asarray(build_student(16, feature_dim=128, num_classes=5, seed=0, arch=arch)(x)["mimic"],
                           np.float64)
        s = np.linalg.svd(mimic - mimic.mean(0), compute_uv=False)
        return int(np.sum(s > 1e-6 * s[0]))

    assert rank("paper") <= 32
    assert rank(StudentArch().scaled(1.0, pooled_width=128)) > 32


def test_bn_relu_head_sits_between_mimic_and_identity():
    from skd_tf.models.student import StudentArch

    linear = build_student(16, feature_dim=64, num_classes=5, arch=StudentArch())
    model = build_student(16, feature_dim=64, num_classes=5, seed=0,
                          arch={"widths": list(StudentArch().widths), "head": "bn_relu"})  # the config.json form
    assert count_parameters(model) == count_parameters(linear) + 2 * 64  # BatchNorm gamma and beta on the mimic
    x = np.random.default_rng(2).integers(0, 256, size=(4, 16, 16, 3)).astype(np.float32)
    out = model(x, training=False)
    bn = model.get_layer("head_bn")
    relu = np.maximum(np.asarray(bn(out["mimic"], training=False)), 0.0)
    layer = model.get_layer("identity")
    expected = relu @ np.asarray(layer.kernel) + np.asarray(layer.bias)
    np.testing.assert_allclose(np.asarray(out["identity"]), expected, rtol=1e-4, atol=1e-4)
    assert np.asarray(out["mimic"]).min() < 0  # the mimic output itself stays linear (signed targets)


def test_arch_errors_name_the_field():
    from skd_tf.models.student import StudentArch, resolve_arch

    with pytest.raises(ValueError, match="widths"):
        StudentArch(widths=(16, 16))
    with pytest.raises(ValueError, match="head"):
        StudentArch(head="gelu")
    with pytest.raises(ValueError, match="unknown name"):
        resolve_arch("huge")
