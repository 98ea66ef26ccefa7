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
