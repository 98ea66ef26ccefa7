"""Why the student's fit stalls: the LFW fold-1 S-16-sc run once with today's recipe and once per factor changed
alone (`skd_tf.experiments.recipe_study`, config `skd_tf.configs.recipe_study`; issue 14, item 2).

    python -m experiments.recipe_study --out_dir=runs/recipe_study                       # every factor, in order
    python -m experiments.recipe_study --factors=baseline,budget_d128 --out_dir=runs/recipe_study   # a part
    python -m experiments.recipe_study --quick --out_dir=runs/recipe_quick               # smoke run

One `run_paper` per factor in out_dir/<factor> (each resumable); prints the study's table (AUC with bootstrap
intervals, the paired difference from the baseline, explained fraction against the ceiling, parameters).
"""
import json

from absl import app, flags, logging

from skd_tf.configs import flags as config_flags
from skd_tf.experiments import recipe_study

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("out_dir", "runs/recipe_study", "output folder (a rerun with the same flags resumes)")
    config_flags.define_config_flags("recipe_study")
    config_flags.define_paper_flags()
    config_flags.define_override("factors", "strings", "factors to run, in order (skd_tf.configs.recipe_study."
                                 "FACTORS; the baseline first)")
    config_flags.define_override("test_fold", "ints", "held-out View-2 fold", key="test_folds")
    flags.adopt_module_key_flags(config_flags)


def main(argv):
    del argv
    result = recipe_study.run(config_flags.config_from_flags(), FLAGS.out_dir, log=logging.info)
    print(result["table"], flush=True)
    print(json.dumps({"out_dir": FLAGS.out_dir}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
