"""skd_tf.litert_reference / experiments/litert_embed.py: the phone-side reference runs without TensorFlow and its
embeddings match the Keras students' (float32: cosine >= 0.9999; full int8: mean cosine >= 0.99) on held-out LFW
faces aligned from landmarks5.csv (skipped when ../shared/data is absent)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skd_tf import pretrained

ROOT = Path(__file__).resolve().parents[1]
N_FACES = 48
#: Runs the CLI in this process and reports whether TensorFlow (or Keras) got imported on the way.
RUNNER = ("import json, runpy, sys\n"
          "sys.argv = ['litert_embed'] + sys.argv[1:]\n"
          "try:\n    runpy.run_module('experiments.litert_embed', run_name='__main__')\n"
          "except SystemExit as e:\n    assert not e.code, e.code\n"
          "print(json.dumps({'imported': sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)}))\n")


def _litert_embed(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-2]), json.loads(lines[-1])["imported"]


def _cosine(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def held_out(lfw_root):
    from skd_tf.evaluation.view2_faces import prepare_faces
    from skd_tf.evaluation.view2_pairs import load_view2_pairs

    pairs = load_view2_pairs(lfw_root, folds=[1])
    keep = np.linspace(0, len(pairs.rows) - 1, N_FACES).astype(int)
    faces = prepare_faces(lfw_root, pairs, [16, 32])
    return [str(lfw_root / "lfw-deepfunneled" / pairs.paths[k]) for k in keep], {p: faces[p][keep] for p in (16, 32)}


@pytest.mark.parametrize("name", ["S-16-sc", "S-32-sc"])
def test_litert_only_embeddings_match_keras(lfw_root, held_out, name):
    from skd_tf.serving import keras_reference

    paths, faces = held_out
    p = pretrained.card(name)["resolution"]
    reference = keras_reference(pretrained.load(name), faces[p])
    for kind, check in (("float32", lambda c: c.min() >= 0.9999), ("int8", lambda c: c.mean() >= 0.99)):
        result, imported = _litert_embed(f"--model={name}", f"--kind={kind}",
                                         f"--landmarks={lfw_root / 'dlib' / 'landmarks5.csv'}",
                                         f"--image_root={lfw_root / 'lfw-deepfunneled'}", *paths)
        assert imported == [], f"the LiteRT reference imported {imported}"
        assert result["resolution"] == p and len(result["faces"]) == N_FACES
        for output in ("embedding", "mimic"):
            cos = _cosine([f[output] for f in result["faces"]], reference[output])
            assert check(cos), (name, kind, output, cos.min(), cos.mean())


def test_aligned_crops_and_a_pair_score(tmp_path):
    import cv2

    from skd_tf.litert_reference import LiteRTStudent, both_score

    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    files = []
    for k, crop in enumerate(crops):
        files.append(str(tmp_path / f"{k}.png"))
        cv2.imwrite(files[-1], crop[:, :, ::-1])
    result, imported = _litert_embed("--model=S-16-sc", f"--out={tmp_path / 'e.npz'}", *files)
    assert imported == []
    student = LiteRTStudent(pretrained.tflite_path("S-16-sc"))
    direct = student.embed(crops)
    saved = np.load(tmp_path / "e.npz")
    np.testing.assert_allclose(saved["embedding"], direct["embedding"], atol=1e-6)
    assert result["both"] == pytest.approx(float(both_score({k: v[:1] for k, v in direct.items()},
                                                            {k: v[1:] for k, v in direct.items()})[0]), abs=1e-6)
    with pytest.raises(ValueError, match=r"uint8 RGB \[N, 16, 16, 3\]"):
        student.embed(np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="TFLite model not found"):
        LiteRTStudent(tmp_path / "missing.tflite")
