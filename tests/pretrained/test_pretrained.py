"""skd_tf.pretrained: the shipped students' files match their model cards, load by name offline, and reproduce their
cards' figures on the held-out LFW fold (the threshold on the training folds' pairs) when ../shared/data is present."""
import json

import numpy as np
import pytest

from skd_tf import pretrained
from skd_tf.data.align import DLIB_5_TEMPLATE, TEACHER_CHIP
from skd_tf.pretrained import build, evaluate
from skd_tf.serving.sidecars import artifact_sha256

NAMES = ("S-16-sc", "S-32-sc")
#: Tolerance (percent) of the reproduced figures. Keras / float32 TFLite repeat on one CPU, but another CPU model's
#: float kernels (oneDNN picks them per CPU) change scores in the 7th digit and can swap a nearly tied pair of pairs: on
#: 2026-12-02 a new machine gave S-16-sc identity AUC 93.9544 against the card's 93.9556, one of 90,000 orderings.
#: So AUC is held to 0.01 (9 orderings) and the rates to one pair of 300 (1/3 point). Full-int8 kernels differ
#: more between CPUs (tests/serving/test_tflite.py): its AUC is held to a quarter point and its rates to three pairs
#: (S-32-sc int8 10-fold accuracy 92.17 against the card's 91.67 on that machine).
AUC_TOLERANCE = {"keras": 0.01, "float32": 0.01, "int8": 0.25}
RATE_TOLERANCE = {"keras": 100 / 300 + 1e-9, "float32": 100 / 300 + 1e-9, "int8": 300 / 300 + 1e-9}
#: int8 thresholds: the best-accuracy one lies on a flat plateau of training-pair accuracy, where the int8 kernels'
#: changes moved it from the card's 0.4359 to 0.4597 on that machine.
THRESHOLD_TOLERANCE = {"keras": 1e-5, "float32": 1e-5, "int8": 0.05}


def test_shipped_names_and_files_match_their_cards():
    assert tuple(pretrained.names()) == NAMES
    for name in NAMES:
        card = pretrained.card(name)
        assert card["name"] == name and card["resolution"] == int(name.split("-")[1])
        for kind, entry in card["files"].items():
            path = pretrained.folder(name) / entry["file"]
            assert path.stat().st_size == entry["bytes"], (name, kind)
            assert artifact_sha256(path) == entry["sha256"], (name, kind)
        assert set(card["threshold"]["value"]) == set(pretrained.ARTIFACT_KINDS)
        assert card["score"]["feature"] == evaluate.HEADLINE_FEATURE
        alignment = card["preprocessing"]["alignment"]
        np.testing.assert_array_equal(alignment["template_unit_square"], DLIB_5_TEMPLATE)
        assert alignment["padding"] == TEACHER_CHIP.padding
        assert card["preprocessing"]["input"]["shape"] == [None, card["resolution"], card["resolution"], 3]
        assert "commercial" in card["training"]["data"]["terms"]
        # README.md is the card in words, regenerated with it.
        assert (pretrained.folder(name) / "README.md").read_text(encoding="utf-8") == build.card_readme(card)


def test_load_by_name_offline():
    model = pretrained.load("S-16-sc")
    assert tuple(model.inputs[0].shape) == (None, 16, 16, 3)
    assert set(model.output) == {"identity", "mimic"}  # the softmax layer is not shipped
    assert all(layer.name != "logits" for layer in model.layers)
    assert pretrained.tflite_path("S-32-sc", "int8").name == "student_int8.tflite"
    assert pretrained.threshold("S-32-sc") == pretrained.card("S-32-sc")["threshold"]["value"]["keras"]
    with pytest.raises(ValueError, match="S-16-sc, S-32-sc|'S-16-sc', 'S-32-sc'"):
        pretrained.card("S-99-xx")
    with pytest.raises(ValueError, match="kind"):
        pretrained.tflite_path("S-32-sc", "keras")


def test_strip_softmax_keeps_the_feature_layers():
    from skd_tf.models.student import build_student

    full = build_student(16, feature_dim=8, num_classes=5, seed=0)
    stripped = build.strip_softmax(full)
    x = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3)).astype(np.float32)
    out_full, out = full(x), stripped(x)
    assert set(out) == {"identity", "mimic"}
    for key in out:
        np.testing.assert_array_equal(np.asarray(out[key]), np.asarray(out_full[key]))
    assert stripped.count_params() == full.count_params() - full.get_layer("logits").count_params()


@pytest.fixture(scope="module")
def lfw_faces(lfw_root):
    """Held-out and training pairs with their faces at 16 and 32 px (the cards' landmarks path)."""
    card = pretrained.card(NAMES[0])
    held_out = card["evaluation"]["held_out"]["folds"]
    training = [k for k in range(1, 11) if k not in held_out]
    return {"held_out": evaluate.landmark_faces(lfw_root, held_out, [16, 32]),
            "training": evaluate.landmark_faces(lfw_root, training, [16, 32])}


@pytest.mark.parametrize("name", NAMES)
def test_artifacts_reproduce_their_cards(lfw_faces, name):
    from skd_tf.evaluation.view2_students import load_eval_student

    card = pretrained.card(name)
    p = card["resolution"]
    test_pairs, test_faces = lfw_faces["held_out"]
    train_pairs, train_faces = lfw_faces["training"]
    assert len(test_pairs) == 600 and len(test_pairs.rows) == 807
    for kind in pretrained.ARTIFACT_KINDS:
        student = load_eval_student(pretrained.artifact_path(name, kind))
        threshold = card["threshold"]["value"][kind]
        got = evaluate.held_out_figures(evaluate.pair_scores(student, test_faces[p], test_pairs), test_pairs,
                                        threshold)
        want = card["evaluation"]["held_out"]["figures"][kind]
        for feature in evaluate.FEATURES:
            assert got[feature]["auc"] == pytest.approx(want[feature]["auc"], abs=AUC_TOLERANCE[kind]), (
                kind, feature)
            for key in ("accuracy_mean", "tar_at_far_1e-3", "eer"):
                assert got[feature][key] == pytest.approx(want[feature][key], abs=RATE_TOLERANCE[kind]), (kind, feature,
                                                                                                    key)
        if kind != "int8":  # the rates at the threshold move in steps of 1/300 pairs
            for key, value in want["both"]["at_threshold"].items():
                assert got["both"]["at_threshold"][key] == pytest.approx(value, abs=RATE_TOLERANCE[kind]), key
        points = evaluate.operating_points(evaluate.pair_scores(student, train_faces[p], train_pairs)["both"],
                                           train_pairs)
        assert points[card["threshold"]["operating_point"]]["value"] == pytest.approx(
            threshold, abs=THRESHOLD_TOLERANCE[kind])
        for key, other in card["other_operating_points"].items():
            assert points[key]["value"] == pytest.approx(other["value"][kind], abs=THRESHOLD_TOLERANCE[kind]), key


def test_card_is_strict_json():
    for name in NAMES:
        json.loads((pretrained.folder(name) / pretrained.CARD_FILE).read_text(encoding="utf-8"),
                   parse_constant=lambda c: pytest.fail(f"{name}: non-standard JSON constant {c}"))
