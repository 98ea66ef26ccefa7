"""The demo (`skd_tf.experiments.demo.run`, `make demo`): the whole method on synthetic faces, offline.

Presets:
    demo         the default run (about 10 minutes on 2 shared CPU cores; the choices are measured in WORKSPACE.md)
    demo.quick   the same data, teacher and selection (so its selection figures are the default run's), every
                 student trained for one stage-1 and one stage-3 epoch on one crop per face (the tests' setting)
"""
from __future__ import annotations

import dataclasses

from skd_tf.configs import register
from skd_tf.configs.checks import check_fraction, check_modes, check_resolutions
from skd_tf.selection.core import check_lam
from skd_tf.training import MODES, TrainConfig
from skd_tf.utils.checks import check_bool, check_int, check_nested


@dataclasses.dataclass
class DemoConfig:
    """Everything the demo depends on. Student set: `num_identities` x `images_per_identity` synthetic faces with
    `noisy_fraction` planted noisy ones, `test_fraction` of the identities held out for `num_pairs` verification
    pairs; teacher set: `teacher_identities` x `teacher_images_per_identity` other identities, `teacher_epochs` of
    training. `lam`: Eq. 3's lambda. Students at `resolutions` in `modes`, on `perturbations` degraded crops per
    face, trained with `train` (its `seed` is the seed of every random choice of the demo; `num_classes`,
    `resolution` and `supervision` are set by the run). `export`: the best student to TFLite with its speed."""
    num_identities: int = 180
    images_per_identity: int = 20
    test_fraction: float = 1 / 6
    noisy_fraction: float = 0.15
    teacher_identities: int = 300
    teacher_images_per_identity: int = 10
    teacher_epochs: int = 8
    num_pairs: int = 1200
    lam: float = -3.0
    resolutions: tuple[int, ...] = (16, 32)
    modes: tuple[str, ...] = MODES
    perturbations: int = 2
    export: bool = True
    # feature_norm=l2: the compact teacher's centred features have arbitrary scale, and the raw squared error (about
    # ||f||^2 = a few hundred) would swamp the softmax loss; feature_scale 8 measured best of 2, 4, 8 for s, sc, dc.
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(
        init_epochs=6, epochs=4, batch_size=128, learning_rate=2e-3, feature_norm="l2", feature_scale=8.0,
        tensorboard=False))

    def validate(self) -> "DemoConfig":
        for name in ("num_identities", "images_per_identity", "teacher_identities", "teacher_images_per_identity",
                     "teacher_epochs", "perturbations"):
            check_int(name, getattr(self, name), 1)
        check_int("num_pairs", self.num_pairs, 2)
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction: expected a value in (0, 1), got {self.test_fraction!r}")
        check_fraction("noisy_fraction", self.noisy_fraction, closed_high=False)
        check_lam(self.lam)
        check_resolutions(self.resolutions)
        check_modes(self.modes)
        check_bool("export", self.export)
        check_nested("train", self.train)
        return self


def quick() -> DemoConfig:
    config = DemoConfig()
    return dataclasses.replace(config, perturbations=1, num_pairs=600,
                               train=dataclasses.replace(config.train, init_epochs=1, epochs=1))


register("demo", DemoConfig)
register("demo.quick", quick)
