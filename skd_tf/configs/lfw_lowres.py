"""Fig. 7 on real faces (`skd_tf.experiments.lfw_lowres.run`): the paper's pipeline trained on the LFW people outside
a View-2 fold, tested on that fold's pairs (dlib ResNet teacher).

Presets:
    lfw_lowres         held-out fold 1, every image of the people of folds 2-10 (about 40 minutes on 2 CPU cores)
    lfw_lowres.quick   smoke run: 1,200 training people, 300 test pairs, 2 perturbations, 8 + 8 epochs
    lfw_lowres.all     the ten folds, one run each, pooled over all 6,000 pairs
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from skd_tf.configs import register
from skd_tf.configs.checks import check_folds
from skd_tf.configs.paper import PaperConfig


@dataclasses.dataclass
class LfwLowresConfig(PaperConfig):
    """A `PaperConfig` run once per held-out fold of `test_folds` (each fold's run is the `PaperConfig` of
    `fold_config`, whose `lfw_train_fold` is that fold, so `lfw_train_fold` itself stays None here). `dataset`: a
    prepared face-folder build of LFW holding at least the training people, with row_id = landmarks5.csv row
    (None: all of LFW, built once into `data_dir`)."""
    dataset: str | None = None
    data_dir: str | None = "runs/tfds_lfw"
    test_folds: tuple[int, ...] = (1,)

    def validate(self) -> "LfwLowresConfig":
        if not self.test_folds:
            raise ValueError("test_folds: expected at least one LFW fold 1..10, got ()")
        check_folds("test_folds", self.test_folds)
        if self.lfw_train_fold is not None:
            raise ValueError(f"lfw_train_fold: expected None (each run's held-out fold comes from test_folds), got "
                             f"{self.lfw_train_fold!r}")
        super().validate()
        return self

    def fold_config(self, fold: int, dataset: str, lfw_root: Path) -> PaperConfig:
        """The pipeline's config of the run that holds out `fold`, on `dataset`, with LFW at `lfw_root`."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(PaperConfig)}
        return PaperConfig(**{**values, "dataset": dataset, "lfw_root": str(lfw_root),
                              "lfw_train_fold": int(fold)}).validate()


def quick() -> LfwLowresConfig:
    config = LfwLowresConfig()
    return dataclasses.replace(config, max_train_people=1200, max_test_pairs=300, perturbations=2,
                               resolutions=(16, 32), train=dataclasses.replace(config.train, init_epochs=8, epochs=8))


register("lfw_lowres", LfwLowresConfig)
register("lfw_lowres.quick", quick)
register("lfw_lowres.all", lambda: LfwLowresConfig(test_folds=tuple(range(1, 11))))
