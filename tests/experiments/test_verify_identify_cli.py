"""experiments/verify.py and experiments/identify.py end to end on LFW JPEGs with the shipped students (no landmarks
file, no network; skipped without ../shared/data or dlib)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(module, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", f"experiments.{module}", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)


@pytest.fixture(scope="module")
def photos(lfw_root):
    pytest.importorskip("dlib", reason="photo detection is the optional 'detect' extra (pip install 'skd-tf[detect]')")
    return lfw_root / "lfw-deepfunneled"


def test_verify_prints_same_or_different(photos, tmp_path):
    a, b = photos / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg", photos / "Abel_Pacheco" / "Abel_Pacheco_0004.jpg"
    proc = _cli("verify", str(a), str(b))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "S-32-sc" in proc.stdout and "score" in proc.stdout
    assert any(line.split()[-1] in ("same", "different") for line in proc.stdout.splitlines()
               if line.startswith("decision"))
    proc = _cli("verify", str(a), str(tmp_path / "missing.jpg"), "--json")
    assert proc.returncode != 0 and "missing.jpg: image not found" in proc.stderr


def test_identify_json(photos, tmp_path):
    for person in ("Abel_Pacheco", "Akhmed_Zakayev"):
        images = sorted((photos / person).glob("*.jpg"))
        (tmp_path / "gallery" / person).mkdir(parents=True)
        for f in images[1:]:
            shutil.copyfile(f, tmp_path / "gallery" / person / f.name)
        (tmp_path / "probes").mkdir(exist_ok=True)
        shutil.copyfile(images[0], tmp_path / "probes" / images[0].name)
    proc = _cli("identify", f"--gallery={tmp_path / 'gallery'}", str(tmp_path / "probes"), "--student=S-16-sc",
                "--kind=int8", "--top_k=2", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["gallery"]["enrolled_people"] == 2 and result["summary"]["with_face"] == 2
    assert all(len(r["top"]) == 2 for r in result["probes"])
    assert "gallery" in proc.stderr  # the progress bar
