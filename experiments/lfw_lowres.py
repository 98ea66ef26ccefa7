"""Fig. 7 on real faces: students distilled from the dlib ResNet teacher on LFW people, verified on a held-out fold
(`skd_tf.experiments.lfw_lowres`, config `skd_tf.configs.lfw_lowres`; the paper's pipeline, Section IV-C).

    python -m experiments.lfw_lowres --test_fold=1                       # the full fold-1 run, the study's recipe
    python -m experiments.lfw_lowres --config=lfw_lowres.before_study    # the recipe before it (about 40 min here)
    python -m experiments.lfw_lowres --quick --out_dir=runs/lfw_quick    # smoke run
    python -m experiments.lfw_lowres --test_fold=all                     # ten folds in out_dir/fold<k>, pooled
    python -m experiments.lfw_lowres --combine=runs/lfw_fold1,runs/lfw_fold2 --out_dir=runs/lfw_pooled

LFW is built once into --data_dir (face-folder TFDS build, in place) unless --dataset names a prepared build. Flags
left unset take the config's value. It prints the View-2 table (T, T-p-up, S-p-m: AUC, 10-fold accuracy, TAR at
FAR 1e-3 / 1e-2, EER per feature), our headline AUC beside the paper's, and the paper's orderings with
paired-bootstrap intervals (WORKSPACE.md): with `--config=lfw_lowres.before_study`, the full fold-1 run gives both
AUC T 99.87, S-16-sc 88.88, S-32-sc 91.83; folds 1-3 pooled with --combine give

    S-32-sc > S-16-sc      AUC difference +4.99 points, 95% paired-bootstrap interval [+3.49, +6.56]
"""
import json

from absl import app, flags, logging

from skd_tf.configs import apply_overrides
from skd_tf.configs import flags as config_flags
from skd_tf.experiments import lfw_lowres
from skd_tf.experiments.paper import combine_folds

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("out_dir", "runs/lfw_lowres", "output folder (a rerun with the same flags resumes; one with "
                        "other --modes trains the students it lacks)")
    flags.DEFINE_enum("test_fold", None, [str(k) for k in range(1, 11)] + ["all"], "held-out View-2 fold, or "
                      "'all' for all ten (default: the config's test_folds)")
    flags.DEFINE_list("combine", None, "only pool the scores of these finished fold folders (or their "
                      "lfw_view2/scores.npz files) into --out_dir (e.g. runs/lfw_fold1,runs/lfw_fold2)")
    config_flags.define_config_flags("lfw_lowres")
    config_flags.define_paper_flags()
    config_flags.define_override("min_train_images", "int", "train only on people with at least this many images "
                                 "(2 leaves out the one-image people, whom Eq. 3 can never select)")
    config_flags.define_override("max_train_people", "int", "random subset of training people (smoke runs)")
    config_flags.define_override("verbose", "int", "Keras fit verbosity (0: per-run summary lines only)",
                                 key="train.verbose")
    flags.adopt_module_key_flags(config_flags)


def main(argv):
    del argv
    if FLAGS.combine:
        result = combine_folds(FLAGS.out_dir, FLAGS.combine)
    else:
        config = config_flags.config_from_flags()
        if FLAGS.test_fold is not None:
            folds = range(1, 11) if FLAGS.test_fold == "all" else [FLAGS.test_fold]
            config = apply_overrides(config, {"test_folds": tuple(int(k) for k in folds)})
        result = lfw_lowres.run(config, FLAGS.out_dir, log=logging.info)
    print(result["table"] + "\n\n" + result["paper_table"], flush=True)
    print(json.dumps({"out_dir": FLAGS.out_dir}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
