"""skd_tf.recognition: photos -> faces -> verification / identification with the shipped students (dlib and
../shared/data LFW for the photo tests; the folder layouts and student choice need neither)."""
import shutil

import cv2
import numpy as np
import pytest

from skd_tf import pretrained
from skd_tf.recognition import (
    AUTO,
    auto_student,
    format_identification,
    format_verification,
    gallery_files,
    identify,
    image_files,
    load_recognizer,
    verify,
)


def test_gallery_layout_and_image_lists(tmp_path):
    for person, files in (("Alice", ["1.jpg", "2.png"]), ("Bob", ["x.jpeg"])):
        (tmp_path / "g" / person).mkdir(parents=True)
        for f in files:
            (tmp_path / "g" / person / f).write_bytes(b"")
    (tmp_path / "g" / "Alice" / "notes.txt").write_text("not an image")
    assert [(p, f.name) for p, f in gallery_files(tmp_path / "g")] == [("Alice", "1.jpg"), ("Alice", "2.png"),
                                                                        ("Bob", "x.jpeg")]
    assert [f.name for f in image_files([tmp_path / "g", tmp_path / "g" / "Bob" / "x.jpeg"])] == [
        "1.jpg", "2.png", "x.jpeg", "x.jpeg"]
    (tmp_path / "g" / "loose.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="top level .*loose.jpg.*one subfolder per person"):
        gallery_files(tmp_path / "g")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        gallery_files(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="neither an image file nor a folder"):
        image_files([tmp_path / "nope.jpg"], what="probes")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="probes: no image files"):
        image_files([tmp_path / "empty"], what="probes")


def test_student_choice_and_thresholds(tmp_path):
    assert auto_student([20.0]) == "S-16-sc" and auto_student([110.0, 30.0]) == "S-32-sc"
    rec = load_recognizer("S-32-sc", kind="int8", operating_point="best_accuracy")
    card = pretrained.card("S-32-sc")
    assert rec.resolution == 32 and rec.student.kind == "tflite"
    assert rec.threshold == card["other_operating_points"]["best_accuracy"]["value"]["int8"]
    assert load_recognizer("S-16-sc", threshold=0.5).threshold == 0.5
    own = tmp_path / "mine.tflite"
    shutil.copyfile(pretrained.tflite_path("S-16-sc"), own)
    mine = load_recognizer(str(own))
    assert mine.threshold is None and mine.decide(0.9) is None
    with pytest.raises(FileNotFoundError, match="neither a pretrained name .*S-16-sc"):
        load_recognizer("S-32-xx")
    with pytest.raises(ValueError, match="operating_point"):
        load_recognizer("S-32-sc", operating_point="far_0")


@pytest.fixture(scope="module")
def lfw_photos(lfw_root):
    pytest.importorskip("dlib", reason="photo detection is the optional 'detect' extra (pip install 'skd-tf[detect]')")
    return lfw_root / "lfw-deepfunneled"


def test_verify_two_lfw_photos_scores_as_the_landmarks_path(lfw_root, lfw_photos):
    from skd_tf.evaluation.view2_faces import prepare_faces
    from skd_tf.evaluation.view2_pairs import load_view2_pairs
    from skd_tf.evaluation.view2_students import load_eval_student
    from skd_tf.pretrained.evaluate import pair_scores

    pairs = load_view2_pairs(lfw_root, folds=[1], max_pairs=2)  # the first matched and mismatched pair of fold 1
    faces = prepare_faces(lfw_root, pairs, [32])
    student = load_eval_student(pretrained.artifact_path("S-32-sc"))
    expected = pair_scores(student, faces[32], pairs)["both"]
    card = pretrained.card("S-32-sc")
    threshold = card["other_operating_points"]["best_accuracy"]["value"]["keras"]  # verify's default operating point
    for k in range(2):
        a, b = (lfw_photos / pairs.paths[i] for i in (pairs.pair_a[k], pairs.pair_b[k]))
        result = verify(a, b)
        assert result["status"] == "ok" and result["student"]["student"] == "S-32-sc"
        # dlib finds the landmarks5.csv face in these photos: the raw-photo score is the eval_lfw score
        assert result["score"] == pytest.approx(expected[k], abs=1e-5)
        assert result["decision"] == ("same" if result["score"] > threshold else "different")
        assert result["student"]["threshold"] == threshold
        assert "decision   " + result["decision"] in format_verification(result)
    small = verify(a, b, student=AUTO)
    assert small["student"]["student"] == "S-32-sc"  # ~110 px LFW faces: the 32 px student is nearest


def test_verify_reports_a_photo_without_a_face(tmp_path, lfw_photos):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 127, np.uint8))
    photo = sorted(lfw_photos.glob("Abel_Pacheco/*.jpg"))[0]
    result = verify(photo, blank, student="S-16-sc")
    assert result["status"] == "no_face" and result["score"] is None and result["decision"] is None
    assert any("blank.png: no face detected" in n for n in result["notes"])
    assert "no face" in format_verification(result)
    fallback = verify(photo, blank, student="S-16-sc", centred_fallback=True)
    assert fallback["status"] == "ok" and fallback["images"][1]["status"] == "centred_box"
    with pytest.raises(FileNotFoundError, match="missing.jpg: image not found"):
        verify(photo, tmp_path / "missing.jpg", student="not-even-a-student")  # checked before the student loads


def test_identify_a_small_gallery(tmp_path, lfw_photos):
    people = ["Abel_Pacheco", "Akhmed_Zakayev", "Amber_Tamblyn"]
    probes = tmp_path / "probes"
    probes.mkdir()
    for person in people:
        images = sorted((lfw_photos / person).glob("*.jpg"))
        (tmp_path / "gallery" / person).mkdir(parents=True)
        for f in images[1:]:
            shutil.copyfile(f, tmp_path / "gallery" / person / f.name)
        shutil.copyfile(images[0], probes / images[0].name)
    cv2.imwrite(str(probes / "blank.png"), np.zeros((120, 120, 3), np.uint8))
    (probes / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (tmp_path / "gallery" / "Nobody").mkdir()
    cv2.imwrite(str(tmp_path / "gallery" / "Nobody" / "blank.png"), np.zeros((120, 120, 3), np.uint8))
    result = identify(tmp_path / "gallery", [probes], student="S-16-sc", kind="float32", top_k=2)
    gallery = result["gallery"]
    assert gallery["people"] == 4 and gallery["enrolled_people"] == 3 and gallery["not_enrolled_people"] == ["Nobody"]
    assert [p.endswith("Nobody/blank.png") for p in gallery["no_face"]] == [True]
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in result["probes"]}
    assert len(rows) == 5 and rows["blank.png"]["status"] == "no_face" and rows["broken.jpg"]["status"] == "unreadable"
    assert result["summary"] == {"probes": 5, "with_face": 3, "centred_box": 0, "no_face": 1, "unreadable": 1,
                                 "matched": result["summary"]["matched"]}
    for person in people:
        row = next(r for name, r in rows.items() if name.startswith(person))
        assert len(row["top"]) == 2 and row["top"][0]["score"] >= row["top"][1]["score"]
        assert {t["person"] for t in row["top"]} <= set(people)
    table = format_identification(result)
    assert "-- no face --" in table and "-- unreadable --" in table and "people not enrolled: Nobody" in table
