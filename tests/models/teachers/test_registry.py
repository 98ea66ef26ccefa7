"""Tests for the teacher registry (skd_tf.models.teachers)."""
import sys

import pytest

from skd_tf.models import teachers


def test_known_names():
    assert {"dlib_resnet", "vggface16", "compact"} <= set(teachers.names())


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match="dlib_resnet.*vggface16"):
        teachers.build("resnet9000")
    with pytest.raises(ValueError, match="known teachers"):
        teachers.spec("nope")


def test_spec_is_frozen_and_lazy():
    s = teachers.spec("vggface16")
    assert (s.input_size, s.feature_dim, s.feature_layer, s.color_order) == (224, 4096, "fc7_relu", "BGR")
    with pytest.raises(Exception):
        s.feature_dim = 3  # frozen dataclass
    assert teachers.spec("dlib_resnet").feature_dim == 128


def test_spec_falls_back_to_module_constant(monkeypatch):
    import types
    fake = types.ModuleType("skd_tf_fake_teacher")
    fake.SPEC = teachers.TeacherSpec("fake", 32, 7, "f", "RGB", "none")
    fake.build = lambda **kw: ("built", kw)
    monkeypatch.setitem(sys.modules, "skd_tf_fake_teacher", fake)
    monkeypatch.setitem(teachers.TEACHERS, "fake", "skd_tf_fake_teacher")
    assert teachers.spec("fake").feature_dim == 7
    assert teachers.build("fake", a=1) == ("built", {"a": 1})
