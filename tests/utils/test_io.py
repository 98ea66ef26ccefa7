import json

import numpy as np
import pytest

from skd_tf.utils import io


def test_atomic_writes_round_trip(tmp_path):
    io.save_npy(tmp_path / "a.npy", np.arange(6).reshape(2, 3))
    io.write_json(tmp_path / "b.json", {"x": np.float32(1.5), "y": np.arange(2)})
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.arange(6).reshape(2, 3))
    assert json.loads((tmp_path / "b.json").read_text()) == {"x": 1.5, "y": [0, 1]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.json"]


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with io.atomic_path(tmp_path / "c.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_check_settings_records_then_refuses_other_settings(tmp_path):
    import json

    import numpy as np
    import pytest

    from skd_tf.utils.io import check_settings

    path = tmp_path / "run" / "flags.json"
    check_settings(path, {"seed": 1, "sizes": np.array([16, 32])})
    assert json.loads(path.read_text()) == {"seed": 1, "sizes": [16, 32]}
    check_settings(path, {"seed": 1, "sizes": [16, 32]})  # same settings: resumes
    with pytest.raises(ValueError, match=r"flags.json: .*other settings .*'seed': \(1, 2\).*use another"):
        check_settings(path, {"seed": 2, "sizes": [16, 32]})
    with pytest.raises(ValueError, match=r"'extra': \(None, 3\)"):
        check_settings(path, {"seed": 1, "sizes": [16, 32], "extra": 3})
    check_settings(tmp_path / "other.json", {"a": 1}, write=False)
    assert not (tmp_path / "other.json").exists()


def test_check_settings_compares_nested_settings_key_by_key_with_dotted_defaults(tmp_path):
    import json

    import pytest

    from skd_tf.utils.io import check_settings

    path = tmp_path / "settings.json"
    check_settings(path, {"lam": -1, "train": {"epochs": 6, "seed": 0}})  # recorded before train.flip existed
    assert json.loads(path.read_text()) == {"lam": -1, "train": {"epochs": 6, "seed": 0}}  # written nested
    check_settings(path, {"lam": -1, "train": {"epochs": 6, "seed": 0, "flip": False}}, defaults={"train.flip": False})
    with pytest.raises(ValueError, match=r"other settings \{'train.flip': \(None, True\)\}"):
        check_settings(path, {"lam": -1, "train": {"epochs": 6, "seed": 0, "flip": True}},
                       defaults={"train.flip": False})
    with pytest.raises(ValueError, match=r"other settings \{'train.epochs': \(6, 8\)\}"):
        check_settings(path, {"lam": -1, "train": {"epochs": 8, "seed": 0}})
    check_settings(path, {"lam": -1, "train": {"epochs": 8, "seed": 0}}, ignore=("train",))


@pytest.fixture
def umask():
    """Sets the process umask for one test (restored afterwards)."""
    import os

    old = os.umask(0o022)
    os.umask(old)
    yield lambda m: os.umask(m)
    os.umask(old)


def _mode(p):
    return p.stat().st_mode & 0o777


def test_atomic_files_and_dirs_get_the_mode_open_would_give(tmp_path, umask):
    umask(0o022)
    assert io.current_umask() == 0o022
    io.write_json(tmp_path / "r.json", {"a": 1})
    io.save_npy(tmp_path / "a.npy", np.zeros(3))
    io.write_text(tmp_path / "t.txt", "x")
    io.write_bytes(tmp_path / "b.bin", b"x")
    with io.atomic_path(tmp_path / "w.weights.h5", suffix=".weights.h5") as tmp:
        tmp.write_bytes(b"h5")
    with io.atomic_dir(tmp_path / "saved_model") as d:
        (d / "inner.pb").write_bytes(b"pb")
    with open(tmp_path / "plain.txt", "w") as f:  # what the helpers must match
        f.write("x")
    for name in ("r.json", "a.npy", "t.txt", "b.bin", "w.weights.h5", "plain.txt"):
        assert _mode(tmp_path / name) == 0o644, name
    assert _mode(tmp_path / "saved_model") == 0o755 and (tmp_path / "saved_model" / "inner.pb").is_file()
    # Replacing an existing folder keeps the mode rule and leaves no temporary folders behind.
    with io.atomic_dir(tmp_path / "saved_model") as d:
        (d / "new.pb").write_bytes(b"pb")
    assert sorted(p.name for p in (tmp_path / "saved_model").iterdir()) == ["new.pb"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    umask(0o077)
    assert io.current_umask() == 0o077
    io.write_json(tmp_path / "private.json", {})
    assert _mode(tmp_path / "private.json") == 0o600


def test_write_json_writes_null_for_non_finite_floats(tmp_path):
    obj = {"nan": float("nan"), "inf": float("inf"), "ninf": -np.inf, "f32": np.float32("nan"),
           "arr": np.array([1.0, np.nan, np.inf]), "nested": [{"x": (np.float64("-inf"), 2.5)}], "ok": 0.5,
           "int": np.int64(3), "bool": np.bool_(True), "path": tmp_path}
    io.write_json(tmp_path / "r.json", obj)
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"nan": None, "inf": None, "ninf": None, "f32": None, "arr": [1.0, None, None],
                                "nested": [{"x": [None, 2.5]}], "ok": 0.5, "int": 3, "bool": True,
                                "path": str(tmp_path)}
    # Strict JSON parsers accept it.
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    with pytest.raises(TypeError, match="cannot serialise object"):
        io.write_json(tmp_path / "bad.json", {"x": object()})
    assert not (tmp_path / "bad.json").exists()


def test_check_settings_ignore_and_defaults(tmp_path):
    path = tmp_path / "flags.json"
    io.check_settings(path, {"lr": 0.1, "verbose": 0})
    io.check_settings(path, {"lr": 0.1, "verbose": 2}, ignore=("verbose",))  # not compared
    # A key the record predates matches its default only.
    io.check_settings(path, {"lr": 0.1, "verbose": 0, "new": 5}, defaults={"new": 5})
    with pytest.raises(ValueError, match=r"'new': \(None, 6\)"):
        io.check_settings(path, {"lr": 0.1, "verbose": 0, "new": 6}, defaults={"new": 5})
    # NaN settings are recorded as null and compare equal to themselves on resume.
    io.check_settings(tmp_path / "nan.json", {"lr": float("nan")})
    io.check_settings(tmp_path / "nan.json", {"lr": float("nan")})
    assert json.loads((tmp_path / "nan.json").read_text()) == {"lr": None}
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="broken.json: the recorded settings are not valid JSON"):
        io.check_settings(tmp_path / "broken.json", {"a": 1})
