"""skd_tf.data.uccs: the challenge CSV reader, the paper's 180-subject subset rule, crops and the seeded 4:1 split."""
import numpy as np
import pytest

from skd_tf.data import uccs


@pytest.fixture(scope="module")
def synthetic_uccs(tmp_path_factory):
    return uccs.write_synthetic_uccs(tmp_path_factory.mktemp("uccs"), num_subjects=190, max_faces=6, seed=0)


def _faces(counts):
    out, fid = [], 0
    for subject, n in counts.items():
        for _ in range(n):
            fid += 1
            out.append(uccs.UccsFace(file=f"{fid}.jpg", face_id=fid, subject_id=subject, box=(0, 0, 8, 8)))
    return out


def test_select_subjects_most_images_ties_by_id():
    faces = _faces({5: 3, 2: 7, 9: 3, 4: 1, -1: 50, 7: 3})
    np.testing.assert_array_equal(uccs.select_subjects(faces, 3), [2, 5, 7])  # 2 (7 faces), then 5 and 7 (3, ties)
    with pytest.raises(ValueError, match="only 5 known subjects"):
        uccs.select_subjects(faces, 6)  # unknown (-1) faces never count


def test_stratified_split_is_seeded_and_four_to_one():
    labels = np.repeat(np.arange(4), [10, 5, 4, 7])
    train, test = uccs.stratified_split(labels, 0.2, seed=3)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(labels)
    assert np.bincount(labels[test], minlength=4).tolist() == [2, 1, 0, 1]  # floor(n / 5) per subject
    again = uccs.stratified_split(labels, 0.2, seed=3)
    np.testing.assert_array_equal(again[1], test)
    assert not np.array_equal(uccs.stratified_split(labels, 0.2, seed=4)[1], test)
    assert set(labels[test]) <= set(labels[train])  # closed set: every test identity is trained on


def test_crop_face_square_and_border():
    img = np.zeros((40, 60, 3), np.uint8)
    img[10:30, 20:40] = 200  # the "face"
    crop = uccs.crop_face(img, (20, 10, 20, 20), size=16, hr_size=80)
    assert crop.shape == (16, 16, 3) and crop.min() > 150
    edge = uccs.crop_face(img, (-10, -10, 20, 20), size=16)  # box partly outside: black border
    assert edge.shape == (16, 16, 3) and edge[0, 0].max() == 0


def test_load_subset_on_synthetic_data(synthetic_uccs):
    sub = uccs.load_uccs_subset(synthetic_uccs, num_subjects=180, seed=0)
    assert sub.num_classes == 180 and sub.train_images.shape[1:] == (16, 16, 3)
    assert sub.train_images.dtype == np.uint8
    assert set(sub.train_labels.tolist()) == set(range(180))
    assert set(sub.test_labels.tolist()) <= set(range(180))
    faces = uccs.read_uccs_csv(synthetic_uccs)
    chosen = set(sub.subject_ids.tolist())
    total = sum(f.subject_id in chosen for f in faces)
    assert len(sub.train_labels) + len(sub.test_labels) == total
    assert len(np.intersect1d(sub.train_face_ids, sub.test_face_ids)) == 0
    # the 180 kept subjects have at least as many faces as any dropped one
    counts = {s: sum(f.subject_id == s for f in faces) for s in {f.subject_id for f in faces if f.subject_id > 0}}
    assert min(counts[s] for s in chosen) >= max((c for s, c in counts.items() if s not in chosen), default=0)
    again = uccs.load_uccs_subset(synthetic_uccs, num_subjects=180, seed=0)
    np.testing.assert_array_equal(again.test_face_ids, sub.test_face_ids)
    np.testing.assert_array_equal(again.test_images, sub.test_images)


def test_csv_errors(tmp_path):
    path = tmp_path / "gt.csv"
    path.write_text("FILE,FACE_ID,SUBJECT_ID,FACE_X,FACE_Y,FACE_WIDTH\na.jpg,1,2,3,4,5\n")
    with pytest.raises(ValueError, match=r"gt\.csv: not a UCCS ground-truth CSV: missing columns \['FACE_HEIGHT'\]"):
        uccs.read_uccs_csv(path)
    path.write_text("FACE_ID,FILE,SUBJECT_ID,FACE_X,FACE_Y,FACE_WIDTH,FACE_HEIGHT,EXTRA\n1,a.jpg,2,3,4,five,6,x\n")
    with pytest.raises(ValueError, match=r"gt\.csv:2: column FACE_WIDTH: expected a number, got 'five'"):
        uccs.read_uccs_csv(path)
    path.write_text("FACE_ID,FILE,SUBJECT_ID,FACE_X,FACE_Y,FACE_WIDTH,FACE_HEIGHT\n1,a.jpg,2,3,4,5,6\n1,b.jpg,2,3,4,5,6\n")
    with pytest.raises(ValueError, match="duplicate face id 1"):
        uccs.read_uccs_csv(path)


def test_missing_and_corrupt_images(tmp_path):
    csv_path = uccs.write_synthetic_uccs(tmp_path / "u", num_subjects=12, max_faces=4, num_unknown=0, seed=1)
    files = sorted(p for p in csv_path.parent.glob("*.jpg"))
    files[0].write_bytes(b"broken")
    with pytest.raises(ValueError, match=files[0].name):
        uccs.load_uccs_subset(csv_path, num_subjects=10)
    sub = uccs.load_uccs_subset(csv_path, num_subjects=10, on_corrupt="skip")
    assert [s["file"] for s in sub.skipped] == [str(files[0])] and sub.skipped[0]["face_ids"] == [1, 2]
    assert "not a decodable image" in sub.skipped[0]["reason"]
    files[1].unlink()
    with pytest.raises(FileNotFoundError, match=files[1].name):
        uccs.load_uccs_subset(csv_path, num_subjects=10)


def test_truncated_image_and_box_outside_the_image(tmp_path):
    csv_path = uccs.write_synthetic_uccs(tmp_path / "u", num_subjects=12, max_faces=4, num_unknown=0, seed=1)
    files = sorted(p for p in csv_path.parent.glob("*.jpg"))
    files[0].write_bytes(files[0].read_bytes()[:200])  # a truncated JPEG: cv2.imread would decode it partially
    lines = csv_path.read_text().splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith(files[1].name + ","))
    f = lines[k].split(",")
    lines[k] = ",".join(f[:3] + ["900", f[4]] + f[5:])  # FACE_X far right of the 80x48 scene
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as err:
        uccs.load_uccs_subset(csv_path, num_subjects=10)
    assert f"{files[0]}: corrupt or unreadable image: truncated JPEG (no end-of-image marker)" in str(err.value)
    assert f"named in {csv_path} line(s)" in str(err.value)
    files[0].unlink()
    lines = [line for line in lines if not line.startswith(files[0].name + ",")]
    csv_path.write_text("\n".join(lines) + "\n")
    k = next(i for i, line in enumerate(lines) if line.startswith(files[1].name + ","))
    with pytest.raises(ValueError, match=rf"{files[1].name} \(face {int(f[1])}, .*training.csv line {k + 1}\): box "
                                         r"corner 0 at \(x=900.00"):
        uccs.load_uccs_subset(csv_path, num_subjects=10)
    sub = uccs.load_uccs_subset(csv_path, num_subjects=10, on_corrupt="skip")
    assert [(s["face_ids"], s["lines"]) for s in sub.skipped] == [([int(f[1])], [k + 1])]
    assert int(f[1]) not in set(sub.train_face_ids.tolist()) | set(sub.test_face_ids.tolist())
