"""When selection pays: the LFW fold run with wrong labels and unusable faces planted in its training people
(`skd_tf.experiments.noise_study`, config `skd_tf.configs.noise_study`; issue 14, item 3).

    python -m experiments.noise_study --out_dir=runs/noise_study     # fold 1: clean, 10/20/40% labels, 20% unusable
    python -m experiments.noise_study --quick --out_dir=runs/noise_quick       # smoke run

One `run_paper` per condition in out_dir/<condition> (each resumable); prints the study's table (Eq. 3's precision
and recall at discarding the planted faces; S-16 c / sc / dc AUC on the clean held-out fold with bootstrap intervals,
sc - dc and sc - c with paired intervals) and writes results.json, table.txt and noise_study.png.
"""
import json

from absl import app, flags, logging

from skd_tf.configs import flags as config_flags
from skd_tf.experiments import noise_study

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("out_dir", "runs/noise_study", "output folder (a rerun with the same flags resumes)")
    config_flags.define_config_flags("noise_study")
    config_flags.define_paper_flags()
    config_flags.define_override("label_rates", "floats", "planted wrong-label fractions, one run each")
    config_flags.define_override("unusable_rates", "floats", "planted unusable-face fractions, one run each")
    config_flags.define_override("test_fold", "ints", "held-out View-2 fold", key="test_folds")
    flags.adopt_module_key_flags(config_flags)


def main(argv):
    del argv
    result = noise_study.run(config_flags.config_from_flags(), FLAGS.out_dir, log=logging.info)
    print(result["table"], flush=True)
    print(json.dumps({"out_dir": FLAGS.out_dir}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
