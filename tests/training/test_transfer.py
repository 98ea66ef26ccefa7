"""Tests for skd_tf.training.transfer: a pre-trained student carried over to new identities."""
import numpy as np

from skd_tf.models.student import build_student
from skd_tf.training.transfer import transfer_student


def test_transfer_student_identity_dim():
    pretrained = build_student(16, feature_dim=32, num_classes=7, identity_dim=128, seed=0)
    same, copied = transfer_student(pretrained, 32, 50, identity_dim=128)
    assert "identity" in copied and "mimic" in copied and "logits" not in copied
    assert same.get_layer("logits").units == 50 and same.input_shape[1] == 32
    np.testing.assert_array_equal(same.get_layer("conv5").get_weights()[0],
                                  pretrained.get_layer("conv5").get_weights()[0])
    wide, copied = transfer_student(pretrained, 16, 50, identity_dim=1024)  # the paper's S-64-sc-1024
    assert "identity" not in copied and wide.get_layer("identity").units == 1024
