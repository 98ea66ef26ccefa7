"""skd_tf.utils.checks: each check refuses naming the field, the expected range and the value given."""
import numpy as np
import pytest

from skd_tf.training import TrainConfig
from skd_tf.utils import checks


def test_int_and_float_checks():
    checks.check_int("n", np.int64(3), 1)
    for bad in (0, True, 1.0, "2"):
        with pytest.raises(ValueError, match=rf"^n: expected an integer >= 1, got {bad!r}$"):
            checks.check_int("n", bad, 1)
    checks.check_float("x", 0)
    with pytest.raises(ValueError, match=r"^x: expected a finite number > 0, got 0$"):
        checks.check_float("x", 0, positive=True)
    for bad in (float("nan"), float("inf"), -1.0, False):
        with pytest.raises(ValueError, match=r"^x: expected a finite number >= 0"):
            checks.check_float("x", bad)


def test_choice_bool_files_and_nested(tmp_path):
    with pytest.raises(ValueError, match=r"^mode: expected one of \('a', 'b'\), got 'c'$"):
        checks.check_choice("mode", "c", ("a", "b"))
    with pytest.raises(ValueError, match=r"^flag: expected a bool, got 1$"):
        checks.check_bool("flag", 1)
    with pytest.raises(FileNotFoundError, match=r"^csv: .*no.csv does not exist \(expected a CSV\)$"):
        checks.check_file("csv", tmp_path / "no.csv", "a CSV")
    (tmp_path / "file").write_text("")
    checks.check_out_dir("out_dir", tmp_path / "new")
    with pytest.raises(ValueError, match=r"^out_dir: .*file exists and is not a folder$"):
        checks.check_out_dir("out_dir", tmp_path / "file")
    with pytest.raises(ValueError, match=r"^train\.batch_size: expected an integer >= 1, got 0$"):
        checks.check_nested("train", TrainConfig(batch_size=0))
