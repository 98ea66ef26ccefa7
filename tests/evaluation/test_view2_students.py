"""skd_tf.evaluation.view2_students: loading students (Keras, TFLite) with their target mean, and their pair scores
(real LFW; skipped when ../shared/data is absent)."""
import numpy as np

from skd_tf.evaluation.verification import roc_auc
from skd_tf.evaluation.view2_faces import prepare_faces
from skd_tf.evaluation.view2_pairs import load_view2_pairs
from skd_tf.evaluation.view2_students import find_target_mean, load_eval_student, student_pair_scores
from skd_tf.serving import export_student


def test_target_mean_lookup_levels(tmp_path, student16, save_run):
    path = save_run(student16, tmp_path / "a" / "b" / "c" / "d")
    assert find_target_mean(path) is None
    np.save(tmp_path / "target_mean.npy", np.zeros(128, np.float32))  # 4 folders above: too far
    assert find_target_mean(path) is None
    np.save(tmp_path / "a" / "target_mean.npy", np.ones(128, np.float32))  # 3 folders above the file's folder
    assert find_target_mean(path) == tmp_path / "a" / "target_mean.npy"
    s = load_eval_student(path)
    assert s.resolution == 16 and s.mimic_dim == 128 and s.name == "S-16" and np.all(s.target_mean == 1)
    np.save(tmp_path / "a" / "b" / "c" / "d" / "target_mean.npy", np.zeros((1, 128), np.float64))  # nearest wins
    assert np.all(load_eval_student(path).target_mean == 0)


def test_tflite_exports_match_keras_auc(lfw_root, tmp_path, student16, save_run):
    """float32 / float16 / int8 TFLite exports of the untrained student: AUCs within 0.5 points of Keras on the 600
    pairs of fold 1 (the same crops)."""
    pairs = load_view2_pairs(lfw_root, folds=[1])
    faces = prepare_faces(lfw_root, pairs, [16])[16]
    paths = export_student(student16, tmp_path / "export" / "S-16-c", resolution=16, representative_images=faces[:100],
                           kinds=("float32", "float16", "int8"))
    keras_path = save_run(student16, tmp_path / "run" / "S-16-c")
    ref = student_pair_scores(load_eval_student(keras_path), faces, pairs)
    for kind, p in paths.items():
        s = load_eval_student(p)
        assert s.kind == "tflite" and s.resolution == 16 and s.mimic_dim == 128 and s.name == f"S-16-c[{kind}]"
        sc = student_pair_scores(s, faces, pairs)
        for k in ("identity", "mimic", "both"):
            diff = 100 * abs(roc_auc(sc[k], pairs.is_same) - roc_auc(ref[k], pairs.is_same))
            assert diff <= 0.5, (kind, k, diff)
        if kind == "float32":
            np.testing.assert_allclose(sc["both"], ref["both"], atol=1e-4)
