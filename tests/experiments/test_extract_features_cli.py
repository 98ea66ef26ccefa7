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
    from absl import flags, logging
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
    ef.define_flags()
    for arg in sys.argv[1:]:
        expect_error = arg.startswith("!|")  # a run that must fail: print its error and go on
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["extract_features"] + arg[2 if expect_error else 0:].split("|"))
        logging.set_verbosity(logging.INFO)  # as app.run does: the progress lines are INFO
        if not expect_error:
            ef.main([])
            continue
        try:
            ef.main([])
        except Exception as err:
            print(f"ERROR {type(err).__name__}: {err}".replace("\\n", " "))
        else:
            raise SystemExit(f"expected an error from {arg}")
""")


def _cli(*runs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *["|".join(r) for r in runs]], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr  # the stats and errors (stdout) and the absl log (stderr)


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


def _lfw_folder(root, n=5):
    """An LFW-layout folder of n synthetic faces (cv2 JPEGs) and its landmarks CSV; row 1 truncated, row 3's nose
    far outside its image."""
    import cv2

    from skd_tf.data.synthetic import generate_faces

    faces = generate_faces(n, 1, image_size=48, noisy_fraction=0.0, seed=2)
    rows = ["path,det,x0,y0,x1,y1,x2,y2,x3,y3,x4,y4"]
    for k in range(n):
        (root / f"P{k}").mkdir(parents=True)
        path = root / f"P{k}" / f"P{k}_0001.jpg"
        assert cv2.imwrite(str(path), cv2.cvtColor(faces.images[k], cv2.COLOR_RGB2BGR))
        lm = faces.landmarks[k].copy()
        if k == 3:
            lm[4] = [20.0, -400.0]
        rows.append(f"P{k}/P{k}_0001.jpg,hog," + ",".join(f"{v:.2f}" for v in lm.reshape(-1)))
    (root / "P1" / "P1_0001.jpg").write_bytes((root / "P1" / "P1_0001.jpg").read_bytes()[:250])
    (root / "landmarks5.csv").write_text("\n".join(rows) + "\n")
    return root / "landmarks5.csv"


def test_cli_limit_and_unusable_faces(tmp_path):
    csv_path = _lfw_folder(tmp_path / "lfw")
    common = ["--teacher=tiny", "--teacher_kw=width=4", "--shard_size=2", "--batch_size=2", "--noprogress"]
    lfw = common + ["--source=lfw", f"--lfw_dir={tmp_path / 'lfw'}", f"--landmarks={csv_path}"]
    out = _cli(["!"] + lfw + ["--limit=0", f"--out_dir={tmp_path / 'a'}"],
               ["!"] + lfw + ["--limit=-1", f"--out_dir={tmp_path / 'a'}"],
               ["!"] + lfw + ["--landmark_margin=-1", f"--out_dir={tmp_path / 'a'}"],
               ["!"] + lfw + ["--shard_size=0", f"--out_dir={tmp_path / 'a'}"],
               ["!"] + lfw + [f"--out_dir={tmp_path / 'fail'}"],
               lfw + ["--on_corrupt=skip", f"--out_dir={tmp_path / 'skip'}"],
               common + ["--source=synthetic", "--num_identities=2", "--images_per_identity=3", "--image_size=48",
                         "--limit=5", f"--out_dir={tmp_path / 'synth'}"])
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 5, out
    assert errors[0].startswith("ERROR ValueError: limit: expected a positive number of faces (>= 1), got 0")
    assert errors[1].startswith("ERROR ValueError: limit: expected a positive number of faces (>= 1), got -1")
    assert errors[2].startswith("ERROR ValueError: landmark_margin=-1")
    assert errors[3].startswith("ERROR ValueError: shard_size: expected an integer >= 1, got 0")
    assert errors[4].startswith(f"ERROR CorruptFaceError: {tmp_path / 'lfw' / 'P1' / 'P1_0001.jpg'}: corrupt or "
                                "unreadable image: truncated JPEG (no end-of-image marker)")
    assert "2 unusable face(s) in all" in errors[4] and "--on_corrupt=skip" in errors[4]
    assert not (tmp_path / "a").exists() and not (tmp_path / "fail").exists()
    assert "left out 2 unusable face(s)" in out
    feats, ids = load_features(tmp_path / "skip")
    assert feats.shape == (3, 6) and ids.tolist() == [0, 2, 4]
    skipped = load_manifest(tmp_path / "skip")["skipped"]
    assert [s["row_id"] for s in skipped] == [1, 3]
    assert f"({csv_path} line 5, data row 3): landmark 4 at (x=20.00, y=-400.00)" in skipped[1]["reason"]
    assert load_features(tmp_path / "synth")[1].tolist() == [0, 1, 2, 3, 4]  # --limit=5: the first 5, none dropped
