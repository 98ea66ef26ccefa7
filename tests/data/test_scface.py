"""skd_tf.data.scface: annotation reader, 4-point -> dlib 5-point alignment, protocols, loading (dummy + real files)."""
from pathlib import Path

import numpy as np
import pytest

from skd_tf.data import scface
from skd_tf.data.align import DLIB_5_TEMPLATE, chip_points, similarity_transform, transform_points

DUMMY = Path(__file__).resolve().parents[2] / "data_builders" / "scface" / "dummy_data"


def test_real_annotation_file(scface_annotations):
    records = scface.read_annotations(scface_annotations)
    assert len(records) == 2990
    assert {r.subject for r in records} == set(range(1, 131))
    assert sum(r.camera == 0 for r in records) == 130 and sum(r.camera == 8 for r in records) == 130
    assert sum(r.infrared for r in records) == 130 * 7
    first = records[0]
    assert first.name == "001_frontal" and first.relpath == "mugshot_frontal_cropped_all/001_frontal.JPG"
    np.testing.assert_array_equal(first.points, [[466, 680], [765, 678], [633, 837], [631, 994]])
    # "right eye" is the subject's right eye: always on the image's left
    assert all(r.points[0, 0] < r.points[1, 0] for r in records)


def test_real_protocol_counts(scface_annotations):
    records = scface.read_annotations(scface_annotations)
    paper = scface.protocol_splits(records, "paper", seed=0)
    assert {k: len(v) for k, v in paper.items()} == {"train": 800, "gallery": 80, "probe": 1200}
    assert scface.count_by(paper["probe"], "distance") == {1: 400, 2: 400, 3: 400}
    test_subjects = {r.subject for r in paper["gallery"]}
    assert len(test_subjects) == 80 and not test_subjects & {r.subject for r in paper["train"]}
    assert {r.subject for r in paper["probe"]} == test_subjects
    assert all(r.camera in scface.VISIBLE_CAMERAS for r in paper["probe"])
    other = scface.protocol_splits(records, "paper", seed=1)
    assert {r.subject for r in other["gallery"]} != test_subjects  # the seed draws the subjects
    combined = scface.protocol_splits(records, "combined")
    assert {k: len(v) for k, v in combined.items()} == {
        "world": 688, "dev_gallery": 44, "dev_probe": 660, "eval_gallery": 43, "eval_probe": 645}
    assert {r.subject for r in combined["eval_gallery"]} == set(range(88, 131))
    far = scface.protocol_splits(records, "far")
    assert {r.distance for r in far["dev_probe"]} == {1} and len(far["dev_probe"]) == 220
    assert len(scface.protocol_splits(records, "all")["full"]) == 2990


def test_template_matches_real_mugshots(scface_annotations):
    """SCFACE_TEMPLATE's nose and mouth are the mean of the real frontal mugshots after eye alignment."""
    records = [r for r in scface.read_annotations(scface_annotations) if r.camera == 0]
    mapped = []
    for r in records:
        m = similarity_transform(r.points[[1, 0]], scface.SCFACE_TEMPLATE[:2])
        mapped.append(transform_points(r.points[2:], m))
    np.testing.assert_allclose(np.mean(mapped, axis=0), scface.SCFACE_TEMPLATE[2:], atol=1e-3)


def test_dlib5_from_annotation_is_consistent():
    # a face that matches the template exactly gives back dlib's template points (any similarity of it)
    m = np.array([[200.0, -30.0, 40.0], [30.0, 200.0, 25.0]])
    ann = transform_points(scface.SCFACE_TEMPLATE[[1, 0, 2, 3]], m)  # file order: image-left eye first
    five = scface.dlib5_from_annotation(ann)
    np.testing.assert_allclose(five, transform_points(DLIB_5_TEMPLATE, m), atol=1e-4)
    assert five[0, 0] > five[1, 0] > five[3, 0] > five[2, 0]  # image-right eye outer, inner; image-left inner > outer
    # in the chip, the eye centres land on the template's eye centres
    _, lm = scface.render_chip(np.zeros((80, 80, 3), np.uint8), five, 150)
    centres = np.stack([lm[0:2].mean(0), lm[2:4].mean(0)])
    expected = chip_points(150, 0.25, scface.SCFACE_TEMPLATE[:2])
    np.testing.assert_allclose(centres, expected, atol=0.6)
    assert scface.dlib5_from_annotation(np.stack([ann, ann])).shape == (2, 5, 2)


def test_names_paths_and_errors(tmp_path):
    assert scface.parse_image_name("012_cam4_2") == (12, 4, 2)
    assert scface.relative_path("012_cam4_2") == "surveillance_cameras_distance_2/cam4/012_cam4_2.jpg"
    assert scface.relative_path("012_cam8") == "surveillance_cameras_IR_cam8/012_cam8.jpg"
    with pytest.raises(ValueError, match="cam9"):
        scface.parse_image_name("001_cam9_1")
    bad = tmp_path / "ann.txt"
    bad.write_text("# header\n001_frontal\t1\t2\t3\n")
    with pytest.raises(ValueError, match=r"ann\.txt:2: expected 9"):
        scface.read_annotations(bad)
    bad.write_text("001_frontal 1 2 3 4 5 6 7 x\n")
    with pytest.raises(ValueError, match=r"ann\.txt:1: coordinates of '001_frontal' must be integers"):
        scface.read_annotations(bad)
    bad.write_text("001_frontal 1 2 3 4 5 6 7 8\n001_frontal 1 2 3 4 5 6 7 8\n")
    with pytest.raises(ValueError, match="duplicate"):
        scface.read_annotations(bad)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        scface.read_annotations(tmp_path / "nowhere.txt")


def test_dummy_data_matches_the_official_format(scface_annotations):
    dummy = scface.read_annotations(DUMMY / "scface_annotations.txt")
    real = scface.read_annotations(scface_annotations)
    assert [r.name for r in dummy] == [r.name for r in real]  # same row naming and order
    assert (DUMMY / "scface_annotations.txt").read_bytes().count(b"\r\n") == 2991  # CRLF like the real file
    paths = scface.resolve_image_paths(DUMMY, dummy)
    assert len(paths) == 2990


def test_load_protocol_faces_on_dummy_data():
    faces = scface.load_protocol_faces(DUMMY, DUMMY / "scface_annotations.txt", "paper", size=16,
                                       splits=["gallery", "probe"])
    assert set(faces) == {"gallery", "probe"}
    assert faces["gallery"].images.shape == (80, 16, 16, 3) and len(faces["probe"]) == 1200
    assert set(faces["probe"].distances.tolist()) == {1, 2, 3}
    assert set(faces["probe"].subjects.tolist()) == set(faces["gallery"].subjects.tolist())
    assert faces["probe"].landmarks.shape == (1200, 5, 2)


def test_load_protocol_faces_missing_and_corrupt(tmp_path):
    import shutil

    root = tmp_path / "scface"
    shutil.copytree(DUMMY, root, ignore=shutil.ignore_patterns("surveillance_cameras_distance_2"))
    with pytest.raises(FileNotFoundError, match="650 of 2080 expected image files are missing") as err:
        scface.load_protocol_faces(root, root / "scface_annotations.txt", "paper", size=16)
    assert "surveillance_cameras_distance_2/cam1/" in str(err.value)
    root = tmp_path / "scface_full"
    shutil.copytree(DUMMY, root)
    records = scface.read_annotations(root / "scface_annotations.txt")
    gallery = [r for r in records if r.camera == 0]
    bad = root / gallery[3].relpath
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=gallery[3].name):
        scface.load_protocol_faces(root, records, "close", size=16, splits=["world", "dev_gallery", "eval_gallery"])
    out = scface.load_protocol_faces(root, records, "close", size=16, on_corrupt="skip",
                                     splits=["world", "dev_gallery", "eval_gallery"])
    assert len(out["world"]) == 687 and [s["file"] for s in out["world"].skipped] == [str(bad)]
    assert out["world"].skipped[0]["name"] == gallery[3].name and "corrupt or unreadable" in out["world"].skipped[0][
        "reason"]


def test_load_protocol_faces_truncated_image_and_point_outside_the_image(tmp_path):
    import shutil

    root = tmp_path / "scface"
    shutil.copytree(DUMMY, root)
    annotations = root / "scface_annotations.txt"
    records = scface.read_annotations(annotations)
    gallery = [r for r in records if r.camera == 0]  # splits dev_gallery / eval_gallery: subjects 44..130
    cut = root / gallery[50].relpath
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    far = gallery[60]
    assert far.line == records.index(far) + 2 and far.source == str(annotations)  # one comment line first
    lines = annotations.read_bytes().split(b"\r\n")
    lines[far.line - 1] = far.name.encode() + b"\t15\t20\t30\t21\t22\t-900\t21\t36"
    annotations.write_bytes(b"\r\n".join(lines))
    kw = dict(protocol="close", size=16, splits=["dev_gallery", "eval_gallery"])
    with pytest.raises(ValueError, match=rf"{gallery[50].name}.JPG: corrupt or unreadable image: truncated JPEG"):
        scface.load_protocol_faces(root, annotations, **kw)
    cut.write_bytes((DUMMY / gallery[50].relpath).read_bytes())
    with pytest.raises(ValueError) as err:
        scface.load_protocol_faces(root, annotations, **kw)
    assert str(err.value).startswith(f"{root / far.relpath} ({annotations} line {far.line}): annotated point 2 at "
                                     f"(x=22.00, y=-900.00) lies outside the 40x48 image")
    cut.write_bytes(cut.read_bytes()[:100])
    out = scface.load_protocol_faces(root, annotations, on_corrupt="skip", **kw)
    assert len(out["dev_gallery"]) + len(out["eval_gallery"]) == 87 - 2
    skipped = out["dev_gallery"].skipped + out["eval_gallery"].skipped
    assert sorted(s["name"] for s in skipped) == sorted([gallery[50].name, far.name])
    assert {s["line"] for s in skipped} == {gallery[50].line, far.line}
