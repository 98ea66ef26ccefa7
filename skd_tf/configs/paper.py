"""The paper's pipeline (`skd_tf.experiments.paper.run_paper`): a face dataset -> teacher features -> Eq. 3 selection
-> students S-p-{c,s,sc,dc} -> LFW View 2.

Presets (`PaperConfig()` itself: 16/32 px and 4 perturbations, the CPU-sized setting `lfw_lowres` starts from):
    paper            the paper's students (Section IV-A: 16/32/64/96 px, 16 perturbations per face) with the dlib
                     teacher on a face-folder build (`dataset`, `data_dir`: the user's)
    paper.umdfaces   the paper's setting: the same on UMDFaces' aligned 224-px chips with the VGGFace teacher (its
                     `teacher_weights` file and `data_dir` are the user's; README, "The paper's experiment")
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from skd_tf.configs import register
from skd_tf.configs.checks import check_folds, check_fraction, check_modes, check_optional_int, check_resolutions
from skd_tf.data.sources import SAMPLINGS
from skd_tf.models import teachers
from skd_tf.selection.core import check_lam
from skd_tf.training import MODES, TrainConfig
from skd_tf.utils.checks import check_bool, check_choice, check_file, check_int, check_nested

STUDENT_INPUTS = ("stream", "disk", "memory")
#: Settings added after runs were recorded: a recorded run without them resumes when they have these values.
ADDED_DEFAULTS = {"student_input": "stream", "label_noise": 0.0, "unusable_noise": 0.0, "teacher_cache": None,
                  "uccs_csv": None, "uccs_student": "S-16-sc", "scface_dir": None, "scface_student": "S-64-sc",
                  "train.flip": False, "train.student_arch": "paper"}


@dataclasses.dataclass
class PaperConfig:
    """Everything one run of the pipeline depends on (`skd_tf.experiments.paper`). `train` holds the student schedule
    and losses; its `resolution`/`supervision` are set per student, its `feature_scale` 0 means sqrt(D).
    `lfw_train_fold=k` trains on the LFW people outside View-2 fold k only (and tests on fold k). `teacher_cache`:
    the folder of the teacher-feature cache (None: out_dir/teacher_features); runs on the same dataset and teacher
    may share one. `uccs_csv` / `scface_dir`: when given, the run also evaluates its student `uccs_student` on
    UCCS identification (Section IV-D; the paper's S-16-sc) and `scface_student` on SCface retrieval (Section IV-E;
    the paper's S-64-sc) with those experiments' default protocols (`skd_tf.configs.uccs`, `skd_tf.configs.scface`).

    `student_input`: "stream" degrades the chips inside tf.data every epoch (memory flat in N); "disk" (fixed
    sampling) renders each training face's K crops once per resolution into `out_dir/crops` and streams them from
    there in every stage and mode (the same batches as "stream", memory still flat, N x K crops on disk:
    `skd_tf.data.sources`' crop cache); "memory" renders them once into memory (`skd_tf.data.chips.render_crops`: for
    data that fits). `label_noise` / `unusable_noise`: fractions of the training
    faces of people with >= 2 images planted as wrong labels / unusable faces before anything else runs
    (`skd_tf.data.noise`; the noise study of issue 14)."""
    dataset: str = "face_folder/aligned_150"
    data_dir: str | None = None
    split: str = "train"
    id_key: str | None = "auto"
    teacher: str = "dlib_resnet"
    teacher_weights: str | None = None
    teacher_cache: str | None = None
    lfw_root: str | None = None
    lfw_train_fold: int | None = None
    min_train_images: int = 1
    max_train_people: int | None = None
    eval_folds: tuple[int, ...] | None = None
    max_test_pairs: int | None = None
    resolutions: tuple[int, ...] = (16, 32)
    modes: tuple[str, ...] = MODES
    perturbations: int = 4
    sampling: str = "fixed"
    jitter: float = 0.05
    input_shards: int = 1
    student_input: str = "stream"
    label_noise: float = 0.0
    unusable_noise: float = 0.0
    uccs_csv: str | None = None
    uccs_student: str = "S-16-sc"
    scface_dir: str | None = None
    scface_student: str = "S-64-sc"
    center_targets: bool = True
    keep_fraction: float = 0.9
    lam: float | None = None
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(
        init_epochs=10, epochs=6, finetune_learning_rate=5e-4, feature_norm="l2", feature_scale=0.0))

    def validate(self) -> "PaperConfig":
        teachers.spec(self.teacher)
        check_resolutions(self.resolutions)
        check_modes(self.modes)
        check_choice("sampling", self.sampling, SAMPLINGS)
        check_choice("student_input", self.student_input, STUDENT_INPUTS)
        if self.student_input in ("disk", "memory") and self.sampling != "fixed":
            raise ValueError(f"student_input {self.student_input!r} renders one fixed set of crops; sampling "
                             f"{self.sampling!r} draws new ones every epoch (use student_input 'stream')")
        for name in ("label_noise", "unusable_noise"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name}: expected a fraction in [0, 1), got {value!r}")
        if self.label_noise + self.unusable_noise >= 1.0:
            raise ValueError(f"label_noise + unusable_noise: expected < 1, got "
                             f"{self.label_noise} + {self.unusable_noise}")
        if self.unusable_noise and self.student_input != "memory":
            raise ValueError("unusable_noise: the corrupted chips are made in memory; set student_input='memory'")
        for name in ("perturbations", "input_shards", "min_train_images"):
            check_int(name, getattr(self, name), 1)
        check_optional_int("max_train_people", self.max_train_people, 1)
        check_optional_int("max_test_pairs", self.max_test_pairs, 2)
        check_fraction("keep_fraction", self.keep_fraction)
        if self.lam is not None:
            check_lam(self.lam)
        if self.lfw_train_fold is not None:
            check_folds("lfw_train_fold", (self.lfw_train_fold,))
        check_folds("eval_folds", self.eval_folds or ())
        if not self.jitter >= 0:
            raise ValueError(f"jitter: expected >= 0, got {self.jitter}")
        check_bool("center_targets", self.center_targets)
        for field, student, given in (("uccs_student", self.uccs_student, self.uccs_csv),
                                      ("scface_student", self.scface_student, self.scface_dir)):
            if given is None:
                continue
            trained = [f"S-{p}-{m}" for p in self.resolutions for m in self.modes]
            if student not in trained:
                raise ValueError(f"{field}: expected one of the run's students {trained}, got {student!r}")
        if self.uccs_csv is not None:
            check_file("uccs_csv", self.uccs_csv, "the UCCS ground-truth CSV")
        if self.scface_dir is not None and not Path(self.scface_dir).is_dir():
            raise FileNotFoundError(f"scface_dir: {self.scface_dir} is not a folder")
        # feature_scale 0 means sqrt(D), known once the teacher features are
        check_nested("train", dataclasses.replace(self.train, feature_scale=self.train.feature_scale or 1.0))
        return self

    @property
    def test_folds(self) -> tuple[int, ...]:
        """View-2 folds scored: `eval_folds`, else the held-out fold of an LFW-trained run, else all ten."""
        if self.eval_folds:
            return tuple(int(k) for k in self.eval_folds)
        return (int(self.lfw_train_fold),) if self.lfw_train_fold else tuple(range(1, 11))


def paper() -> PaperConfig:
    return PaperConfig(resolutions=(16, 32, 64, 96), perturbations=16)


def umdfaces() -> PaperConfig:
    return dataclasses.replace(paper(), dataset="umdfaces/aligned_224", teacher="vggface16")


register("paper", paper)
register("paper.umdfaces", umdfaces)
