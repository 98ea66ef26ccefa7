"""Field checks of the configs: each raises naming the field, the expected range and the value given.

    check_int("batch_size", 0, 1)   # ValueError: batch_size: expected an integer >= 1, got 0
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np


def check_int(name: str, value: Any, minimum: int) -> None:
    """An integer (not a bool) >= `minimum`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def check_float(name: str, value: Any, positive: bool = False) -> None:
    """A finite number >= 0 (> 0 when `positive`)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)) \
        and math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise ValueError(f"{name}: expected a finite number {'> 0' if positive else '>= 0'}, got {value!r}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected a bool, got {value!r}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {tuple(choices)}, got {value!r}")


def check_file(name: str, path: str | os.PathLike | None, expected: str) -> None:
    """`path` is an existing file; FileNotFoundError naming the field and what it should hold otherwise."""
    if not path or not Path(path).is_file():
        raise FileNotFoundError(f"{name}: {path} does not exist (expected {expected})")


def check_out_dir(name: str, path: str | os.PathLike | None) -> None:
    """`path` is given and is a folder or does not exist yet."""
    if not path:
        raise ValueError(f"{name}: expected an output folder, got {path!r}")
    if Path(path).exists() and not Path(path).is_dir():
        raise ValueError(f"{name}: {path} exists and is not a folder")


def check_nested(name: str, config: Any) -> None:
    """`config.validate()` of a nested config, its errors naming the dotted field ("train.epochs: ...")."""
    try:
        config.validate()
    except ValueError as err:
        raise ValueError(f"{name}.{err}") from None
