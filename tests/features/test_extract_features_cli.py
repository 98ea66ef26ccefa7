"""experiments.extract_features end to end, with a tiny stand-in registered as the teacher.

Runs in a subprocess: absl flags are process-global, so importing several experiment CLIs into one pytest worker
could clash.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from skd_tf.features.cache import load_features, load_manifest
from skd_tf.utils.paths import lfw_dir

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import sys
    import keras
    from absl import flags
    from experiments import extract_features as ef
    from skd_tf.models import teachers

    def fake_spec(name, **kw):
        assert name == "tiny" and kw == {"width": 4}, (name, kw)
        return teachers.TeacherSpec(name="tiny", input_size=24, feature_dim=6, feature_layer="embedding",
                                    color_order="RGB", preprocessing="x/255", align_padding=0.25)

    def fake_build(name, **kw):
        inp = keras.Input((24, 24, 3))
        x = keras.layers.Rescaling(1 / 255.0)(inp)
        x = keras.layers.Conv2D(kw["width"], 3, kernel_initializer=keras.initializers.GlorotUniform(seed=0))(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inp, keras.layers.Dense(6, name="embedding")(x))

    teachers.spec, teachers.build = fake_spec, fake_build
    for argv in [a.split("|") for a in sys.argv[1:]]:
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["extract_features"] + argv)
        ef.run()
""")


def _cli(*runs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *["|".join(r) for r in runs]], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def test_cli_synthetic_and_lfw(tmp_path):
    synth = tmp_path / "synth"
    common = ["--teacher=tiny", "--teacher_kw=width=4", "--shard_size=5", "--batch_size=4", "--noprogress"]
    runs = [common + ["--source=synthetic", "--num_identities=3", "--images_per_identity=4", "--image_size=64",
                      f"--out_dir={synth}"],
            common + ["--source=synthetic", "--num_identities=3", "--images_per_identity=4", "--image_size=64",
                      f"--out_dir={synth}"]]  # the second run finds the cache complete
    have_lfw = (lfw_dir() / "dlib" / "landmarks5.csv").is_file() and (lfw_dir() / "lfw-deepfunneled").is_dir()
    lfw_out = tmp_path / "lfw"
    if have_lfw:
        runs.append(common + ["--source=lfw", "--limit=7", f"--out_dir={lfw_out}"])
    out = _cli(*runs)
    stats = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert "faces/s" in out
    assert (stats[0]["count"], stats[0]["computed_shards"]) == (12, 3)
    assert (stats[1]["computed_shards"], stats[1]["skipped_shards"]) == (0, 3)
    feats, ids = load_features(synth)
    manifest = load_manifest(synth)
    assert feats.shape == (12, 6) and np.array_equal(ids, np.arange(12))
    assert (manifest["teacher"], manifest["layer"], manifest["teacher_kwargs"]) == ("tiny", "embedding", {"width": 4})
    assert manifest["source"]["generator"] == "skd_tf.data.synthetic.generate_faces"
    if have_lfw:
        feats, ids = load_features(lfw_out)
        assert feats.shape == (7, 6) and np.array_equal(ids, np.arange(7))
        assert load_manifest(lfw_out)["source"]["kind"] == "lfw_folder"
