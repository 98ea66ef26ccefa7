"""benchmarks.raw_photo_lfw on a few held-out LFW pairs: the raw-photo path finds landmarks5.csv's faces, counts the
images without one, and scores them three ways (skipped without ../shared/data or dlib)."""
import pytest

from benchmarks.raw_photo_lfw import format_table, run


def test_raw_photo_against_landmarks_on_a_few_pairs(lfw_root):
    pytest.importorskip("dlib", reason="photo detection is the optional 'detect' extra (pip install 'skd-tf[detect]')")
    report = run(["S-16-sc"], lfw_root=lfw_root, max_pairs=30)
    assert report["n_pairs"] == 30 and report["undetected"]["n_images"] == len(report["undetected"]["images"])
    assert report["faces_other_than_landmarks5"] <= 2  # the largest face vs landmarks5.csv's centre-nearest one
    auc = report["students"]["S-16-sc"]["auc"]
    assert set(auc) == {"landmarks", "rejected", "centred_box", "detected_pairs_landmarks", "detected_pairs_raw"}
    assert all(0.0 <= v <= 100.0 for v in auc.values())
    if report["undetected"]["n_images"] == 0 and report["faces_other_than_landmarks5"] == 0:
        assert auc["rejected"] == auc["centred_box"] == pytest.approx(auc["landmarks"], abs=1e-6)
    assert "S-16-sc" in format_table(report)
