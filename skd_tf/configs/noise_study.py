"""When selection pays (`skd_tf.experiments.noise_study.run`; issue 14, item 3): the LFW fold run of `lfw_lowres`
repeated with wrong labels and unusable faces planted in its training people at known rates.

Presets:
    noise_study         fold 1, S-16 c / sc / dc, clean + 10/20/40% wrong labels + 20% unusable faces, the fold-1
                        recipe (4 perturbations, 10 + 6 epochs) with the crops rendered once in memory
    noise_study.quick   smoke run: 300 training people, 100 test pairs, 10% / 40% wrong labels, 1 + 1 epochs
"""
from __future__ import annotations

import dataclasses

from skd_tf.configs import register
from skd_tf.configs.lfw_lowres import LfwLowresConfig
from skd_tf.configs.paper import PaperConfig
from skd_tf.training import TrainConfig


@dataclasses.dataclass
class NoiseStudyConfig(LfwLowresConfig):
    """An `LfwLowresConfig` (one held-out fold) run once clean and once per planted rate: each label rate of
    `label_rates` alone, each rate of `unusable_rates` alone (`PaperConfig.label_noise` / `unusable_noise`).
    The config's own `label_noise` / `unusable_noise` stay 0: the conditions set them."""
    resolutions: tuple[int, ...] = (16,)
    modes: tuple[str, ...] = ("c", "sc", "dc")
    student_input: str = "memory"
    label_rates: tuple[float, ...] = (0.1, 0.2, 0.4)
    unusable_rates: tuple[float, ...] = (0.2,)
    perturbations: int = PaperConfig.perturbations  # the recipe it was measured with
    train: TrainConfig = dataclasses.field(default_factory=lambda: PaperConfig().train)

    def validate(self) -> "NoiseStudyConfig":
        if len(self.test_folds) != 1:
            raise ValueError(f"test_folds: the noise study holds out one fold, got {self.test_folds!r}")
        if self.label_noise or self.unusable_noise:
            raise ValueError("label_noise / unusable_noise: expected 0 (each condition sets them; use label_rates "
                             "and unusable_rates)")
        for name in ("label_rates", "unusable_rates"):
            rates = getattr(self, name)
            if any(not 0.0 < r < 1.0 for r in rates) or len(set(rates)) != len(rates):
                raise ValueError(f"{name}: expected distinct fractions in (0, 1), got {rates!r}")
        for mode in ("c", "sc", "dc"):
            if mode not in self.modes:
                raise ValueError(f"modes: the study compares c, sc and dc; got {self.modes!r}")
        if self.unusable_rates and self.student_input != "memory":
            raise ValueError("unusable_rates: the corrupted chips are made in memory; set student_input='memory'")
        super().validate()
        return self

    def conditions(self) -> list[tuple[str, float, float]]:
        """`(name, label_noise, unusable_noise)` of every run, clean first."""
        return ([("clean", 0.0, 0.0)] + [(f"label{round(100 * r):02d}", float(r), 0.0) for r in self.label_rates]
                + [(f"unusable{round(100 * r):02d}", 0.0, float(r)) for r in self.unusable_rates])


def quick() -> NoiseStudyConfig:
    config = NoiseStudyConfig()
    return dataclasses.replace(config, max_train_people=300, max_test_pairs=100, label_rates=(0.1, 0.4),
                               unusable_rates=(0.2,), train=dataclasses.replace(config.train, init_epochs=1, epochs=1))


register("noise_study", NoiseStudyConfig)
register("noise_study.quick", quick)
