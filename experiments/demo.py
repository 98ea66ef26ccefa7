"""`make demo`: the whole method of the paper, end to end, offline, on synthetic faces (`skd_tf.experiments.demo`,
whose docstring lists the steps; config `skd_tf.configs.demo`).

    python -m experiments.demo [--out_dir=runs/demo] [--quick] [--config=demo] [--seed=0] [--lam=-3.0] ...

Flags left unset take the config's value (`demo`: about 10 minutes on 2 shared CPU cores; `--quick`: the same data,
teacher and selection, students trained for 1 + 1 epochs, about 5 minutes). It logs one line per step (a progress bar
while the students train), then prints the Fig. 7-style table; with `--quick` (seed 0) it reads

    selection: lambda -3: kept 2618/2971; ... wrong_label 93.2%); clean kept 97.9%; ...
    model              both AUC         both acc identity AUC ...
    T                     99.96      99.17+-1.12 ...
    T-16-up               98.91      96.00+-2.13 ...
    S-16-c                77.77      68.00+-5.26 ...
    S-32-c                79.46      72.17+-5.63 ...

Everything else (results.json, the plots, the teacher, the feature caches, each student run with its history.csv,
students/log.txt, the TFLite export) goes under --out_dir; a rerun with the same flags resumes.
"""
from absl import app, flags, logging

from skd_tf import grid
from skd_tf.configs import flags as config_flags
from skd_tf.experiments import demo

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program, so importing this module defines none)."""
    flags.DEFINE_string("out_dir", "runs/demo", "output folder")
    config_flags.define_config_flags("demo")
    define = config_flags.define_override
    define("seed", "int", "seed of every random choice", key="train.seed")
    for name, text in (("num_identities", "identities of the student set"),
                       ("images_per_identity", "faces per student identity"),
                       ("teacher_identities", "identities of the teacher set"),
                       ("teacher_images_per_identity", "faces per teacher identity"),
                       ("teacher_epochs", "teacher training epochs"),
                       ("perturbations", "degraded crops per training face"),
                       ("num_pairs", "verification pairs")):
        define(name, "int", text)
    define("test_fraction", "float", "fraction of the student identities held out for verification")
    define("noisy_fraction", "float", "fraction of planted noisy faces in the student set")
    define("lam", "float", "lambda of Eq. (3) (<= 0)")
    define("resolutions", "ints", "student resolutions p")
    define("modes", "strings", "supervision modes (Section IV-C)")
    define("export", "bool", "export the best student to TFLite and measure its speed")
    define("init_epochs", "int", "stage-1 epochs of every student", key="train.init_epochs")
    define("epochs", "int", "stage-3 epochs of every student", key="train.epochs")
    define("feature_norm", "enum", "regression target t(f) (TrainConfig.feature_norm)", key="train.feature_norm",
           choices=("raw", "l2"))
    define("feature_scale", "float", "||t(f)|| for feature_norm=l2 (2, 4, 8 measured: 8 best for s, sc, dc)",
           key="train.feature_scale")
    define("batch_size", "int", "student batch size", key="train.batch_size")
    define("learning_rate", "float", "student learning rate (Adam, cosine decay)", key="train.learning_rate")
    flags.adopt_module_key_flags(config_flags)


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    result = demo.run(config_flags.config_from_flags(), FLAGS.out_dir, log=logging.info, progress=True)
    print(f"\nFig. 7-style table (synthetic faces; AUC and 10-fold accuracy in percent; '{grid.HEADLINE_FEATURE}' is "
          f"the headline feature):\n{result['table_text']}\n", flush=True)


if __name__ == "__main__":
    define_flags()
    app.run(main)
