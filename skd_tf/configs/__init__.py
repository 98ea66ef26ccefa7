"""Every experiment as a named, typed, validated config (in the manner of big_vision's configs).

    get_config("lfw_lowres.quick")                              # a fresh, validated config instance
    apply_overrides(config, {"train.epochs": 2, "resolutions": (16,)})
    config_names()                                              # ["demo", "demo.quick", "lfw_lowres", ...]

One module per experiment (`skd_tf.configs.demo`, `skd_tf.configs.paper`, ...) holds its config dataclass (one
`validate()` that names the field, the expected range and the value given; students' schedules and losses nested as
`skd_tf.training.TrainConfig` under `train`) and registers its presets at import: `"NAME"` the experiment's default,
`"NAME.VARIANT"` e.g. its `quick` smoke run. `skd_tf.experiments.run(name, out_dir, overrides)` runs any of them
(its `RUNNERS` maps each config dataclass to the function that runs it).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

_FACTORIES: dict[str, Callable[[], Any]] = {}


def register(name: str, factory: Callable[[], Any]) -> None:
    """Registers `factory` (no arguments, returns a config dataclass instance) under `name`."""
    if name in _FACTORIES:
        raise ValueError(f"config {name!r} is already registered")
    _FACTORIES[name] = factory


def config_names() -> list[str]:
    """The registered config names, sorted."""
    return sorted(_FACTORIES)


def get_config(name: str) -> Any:
    """A fresh, validated instance of the config registered as `name`."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown config {name!r}; expected one of {config_names()}")
    return _FACTORIES[name]().validate()


def apply_overrides(config: Any, overrides: Mapping[str, Any]) -> Any:
    """A new validated config: `config` with each `overrides` key (a field name, dotted into nested dataclasses:
    "train.epochs") set to its value (a list given for a tuple field becomes a tuple). `config` is not changed."""
    return _replace(config, overrides, prefix="").validate()


def _replace(config: Any, overrides: Mapping[str, Any], prefix: str) -> Any:
    fields = {f.name for f in dataclasses.fields(config)}
    direct: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        head, dot, rest = key.partition(".")
        if head not in fields or (dot and not dataclasses.is_dataclass(getattr(config, head))):
            raise ValueError(f"unknown config key {prefix + key!r} for {type(config).__name__}; expected one of "
                             f"{sorted(prefix + f for f in fields)}")
        if dot:
            nested.setdefault(head, {})[rest] = value
        else:
            current = getattr(config, head)
            direct[head] = tuple(value) if isinstance(current, tuple) and isinstance(value, list) else value
    for head, sub in nested.items():
        direct[head] = _replace(direct.get(head, getattr(config, head)), sub, prefix=f"{prefix}{head}.")
    return dataclasses.replace(config, **direct)


# The experiments' configs (each module registers its presets when imported).
from skd_tf.configs import (  # noqa: E402,F401
    demo,
    eval_lfw,
    export,
    features,
    lfw_lowres,
    noise_study,
    paper,
    recipe_study,
    scface,
    select,
    train_student,
    uccs,
)
