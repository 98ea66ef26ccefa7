"""Any student on LFW View 2 (`skd_tf.experiments.eval_lfw.run`, which calls
`skd_tf.evaluation.lfw_view2.evaluate_view2`; see it for the rows and conventions).

Presets:
    eval_lfw   all ten folds (6,000 pairs), the teacher rows T and T-p-up, the Keras port of the dlib teacher;
               `students` are the user's (with none, the T row alone)
"""
from __future__ import annotations

import dataclasses

from skd_tf.configs import register
from skd_tf.configs.checks import check_optional_int
from skd_tf.evaluation.lfw_view2 import TEACHER_FEATURE_SOURCES
from skd_tf.evaluation.view2_pairs import parse_folds
from skd_tf.utils.checks import check_bool, check_choice, check_int


@dataclasses.dataclass
class EvalLfwConfig:
    """`students`: .keras, .weights.h5 (with `student_config`, else the run's config.json found beside them),
    .tflite files or training run folders; `names`: one row name per student (default: from the run folder);
    `folds`: View-2 folds 1..10 (None: all ten); `exclude_people`: a file of LFW names whose pairs are dropped;
    `teacher_features`: "port" (the Keras teacher, cached) or "descriptors" (dlib/descriptors.npy); `teacher_rows`:
    the T and T-p-up rows; `target_mean`: the .npy the regression targets were centred by (None: found beside each
    student); `max_pairs`: only the first max_pairs/2 matched and mismatched pairs (smoke runs)."""
    students: tuple[str, ...] = ()
    names: tuple[str, ...] | None = None
    student_config: str | None = None
    lfw_root: str | None = None
    folds: tuple[int, ...] | None = None
    exclude_people: str | None = None
    teacher_features: str = "port"
    teacher_rows: bool = True
    target_mean: str | None = None
    max_pairs: int | None = None
    batch_size: int = 64
    tflite_threads: int | None = None
    seed: int = 0

    def validate(self) -> "EvalLfwConfig":
        if self.names is not None and len(self.names) != len(self.students):
            raise ValueError(f"names: expected one name per student ({len(self.students)}), got {len(self.names)}")
        parse_folds(self.folds)
        check_choice("teacher_features", self.teacher_features, TEACHER_FEATURE_SOURCES)
        check_bool("teacher_rows", self.teacher_rows)
        check_optional_int("max_pairs", self.max_pairs, 2)
        check_int("batch_size", self.batch_size, 1)
        check_optional_int("tflite_threads", self.tflite_threads, 1)
        check_int("seed", self.seed, 0)
        return self


register("eval_lfw", EvalLfwConfig)
