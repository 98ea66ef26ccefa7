"""Student training (Section III-B Eq. 1 and III-D Eq. 4-6): losses, the Keras training model, distribution, runs.

The one entry point: `train_student(TrainConfig(...), StudentData(...), val_data, init_weights, model_dir)`.
"""
from skd_tf.data.pipeline import SourceTable
from skd_tf.training.losses import MODES, distillation_losses
from skd_tf.training.model import DistillationModel
from skd_tf.training.runner import (
                                    StudentData,
                                    TrainConfig,
                                    TrainResult,
                                    make_optimizer,
                                    run_stage,
                                    save_student_weights,
                                    train_student,
)

__all__ = ["MODES", "DistillationModel", "SourceTable", "StudentData", "TrainConfig", "TrainResult",
           "distillation_losses", "make_optimizer", "run_stage", "save_student_weights", "train_student"]
