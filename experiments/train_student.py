"""Train one student S-p-<supervision> (Sections III-B, III-D, IV-C): stage 1 (mode c) then stage 3.

    python -m experiments.train_student --train_data=runs/x/train32.npz --resolution=32 --supervision=sc \
        --teacher_features=runs/cache/x --selection=runs/select/x/alpha.npy --model_dir=runs/students/S-32-sc
    python -m experiments.train_student ... --init_checkpoint=runs/students/S-32-c/stage1_c/final.weights.h5
    python -m experiments.train_student --train_data=tfds:umdfaces/aligned_150 --data_dir=~/tensorflow_datasets \
        --resolution=16 --perturbations=16 --supervision=sc --teacher_features=... --selection=... --model_dir=...

--train_data / --val_data: a TFDS dataset (`tfds:NAME` with --data_dir, or a prepared dataset's folder) of aligned
chips with landmarks, labels and row ids, streamed and degraded on the fly (--perturbations, --sampling, --jitter;
--input_shards for several workers), or an `.npz` of pre-degraded crops with images [M,p,p,3] uint8, source_rows
[M], row_ids [N], labels [N] (`skd_tf.training.data_io.save_student_arrays`). --teacher_features: a feature-cache directory or an `.npz`
(features, row_ids). --selection: `alpha.npy` of `experiments.select` (aligned with the features' rows), its folder,
or an `.npz` (alpha, row_ids). Rerunning the same command after a kill resumes where it stopped. The resolved flags
are written to MODEL_DIR/flags.json. All training goes through `skd_tf.training.train_student`.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from absl import app, flags

FLAGS = flags.FLAGS
_DEFINED: list[str] = []


def define_flags() -> None:
    """Defines the absl flags (only when run as a program, so importing this module defines none)."""
    d = _defaults()
    flags.DEFINE_string("train_data", None, "tfds:NAME, a prepared TFDS dataset folder, or a student set .npz")
    flags.DEFINE_string("val_data", None, "optional validation set (same kinds; best checkpoint on val_loss)")
    flags.DEFINE_string("data_dir", None, "TFDS data directory for tfds:NAME")
    flags.DEFINE_integer("perturbations", 16, "TFDS sources: landmark perturbations per face (Section IV-A)")
    flags.DEFINE_enum("sampling", "fixed", ["fixed", "fresh"], "TFDS sources: the same perturbations every epoch "
                      "(the paper) or a new one per face per epoch")
    flags.DEFINE_float("jitter", 0.05, "TFDS sources: landmark jitter in inter-ocular distances")
    flags.DEFINE_integer("input_shards", 1, "TFDS sources: parts of the data each global batch draws from equally; "
                         "a multiple of the number of workers (each worker reads its own parts)")
    flags.DEFINE_integer("resolution", None, "input side p (16/32/64/96 in the paper)")
    flags.DEFINE_enum("supervision", d.supervision, ["c", "s", "sc", "dc"], "supervision signal (Section IV-C)")
    flags.DEFINE_string("teacher_features", None, "teacher feature cache directory or .npz (features, row_ids)")
    flags.DEFINE_string("selection", None, "alpha.npy / its folder / .npz (alpha, row_ids); needed for s and sc")
    flags.DEFINE_string("init_checkpoint", None, "student .weights.h5 to fine-tune from (skips stage 1)")
    flags.DEFINE_string("model_dir", None, "output folder (resumed when it holds this run)")
    flags.DEFINE_integer("epochs", d.epochs, "stage 3 epochs")
    flags.DEFINE_integer("init_epochs", d.init_epochs, "stage 1 (mode c) epochs; ignored with --init_checkpoint")
    flags.DEFINE_integer("batch_size", d.batch_size, "global batch size (the paper: 256)")
    flags.DEFINE_enum("strategy", d.strategy, ["auto", "one_device", "mirrored", "multi_worker"],
                      "tf.distribute strategy (multi_worker reads TF_CONFIG)")
    flags.DEFINE_bool("mixed_precision", d.mixed_precision, "mixed_float16 on GPU, mixed_bfloat16 on CPU")
    flags.DEFINE_enum("optimizer", d.optimizer, ["adam", "sgd"], "optimizer")
    flags.DEFINE_float("learning_rate", d.learning_rate, "stage 1 learning rate")
    flags.DEFINE_float("finetune_learning_rate", None, "stage 3 learning rate (default: --learning_rate)")
    flags.DEFINE_enum("lr_schedule", d.lr_schedule, ["cosine", "constant"], "learning-rate schedule per stage")
    flags.DEFINE_float("weight_decay", d.weight_decay, "decoupled weight decay")
    flags.DEFINE_float("cls_weight", d.cls_weight, "weight of L_cls (Eq. 4; the paper: 1)")
    flags.DEFINE_float("reg_weight", d.reg_weight, "weight of L_reg (Eq. 4; the paper: 1)")
    flags.DEFINE_enum("feature_norm", d.feature_norm, ["raw", "l2"], "regression target: raw f_i or scaled f_i/|f_i|")
    flags.DEFINE_float("feature_scale", d.feature_scale, "norm of the target with --feature_norm=l2")
    flags.DEFINE_integer("identity_dim", d.identity_dim, "identity layer width")
    flags.DEFINE_integer("seed", d.seed, "seed (initialisation and data order)")
    flags.DEFINE_bool("jit_compile", d.jit_compile, "XLA-compile the train step")
    flags.DEFINE_bool("tensorboard", d.tensorboard, "write TensorBoard logs (when tensorboard is installed)")
    flags.DEFINE_integer("verbose", 2, "Keras fit verbosity")
    for name in ("train_data", "resolution", "model_dir"):
        flags.mark_flag_as_required(name)
    _DEFINED[:] = [f.name for f in FLAGS.get_flags_for_module(sys.modules[__name__])]


def _defaults():
    from skd_tf.training.runner import TrainConfig
    return TrainConfig()


def main(argv) -> None:
    del argv
    # The strategy is created before any other TensorFlow work (MultiWorkerMirroredStrategy requires it).
    from skd_tf.training.distribute import make_strategy
    strategy = make_strategy(FLAGS.strategy)
    from skd_tf.training import TrainConfig, train_student
    from skd_tf.training.data_io import load_student_data
    from skd_tf.utils.io import write_json

    model_dir = Path(FLAGS.model_dir)
    config = TrainConfig(**{f.name: FLAGS[f.name].value for f in dataclasses.fields(TrainConfig)
                            if f.name in _DEFINED})
    from skd_tf.data.sources import Degradation

    degradation = Degradation(FLAGS.resolution, FLAGS.perturbations, FLAGS.sampling, FLAGS.jitter, seed=FLAGS.seed)
    kwargs = {"degradation": degradation, "data_dir": FLAGS.data_dir, "input_shards": FLAGS.input_shards}
    train = load_student_data(FLAGS.train_data, FLAGS.teacher_features, FLAGS.selection, **kwargs)
    val = load_student_data(FLAGS.val_data, FLAGS.teacher_features, FLAGS.selection, **kwargs) \
        if FLAGS.val_data else None
    model_dir.mkdir(parents=True, exist_ok=True)
    write_json(model_dir / "flags.json", {name: FLAGS[name].value for name in _DEFINED})
    result = train_student(config, train, val_data=val, init_weights=FLAGS.init_checkpoint, model_dir=model_dir,
                           strategy=strategy)
    print(json.dumps({"model_dir": str(model_dir), "weights": str(result.weights_path), **result.metrics}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
