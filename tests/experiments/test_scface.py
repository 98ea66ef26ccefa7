"""skd_tf.experiments.scface (Section IV-E, Table II) by config name on the synthetic dummy data of
data_builders/scface; the CLI is tested in test_eval_scface.py."""
from pathlib import Path

import pytest

from skd_tf import experiments
from skd_tf.configs.scface import ScfaceConfig
from skd_tf.experiments.scface import format_table

DUMMY = Path(__file__).resolve().parents[2] / "data_builders" / "scface" / "dummy_data"


def test_from_scratch_standard_protocol(tmp_path):
    r = experiments.run("scface.quick", tmp_path / "far", {"scface_dir": str(DUMMY), "protocol": "far",
                                                           "train.identity_dim": 1024})
    assert r["gallery"] == 43 and r["probes"] == 215 and list(r["rank1_per_distance"]) == ["1"]
    assert r["train_images"] == 688 and r["transferred_layers"] == [] and r["identity_dim"] == 1024
    table = format_table(r).splitlines()
    assert table[0] == "SCface (far): 215 probes x 43 gallery, S-16 identity 1024D"
    assert table[1].split() == ["Dist", "1", "Total"]
    assert [float(x) for x in table[2].split()] == pytest.approx([100 * r["rank1_per_distance"]["1"]["rank1"],
                                                                  100 * r["rank1_total"]], abs=0.006)


def test_missing_release_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^scface_dir: .*nowhere is not a folder"):
        experiments.run("scface", tmp_path / "out", {"scface_dir": str(tmp_path / "nowhere")})
    with pytest.raises(FileNotFoundError, match=r"^annotations: .*scface_annotations.txt does not exist"):
        experiments.run("scface", tmp_path / "out", {"scface_dir": str(tmp_path)})
    assert not (tmp_path / "out").exists()
    assert ScfaceConfig(scface_dir=str(DUMMY)).annotation_file == DUMMY / "scface_annotations.txt"
