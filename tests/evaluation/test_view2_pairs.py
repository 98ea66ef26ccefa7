"""skd_tf.evaluation.view2_pairs: View-2 pair selection, folds and people lists (real LFW; skipped when
../shared/data is absent)."""
import numpy as np
import pytest

from skd_tf import grid
from skd_tf.evaluation import view2_pairs as P


def test_pairs_selection_folds_exclusion_and_cv(lfw_root):
    two = P.load_view2_pairs(lfw_root, folds=[1, 2])
    assert len(two) == 1200 and two.is_same.sum() == 600 and set(two.fold.tolist()) == {1, 2}
    np.testing.assert_array_equal(two.cv_folds(), two.fold)  # >= 2 official folds: those
    one = P.load_view2_pairs(lfw_root, folds=[3])
    assert len(one) == 600 and set(one.fold.tolist()) == {3}
    np.testing.assert_array_equal(one.cv_folds(), grid.subfolds(600))  # one fold: round-robin subfolds
    # Images: distinct, sorted CSV rows, and each pair's images belong to its names.
    assert np.all(np.diff(one.rows) > 0) and len(one.paths) == len(one.rows)
    for k in (0, 299, 300, 599):
        assert one.paths[one.pair_a[k]] == f"{one.name_a[k]}/{one.name_a[k]}_{one.index_a[k]:04d}.jpg"
        assert one.paths[one.pair_b[k]].startswith(one.name_b[k] + "/")
    # exclude_people drops every pair that involves a listed person.
    drop = {str(one.name_a[0]), str(one.name_b[400])}
    ex = P.load_view2_pairs(lfw_root, folds=[3], exclude_people=drop)
    hit = np.isin(one.name_a, list(drop)) | np.isin(one.name_b, list(drop))
    assert ex.excluded == hit.sum() > 0 and len(ex) == 600 - hit.sum()
    assert not (set(ex.name_a) | set(ex.name_b)) & drop
    small = P.load_view2_pairs(lfw_root, folds=[1], max_pairs=20)
    assert len(small) == 20 and small.is_same.sum() == 10 and small.summary()["n_images"] == len(small.rows)


def test_people_list_formats(tmp_path):
    f = tmp_path / "people.txt"
    f.write_text("2\n2\nAaron_Eckhart\t1\nGeorge_W_Bush 530\n# comment\n\nZico\n", encoding="utf-8")
    assert P.read_people_list(f) == {"Aaron_Eckhart", "George_W_Bush", "Zico"}
    f.write_text("George W Bush\n")
    with pytest.raises(ValueError, match=r"people.txt:1: expected one LFW name"):
        P.read_people_list(f)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        P.read_people_list(tmp_path / "missing.txt")


def test_parse_folds():
    assert P.parse_folds(None) == tuple(range(1, 11)) and P.parse_folds("2,1") == (1, 2)
    for bad in (["0"], ["11"], ["x"], [1, 1]):
        with pytest.raises(ValueError, match="folds"):
            P.parse_folds(bad)
