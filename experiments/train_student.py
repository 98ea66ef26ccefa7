"""Train one student S-p-<supervision> (Sections III-B, III-D, IV-C): stage 1 (mode c) then stage 3; the run is
`skd_tf.experiments.train_student` (config `skd_tf.configs.train_student.TrainStudentConfig`, nesting
`skd_tf.training.TrainConfig` as `train`; registered as "train_student").

    python -m experiments.train_student --train_data=runs/x/train32.npz --resolution=32 --supervision=sc \
        --teacher_features=runs/cache/x --selection=runs/select/x/alpha.npy --model_dir=runs/students/S-32-sc
    python -m experiments.train_student --train_data=tfds:umdfaces/aligned_150 --data_dir=~/tensorflow_datasets \
        --resolution=16 --perturbations=16 --supervision=sc --teacher_features=... --selection=... --model_dir=...

--train_data / --val_data: a TFDS dataset (`tfds:NAME` with --data_dir, or a prepared dataset's folder) of aligned
chips with landmarks, labels and row ids, streamed and degraded on the fly (--perturbations, --sampling, --jitter;
--input_shards for several workers), or an `.npz` of pre-degraded crops with images [M,p,p,3] uint8, source_rows
[M], row_ids [N], labels [N] (`skd_tf.training.data_io.save_student_arrays`). --teacher_features: a feature-cache
directory or an `.npz` (features, row_ids). --selection: `alpha.npy` of `experiments.select`, its folder, or an
`.npz` (alpha, row_ids). --init_checkpoint: a student .weights.h5 to fine-tune from (e.g. another run's
stage1_c/final.weights.h5). Rerunning the same command after a kill resumes where it stopped (MODEL_DIR/flags.json
records the settings). Prints the last epoch's metrics as one JSON line:

    {"model_dir": "...", "weights": ".../student.weights.h5", "loss": ..., "cls_loss": ..., "reg_loss": ...}

Flags left unset take the config's value (`--config`, default "train_student"; `--quick`: one epoch per stage).
"""
from __future__ import annotations

import json

from absl import app, flags

from skd_tf.configs import flags as config_flags
from skd_tf.experiments import train_student

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program, so importing this module defines none)."""
    flags.DEFINE_string("model_dir", None, "output folder (resumed when it holds this run)", required=True)
    config_flags.define_config_flags("train_student")
    define = config_flags.define_override
    define("train_data", "string", "tfds:NAME, a prepared TFDS dataset folder, or a student set .npz")
    define("val_data", "string", "optional validation set (same kinds; best checkpoint on val_loss)")
    define("data_dir", "string", "TFDS data directory for tfds:NAME")
    define("perturbations", "int", "TFDS sources: landmark perturbations per face (Section IV-A)")
    define("sampling", "enum", "TFDS sources: the same perturbations every epoch (the paper) or a new one per face "
           "per epoch", choices=("fixed", "fresh"))
    define("jitter", "float", "TFDS sources: landmark jitter in inter-ocular distances")
    define("input_shards", "int", "TFDS sources: parts of the data each global batch draws from equally; a multiple "
           "of the number of workers (each worker reads its own parts)")
    define("crop_cache", "string", "TFDS sources, fixed sampling: render each face's crops once into this folder and "
           "stream them from it every epoch (the same batches, at about the in-memory rate; N x K crops on disk)")
    define("teacher_features", "string", "teacher feature cache directory or .npz (features, row_ids)")
    define("selection", "string", "alpha.npy / its folder / .npz (alpha, row_ids); needed for s and sc")
    define("init_checkpoint", "string", "student .weights.h5 to fine-tune from (skips stage 1)")
    for name, kind, help_text, choices in (
            ("resolution", "int", "input side p (16/32/64/96 in the paper)", None),
            ("supervision", "enum", "supervision signal (Section IV-C)", ("c", "s", "sc", "dc")),
            ("epochs", "int", "stage 3 epochs", None),
            ("init_epochs", "int", "stage 1 (mode c) epochs; ignored with --init_checkpoint", None),
            ("batch_size", "int", "global batch size (the paper: 256)", None),
            ("strategy", "enum", "tf.distribute strategy (multi_worker reads TF_CONFIG)",
             ("auto", "one_device", "mirrored", "multi_worker")),
            ("mixed_precision", "bool", "mixed_float16 on GPU, mixed_bfloat16 on CPU", None),
            ("optimizer", "enum", "optimizer", ("adam", "sgd")),
            ("learning_rate", "float", "stage 1 learning rate", None),
            ("finetune_learning_rate", "float", "stage 3 learning rate (None: --learning_rate)", None),
            ("lr_schedule", "enum", "learning-rate schedule per stage", ("cosine", "constant")),
            ("weight_decay", "float", "decoupled weight decay", None),
            ("cls_weight", "float", "weight of L_cls (Eq. 4; the paper: 1)", None),
            ("reg_weight", "float", "weight of L_reg (Eq. 4; the paper: 1)", None),
            ("feature_norm", "enum", "regression target: raw f_i or scaled f_i/|f_i|", ("raw", "l2")),
            ("feature_scale", "float", "norm of the target with --feature_norm=l2", None),
            ("identity_dim", "int", "identity layer width", None),
            ("flip", "bool", "mirror the crops of half of the faces each epoch", None),
            ("seed", "int", "seed (initialisation and data order)", None),
            ("jit_compile", "bool", "XLA-compile the train step", None),
            ("tensorboard", "bool", "write TensorBoard logs (when tensorboard is installed)", None),
            ("verbose", "int", "Keras fit verbosity", None)):
        define(name, kind, help_text, key=f"train.{name}", choices=choices)
    flags.mark_flags_as_required(["train_data", "resolution"])
    flags.adopt_module_key_flags(config_flags)


def main(argv) -> None:
    del argv
    print(json.dumps(train_student.run(config_flags.config_from_flags(), FLAGS.model_dir)))


if __name__ == "__main__":
    define_flags()
    app.run(main)
