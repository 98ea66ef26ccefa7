"""The CLIs' flags -> config (`skd_tf.configs.flags`): unset flags keep the registered config's values, given flags
override single (nested) fields, --quick picks the smoke variant; each CLI is imported in its own interpreter (its
absl flags are global) and prints the configs its flags resolve to."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from skd_tf.configs import apply_overrides, get_config

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import dataclasses, importlib, json, sys
from absl import flags
from skd_tf.configs import flags as config_flags
cli = importlib.import_module(sys.argv[1])
cli.define_flags()
for args in sys.argv[2:]:
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["cli"] + [a for a in args.split("|") if a])
    try:
        print(json.dumps(dataclasses.asdict(config_flags.config_from_flags())))
    except ValueError as err:
        print(json.dumps({"error": str(err)}))
"""


def _resolve(module, *runs):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, module, *["|".join(r) for r in runs]], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def _json(config):
    return json.loads(json.dumps(dataclasses.asdict(config)))


def test_demo_flags():
    default, quick, error = _resolve("experiments.demo", [], ["--quick", "--seed=3", "--resolutions=16",
                                                               "--noexport", "--lam=-2.5", "--epochs=2"],
                                     ["--num_pairs=1"])
    assert default == _json(get_config("demo"))
    assert quick == _json(apply_overrides(get_config("demo.quick"), {
        "train.seed": 3, "resolutions": (16,), "export": False, "lam": -2.5, "train.epochs": 2}))
    assert error == {"error": "num_pairs: expected an integer >= 2, got 1"}


def test_lfw_lowres_flags():
    default, quick = _resolve("experiments.lfw_lowres", [], ["--quick", "--max_train_people=150", "--init_epochs=1",
                                                             "--feature_scale=4", "--nocenter_targets",
                                                             "--verbose=1", "--mixed_precision",
                                                             "--nojit_compile"])
    assert default == _json(get_config("lfw_lowres"))
    assert quick == _json(apply_overrides(get_config("lfw_lowres.quick"), {
        "max_train_people": 150, "train.init_epochs": 1, "train.feature_scale": 4.0, "center_targets": False,
        "train.verbose": 1, "train.mixed_precision": True, "train.jit_compile": False}))


def test_paper_pipeline_flags():
    [umdfaces] = _resolve("experiments.paper_pipeline", ["--dataset=umdfaces/aligned_224", "--teacher=vggface16",
                                                         "--eval_folds=1,2", "--strategy=mirrored"])
    assert umdfaces == _json(apply_overrides(get_config("paper.umdfaces"), {"eval_folds": (1, 2),
                                                                            "train.strategy": "mirrored"}))


def test_list_flags_of_integers_are_checked_when_parsed():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-m", "experiments.demo", "--resolutions=16,x"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "--resolutions=['16', 'x']: expected comma-separated integers" in proc.stderr

