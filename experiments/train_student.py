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
are written to MODEL_DIR/flags.json once every check has passed (flags, data, the folder's recorded flags and stage
settings): a refused run leaves flags.json and config.json as they were, and a resumed folder's flags must match the
recorded ones (except --verbose, --tensorboard, --strategy). A run whose loss or weights become non-finite exits
non-zero naming the stage, epoch, step and learning rate, writes no student/result files, and cannot be resumed
(use a new --model_dir with a lower learning rate). All training goes through `skd_tf.training.train_student`.
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


# Flags that do not change what the folder holds: a resumed run may change them.
_UNRECORDED = ("verbose", "tensorboard", "strategy")


def check_flags() -> None:
    """The flag checks that need no file: what each supervision mode needs (Section IV-C)."""
    mode = FLAGS.supervision
    if FLAGS.epochs > 0 and mode in ("s", "sc", "dc") and not FLAGS.teacher_features:
        raise ValueError(f"--supervision={mode} regresses the teacher's features (Eq. 6): give --teacher_features "
                         f"(a feature-cache directory or an .npz of features and row_ids)")
    if FLAGS.epochs > 0 and mode in ("s", "sc") and not FLAGS.selection:
        raise ValueError(f"--supervision={mode} weights L_reg by the selection alpha (Eq. 6): give --selection "
                         f"(alpha.npy of experiments.select, its folder or an .npz); --supervision=dc uses every "
                         f"face")
    if FLAGS.init_checkpoint and not Path(FLAGS.init_checkpoint).is_file():
        raise FileNotFoundError(f"--init_checkpoint={FLAGS.init_checkpoint} does not exist (expected a student "
                                f".weights.h5)")


def main(argv) -> None:
    del argv
    # The strategy is created before any other TensorFlow work (MultiWorkerMirroredStrategy requires it).
    from skd_tf.training.distribute import is_chief, make_strategy
    strategy = make_strategy(FLAGS.strategy)
    from skd_tf.training import TrainConfig, train_student
    from skd_tf.training.data_io import load_student_data
    from skd_tf.training.runner import check_run
    from skd_tf.utils.io import check_settings, write_json

    # Everything that can refuse the run is checked before anything is written (flags.json and config.json change
    # only for an accepted run): the flags, the recorded flags of a resumed folder, the data files, then every
    # check train_student makes (stage settings, divergence markers, resolutions).
    model_dir = Path(FLAGS.model_dir)
    config = TrainConfig(**{f.name: FLAGS[f.name].value for f in dataclasses.fields(TrainConfig)
                            if f.name in _DEFINED}).validate()
    check_flags()
    recorded = {name: FLAGS[name].value for name in _DEFINED}
    check_settings(model_dir / "flags.json", recorded, write=False, ignore=_UNRECORDED,
                   defaults={name: FLAGS[name].default for name in _DEFINED},
                   hint="use another --model_dir, or resume with the recorded flags")
    from skd_tf.data.sources import Degradation

    degradation = Degradation(FLAGS.resolution, FLAGS.perturbations, FLAGS.sampling, FLAGS.jitter, seed=FLAGS.seed)
    kwargs = {"degradation": degradation, "data_dir": FLAGS.data_dir, "input_shards": FLAGS.input_shards}
    train = load_student_data(FLAGS.train_data, FLAGS.teacher_features, FLAGS.selection, **kwargs)
    val = load_student_data(FLAGS.val_data, FLAGS.teacher_features, FLAGS.selection, **kwargs) \
        if FLAGS.val_data else None
    for flag, data in (("train_data", train), ("val_data", val)):
        if data is not None and data.resolution != FLAGS.resolution:
            raise ValueError(f"--{flag}={FLAGS[flag].value}: expected {FLAGS.resolution}x{FLAGS.resolution} faces "
                             f"(--resolution={FLAGS.resolution}), got {data.resolution}x{data.resolution}")
    check_run(config, train, val_data=val, init_weights=FLAGS.init_checkpoint, model_dir=model_dir)
    if is_chief(strategy):
        write_json(model_dir / "flags.json", recorded)
    result = train_student(config, train, val_data=val, init_weights=FLAGS.init_checkpoint, model_dir=model_dir,
                           strategy=strategy)
    print(json.dumps({"model_dir": str(model_dir), "weights": str(result.weights_path), **result.metrics}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
