"""Fig. 7 on real faces (`skd_tf.experiments.lfw_lowres.run`): the paper's pipeline trained on the LFW people outside
a View-2 fold, tested on that fold's pairs (dlib ResNet teacher).

The student recipe is the one issue 14's recipe study supports on fold 1 (`RECIPE`, WORKSPACE "Recipe study"): the
budget-matched trunk with a BN + ReLU head, Adam at 2e-3 / 1e-3, horizontal flips, the paper's 16 perturbations
(3 + 2 epochs). The recipe every LFW result before that study was measured with (Fig. 3's widths, linear head,
Adam at 1e-3 / 5e-4, no flips, 4 perturbations, 10 + 6 epochs: `PaperConfig`'s own defaults, and the study's
baseline) is `--config=lfw_lowres.before_study`, and the paper's literal settings
(Fig. 3's widths, raw features, the 16 perturbations, SGD) are `--config=lfw_lowres.paper_literal`.

Presets:
    lfw_lowres               held-out fold 1, every image of the people of folds 2-10, the study's recipe
    lfw_lowres.quick         smoke run: 1,200 training people, 300 test pairs, 2 perturbations, 8 + 8 epochs
    lfw_lowres.all           the ten folds, one run each, pooled over all 6,000 pairs
    lfw_lowres.before_study  fold 1 with the recipe before the study (about 40 minutes on 2 CPU cores)
    lfw_lowres.paper_literal fold 1 with the paper's literal student settings (Section III-B, IV-A)
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from skd_tf.configs import register
from skd_tf.configs.checks import check_folds
from skd_tf.configs.paper import PaperConfig
from skd_tf.training import TrainConfig

#: The changes to `PaperConfig`'s student schedule that the recipe study supports at D = 128 (dlib): each raised
#: S-16-sc's fold-1 AUC alone, and together they are the study's `combined` factor. The 16 perturbations come with
#: 3 + 2 epochs, about the steps of 4 perturbations x (10 + 6) epochs.
RECIPE_TRAIN = {"student_arch": "budget_d128_bn_relu", "learning_rate": 2e-3, "finetune_learning_rate": 1e-3,
                "flip": True, "init_epochs": 3, "epochs": 2}
RECIPE_PERTURBATIONS = 16
#: The same, as config overrides (dotted keys).
RECIPE = {"perturbations": RECIPE_PERTURBATIONS, **{f"train.{key}": value for key, value in RECIPE_TRAIN.items()}}


def study_recipe() -> TrainConfig:
    """`PaperConfig`'s student schedule with `RECIPE_TRAIN` applied."""
    return dataclasses.replace(PaperConfig().train, **RECIPE_TRAIN)


@dataclasses.dataclass
class LfwLowresConfig(PaperConfig):
    """A `PaperConfig` run once per held-out fold of `test_folds` (each fold's run is the `PaperConfig` of
    `fold_config`, whose `lfw_train_fold` is that fold, so `lfw_train_fold` itself stays None here). `dataset`: a
    prepared face-folder build of LFW holding at least the training people, with row_id = landmarks5.csv row
    (None: all of LFW, built once into `data_dir`)."""
    dataset: str | None = None
    data_dir: str | None = "runs/tfds_lfw"
    test_folds: tuple[int, ...] = (1,)
    perturbations: int = RECIPE_PERTURBATIONS
    train: TrainConfig = dataclasses.field(default_factory=study_recipe)

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


def before_study() -> LfwLowresConfig:
    return LfwLowresConfig(perturbations=PaperConfig().perturbations, train=PaperConfig().train)


def paper_literal() -> LfwLowresConfig:
    """Fig. 3's student (its widths, linear head), the raw teacher features regressed as they are (Eq. 5, no centring
    or normalisation), the 16 perturbations of Section IV-A, and "standard BP": SGD with momentum 0.9 (the paper
    gives no rate; 0.05 / 0.025 as the study's `sgd` factor), 10 + 6 epochs: about 3x the steps of the default."""
    train = dataclasses.replace(PaperConfig().train, optimizer="sgd", learning_rate=0.05, finetune_learning_rate=0.025,
                                feature_norm="raw")
    return LfwLowresConfig(perturbations=16, center_targets=False, train=train)


register("lfw_lowres", LfwLowresConfig)
register("lfw_lowres.quick", quick)
register("lfw_lowres.all", lambda: LfwLowresConfig(test_folds=tuple(range(1, 11))))
register("lfw_lowres.before_study", before_study)
register("lfw_lowres.paper_literal", paper_literal)
