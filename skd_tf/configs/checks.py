"""Field checks of the face-recognition configs (the generic ones are `skd_tf.utils.checks`): each raises ValueError
naming the field, the expected range and the value given."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from skd_tf.training.losses import check_mode
from skd_tf.utils.checks import check_int


def check_optional_int(name: str, value: Any, minimum: int) -> None:
    """None, or an integer >= `minimum`."""
    if value is not None:
        check_int(name, value, minimum)


def check_fraction(name: str, value: Any, *, closed_high: bool = True) -> None:
    """A number in [0, 1] ([0, 1) when not `closed_high`)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)) \
        and math.isfinite(value) and 0 <= value and (value <= 1 if closed_high else value < 1)
    if not ok:
        raise ValueError(f"{name}: expected a value in [0, 1{']' if closed_high else ')'}, got {value!r}")


def check_resolutions(resolutions: Sequence[Any]) -> None:
    """At least one positive pixel size."""
    if not resolutions or any(isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, np.integer)) or p < 1
                              for p in resolutions):
        raise ValueError(f"resolutions: expected positive pixel sizes, got {resolutions}")


def check_modes(modes: Sequence[str]) -> None:
    """At least one supervision mode of Section IV-C."""
    if not modes:
        raise ValueError("modes: expected at least one of c, s, sc, dc")
    for mode in modes:
        check_mode(mode)


def check_folds(name: str, folds: Sequence[Any]) -> None:
    """LFW View-2 folds 1..10."""
    for k in folds:
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 10:
            raise ValueError(f"{name}: expected LFW folds 1..10, got {k!r}")
