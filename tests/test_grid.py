"""skd_tf.grid: embeddings, pair scores per feature kind, folds, tables."""
import numpy as np
import pytest

from skd_tf import grid
from skd_tf.evaluation.verification import cosine_scores


def _feats(rng, n=12):
    return {"identity": rng.normal(size=(n, 5)).astype(np.float32),
            "mimic": rng.normal(size=(n, 7)).astype(np.float32)}


def test_pair_scores_both_is_mean_of_cosines_and_cross_uses_teacher():
    rng = np.random.default_rng(0)
    f = _feats(rng)
    teacher = rng.normal(size=(12, 7)).astype(np.float32)
    a, b = np.array([0, 1, 2, 3]), np.array([4, 5, 6, 7])
    s = grid.pair_scores(f, a, b, teacher_hr=teacher)
    np.testing.assert_allclose(s["identity"], cosine_scores(f["identity"][a], f["identity"][b]), rtol=1e-6)
    np.testing.assert_allclose(s["both"], 0.5 * (s["identity"] + s["mimic"]), rtol=1e-6)
    np.testing.assert_allclose(s["cross"], cosine_scores(f["mimic"][a], teacher[b]), rtol=1e-5, atol=1e-6)
    # cross must read the teacher's feature of the second image, not the student's
    assert not np.allclose(s["cross"], s["mimic"])
    assert "cross" not in grid.pair_scores(f, a, b)


def test_embed_returns_the_asked_outputs_batch_by_batch():
    from skd_tf.models.student import build_student

    student = build_student(16, feature_dim=6, num_classes=4, seed=0)
    images = np.random.default_rng(3).integers(0, 256, size=(7, 16, 16, 3), dtype=np.uint8)
    whole = student(images.astype(np.float32), training=False)
    default = grid.embed(student, images, batch_size=3)
    assert sorted(default) == ["identity", "mimic"]
    got = grid.embed(student, images, batch_size=3, outputs=("logits", "mimic"))
    assert list(got) == ["logits", "mimic"]
    for key in ("logits", "mimic"):
        assert got[key].dtype == np.float32 and got[key].shape == tuple(whole[key].shape)
        np.testing.assert_allclose(got[key], whole[key], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(default["identity"], whole["identity"], rtol=1e-5, atol=1e-6)


def test_pair_scores_rejects_teacher_of_wrong_width():
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match="teacher_hr"):
        grid.pair_scores(_feats(rng), np.array([0]), np.array([1]), teacher_hr=np.zeros((12, 3), np.float32))


def test_subfolds_gives_ten_equal_folds_mixing_the_list_order():
    f = grid.subfolds(600, 10)
    assert np.bincount(f).tolist() == [60] * 10
    # every fold draws from the whole list (a pairs file lists matched pairs before mismatched ones)
    for k in range(10):
        idx = np.flatnonzero(f == k)
        assert idx.min() < 60 and idx.max() >= 540


def test_tables_list_every_model():
    rng = np.random.default_rng(2)
    y = np.tile([True, False], 20)
    folds = grid.subfolds(len(y), 10)
    scores = rng.normal(size=len(y)) + y
    from skd_tf.evaluation.verification import verification_report

    rep = verification_report(scores, y, folds)
    reports = {"T": rep, "S-16-c": {"identity": rep, "mimic": rep, "both": rep},
               "S-32-sc": {"both": rep, "cross": rep}}
    text = grid.format_table(reports)
    for name in reports:
        assert name in text
    rows = grid.results_table(reports)
    assert [r["model"] for r in rows] == ["T", "S-16-c", "S-32-sc"]
    assert rows[0]["auc"] == pytest.approx(100 * rep["roc_auc"])
    assert [r["model"] for r in grid.results_table(reports, "cross")] == ["S-32-sc"]
    assert grid.feature_reports(rep) == {grid.HEADLINE_FEATURE: rep}  # a teacher's one report is its headline
    assert grid.feature_reports(reports["S-32-sc"]) is reports["S-32-sc"]
    assert grid.model_name(16, "sc") == "S-16-sc"


def test_paper_comparisons_lists_the_claimed_orderings():
    from skd_tf.grid import paper_comparisons

    names = [f"S-{p}-{m}" for p in (16, 32) for m in ("c", "s", "sc", "dc")]
    got = paper_comparisons(names, [32, 16])
    assert ("S-16-sc", "S-16-dc") in got and ("S-32-sc", "S-32-c") in got and ("S-32-dc", "S-16-dc") in got
    assert len(got) == 6 + 4
    assert paper_comparisons(["S-16-c", "S-16-sc"], [16]) == [("S-16-sc", "S-16-c")]
