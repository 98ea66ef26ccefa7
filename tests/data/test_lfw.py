"""LFW protocol readers: the official files, and errors that name the file and line."""
import numpy as np
import pytest

from skd_tf.data import lfw

# ---------------------------------------------------------------- official files (skip when the shared data is absent)

def test_official_pairs_view2(lfw_root):
    names = lfw.read_names(lfw_root / "protocol" / "lfw-names.txt")
    images = lfw_root / "lfw-deepfunneled"
    pairs = lfw.read_pairs(lfw_root / "protocol" / "pairs.txt", known_names=names, root=images)
    assert len(pairs) == 6000 and (pairs.n_folds, pairs.pairs_per_class) == (10, 300)
    for k in range(10):
        in_fold = pairs.fold == k
        assert in_fold.sum() == 600 and pairs.is_same[in_fold].sum() == 300
    # Identities are disjoint across folds.
    fold_names = [set(pairs.name_a[pairs.fold == k]) | set(pairs.name_b[pairs.fold == k]) for k in range(10)]
    for i in range(10):
        for j in range(i + 1, 10):
            assert not fold_names[i] & fold_names[j], (i, j)
    # ... and each fold's people come from the same fold of people.txt.
    people = lfw.read_people(lfw_root / "protocol" / "people.txt")
    assert len(people) == 10 and sum(len(f) for f in people) == 5749
    assert all(fold_names[k] <= set(people[k]) for k in range(10))
    # Every image it names exists (read_pairs(root=...) already checked; check the explicit API too).
    a, b = pairs.image_paths(images)
    assert all(p.is_file() for p in a + b)
    assert len(pairs.distinct_relative_paths()) == 7701
    assert pairs.relative_paths()[0][0] == "Abel_Pacheco/Abel_Pacheco_0001.jpg"
    again = lfw.load_protocol_pairs(lfw_root)
    assert np.array_equal(again.is_same, pairs.is_same) and np.array_equal(again.name_b, pairs.name_b)


def test_official_view1_and_people(lfw_root):
    proto = lfw_root / "protocol"
    train = lfw.read_pairs(proto / "pairsDevTrain.txt")
    test = lfw.read_pairs(proto / "pairsDevTest.txt")
    assert (len(train), int(train.is_same.sum()), train.n_folds) == (2200, 1100, 1)
    assert (len(test), int(test.is_same.sum())) == (1000, 500)
    dev_train = lfw.read_people(proto / "peopleDevTrain.txt")
    dev_test = lfw.read_people(proto / "peopleDevTest.txt")
    assert [len(dev_train), len(dev_train[0]), sum(dev_train[0].values())] == [1, 4038, 9525]
    assert [len(dev_test[0]), sum(dev_test[0].values())] == [1711, 3708]
    assert train.names() <= set(dev_train[0]) and test.names() <= set(dev_test[0])


def test_official_images_and_landmarks(lfw_root):
    images = lfw.list_images(lfw_root / "lfw-deepfunneled")
    assert len(images) == 13233 and images[0] == "AJ_Cook/AJ_Cook_0001.jpg"
    assert images == (lfw_root / "dlib" / "descriptors_index.txt").read_text().split()
    paths, pts, det, boxes = lfw.read_landmarks_csv(lfw_root / "dlib" / "landmarks5.csv", with_boxes=True)
    assert paths == images and pts.shape == (13233, 5, 2) and pts.dtype == np.float32
    assert (det == "fixed").sum() == 67 and (det == "hog").sum() == 13166
    assert np.all(pts[:, 0, 0] > pts[:, 1, 0]) and np.all(pts[:, 3, 0] > pts[:, 2, 0])  # dlib 5-point order
    np.testing.assert_array_equal(pts[0], [[157, 115], [140, 116], [96, 116], [113, 116], [119, 146]])
    np.testing.assert_array_equal(boxes[0], [67, 80, 175, 187])
    lfw.verify_images_exist(lfw_root / "lfw-deepfunneled", paths[:50])


# ------------------------------------------------------------------------------------- synthetic files and errors

def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


PAIRS = "2\t1\nAnn\t1\t2\nAnn\t1\tBob\t1\nCat\t1\t3\nCat\t2\tDan\t1\n"


def test_read_pairs_small(tmp_path):
    p = lfw.read_pairs(_write(tmp_path, "pairs.txt", PAIRS))
    assert list(p.name_a) == ["Ann", "Ann", "Cat", "Cat"] and list(p.name_b) == ["Ann", "Bob", "Cat", "Dan"]
    np.testing.assert_array_equal(p.index_b, [2, 1, 3, 1])
    np.testing.assert_array_equal(p.is_same, [True, False, True, False])
    np.testing.assert_array_equal(p.fold, [0, 0, 1, 1])
    np.testing.assert_array_equal(p.line, [2, 3, 4, 5])
    a, b = p.image_paths("/r")
    assert str(a[0]) == "/r/Ann/Ann_0001.jpg" and str(b[0]) == "/r/Ann/Ann_0002.jpg"
    ra, rb = p.row_indices(["Ann/Ann_0001.jpg", "Ann/Ann_0002.jpg", "Bob/Bob_0001.jpg", "Cat/Cat_0001.jpg",
                            "Cat/Cat_0002.jpg", "Cat/Cat_0003.jpg", "Dan/Dan_0001.jpg"])
    np.testing.assert_array_equal(ra, [0, 0, 3, 4]) and np.testing.assert_array_equal(rb, [1, 2, 5, 6])
    # View 1 style header: one fold.
    v1 = lfw.read_pairs(_write(tmp_path, "dev.txt", "1\nAnn 1 2\nAnn 1 Bob 1\n"))
    assert (v1.n_folds, len(v1)) == (1, 2)


@pytest.mark.parametrize("text, match", [
    ("2\t1\nAnn\t1\t2\nAnn\t1\tBob\t1\nCat\t1\t3\n", "found 3 pair lines"),
    ("2\t1\nAnn\t1\nAnn\t1\tBob\t1\nCat\t1\t3\nCat\t2\tDan\t1\n", r"pairs.txt:2: expected a matched pair"),
    ("2\t1\nAnn\t1\t2\nAnn\t1\t2\nCat\t1\t3\nCat\t2\tDan\t1\n", r"pairs.txt:3: expected a mismatched pair"),
    ("2\t1\nAnn\t1\t2\nAnn\t1\tBob\t1\nCat\tx\t3\nCat\t2\tDan\t1\n", r"pairs.txt:4: image index must be an integer"),
    ("2\t1\nAnn\t1\t2\nAnn\t1\tBob\t0\nCat\t1\t3\nCat\t2\tDan\t1\n", r"pairs.txt:3: image index must be >= 1"),
    ("2\t1\nAnn\t1\t1\nAnn\t1\tBob\t1\nCat\t1\t3\nCat\t2\tDan\t1\n", r"pairs.txt:2: matched pair uses the same"),
    ("2\t1\nAnn\t1\t2\nAnn\t1\tAnn\t3\nCat\t1\t3\nCat\t2\tDan\t1\n", r"pairs.txt:3: mismatched pair names the same"),
    ("a\tb\n", r"pairs.txt:1: header fold count must be an integer"),
    ("", "empty pairs file"),
])
def test_read_pairs_malformed(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        lfw.read_pairs(_write(tmp_path, "pairs.txt", text))


def test_read_pairs_unknown_name_and_missing_image(tmp_path):
    path = _write(tmp_path, "pairs.txt", PAIRS)
    known = {"Ann": 2, "Bob": 1, "Cat": 3}
    with pytest.raises(ValueError, match=r"pairs.txt:5: unknown name 'Dan'"):
        lfw.read_pairs(path, known_names=known)
    with pytest.raises(ValueError, match=r"pairs.txt:4: image index 3 for Cat exceeds its 2 images"):
        lfw.read_pairs(path, known_names={**known, "Cat": 2, "Dan": 1})
    root = tmp_path / "imgs"
    for rel in ["Ann/Ann_0001.jpg", "Ann/Ann_0002.jpg", "Bob/Bob_0001.jpg", "Cat/Cat_0001.jpg", "Cat/Cat_0003.jpg",
                "Dan/Dan_0001.jpg"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match=r"Cat_0002.jpg: image not found \(named in .*pairs.txt line 5\)"):
        lfw.read_pairs(path, root=root)
    (root / "Cat/Cat_0002.jpg").write_bytes(b"x")
    assert len(lfw.read_pairs(path, root=root)) == 4
    assert lfw.list_images(root)[:2] == ["Ann/Ann_0001.jpg", "Ann/Ann_0002.jpg"]
    with pytest.raises(FileNotFoundError, match="Zed_0001.jpg: image not found"):
        lfw.verify_images_exist(root, ["Ann/Ann_0001.jpg", "Zed/Zed_0001.jpg"])
    (root / "Ann" / "notes.txt").write_text("?")
    with pytest.raises(ValueError, match=r"notes.txt: expected 'Ann_NNNN.jpg'"):
        lfw.list_images(root)


def test_read_people(tmp_path):
    folds = lfw.read_people(_write(tmp_path, "people.txt", "2\n2\nAnn\t2\nBob\t1\n1\nCat\t3\n"))
    assert folds == [{"Ann": 2, "Bob": 1}, {"Cat": 3}]
    one = lfw.read_people(_write(tmp_path, "dev.txt", "2\nAnn\t2\nBob\t1\n"))
    assert one == [{"Ann": 2, "Bob": 1}]
    with pytest.raises(ValueError, match=r"people.txt:6: Ann already listed at line 3"):
        lfw.read_people(_write(tmp_path, "people.txt", "2\n2\nAnn\t2\nBob\t1\n1\nAnn\t3\n"))
    with pytest.raises(ValueError, match=r"people.txt:4: image count of Bob must be an integer"):
        lfw.read_people(_write(tmp_path, "people.txt", "2\n2\nAnn\t2\nBob\tx\n1\nCat\t3\n"))
    with pytest.raises(ValueError, match=r"fold 2 promises 2 people"):
        lfw.read_people(_write(tmp_path, "people.txt", "2\n2\nAnn\t2\nBob\t1\n2\nCat\t3\n"))
    with pytest.raises(ValueError, match=r"dev.txt:4: unexpected extra line"):
        lfw.read_people(_write(tmp_path, "dev.txt", "2\nAnn\t2\nBob\t1\nCat\t1\n"))
    with pytest.raises(ValueError, match=r"names.txt:2: expected 'name count'"):
        lfw.read_names(_write(tmp_path, "names.txt", "Ann\t2\nBob\n"))


def test_read_landmarks_csv(tmp_path):
    header = "path,det,x0,y0,x1,y1,x2,y2,x3,y3,x4,y4\n"
    good = "A/A_0001.jpg,hog,10,11,8,11,2,11,4,11,6,15\n"
    paths, pts, det = lfw.read_landmarks_csv(_write(tmp_path, "lm.csv", header + good))
    assert paths == ["A/A_0001.jpg"] and list(det) == ["hog"] and pts.dtype == np.float32
    np.testing.assert_array_equal(pts[0, 4], [6, 15])
    np.testing.assert_array_equal(lfw.landmarks_for(["A/A_0001.jpg"], paths, pts), pts)
    with pytest.raises(ValueError, match="no landmarks for image B"):
        lfw.landmarks_for(["B/B_0001.jpg"], paths, pts)
    with pytest.raises(ValueError, match=r"lm.csv:3: column y1 must be a number, got 'abc'"):
        lfw.read_landmarks_csv(_write(tmp_path, "lm.csv", header + good + "B/B_0001.jpg,hog,1,2,3,abc,5,6,7,8,9,10\n"))
    with pytest.raises(ValueError, match=r"lm.csv:2: expected 12 comma-separated fields, got 11"):
        lfw.read_landmarks_csv(_write(tmp_path, "lm.csv", header + "A/A_0001.jpg,hog,1,2,3,4,5,6,7,8,9\n"))
    with pytest.raises(ValueError, match=r"lm.csv:3: A/A_0001.jpg already listed at line 2"):
        lfw.read_landmarks_csv(_write(tmp_path, "lm.csv", header + good + good))
    with pytest.raises(ValueError, match=r"lm.csv:1: header lacks column\(s\) y4"):
        lfw.read_landmarks_csv(_write(tmp_path, "lm.csv", "path,x0,y0,x1,y1,x2,y2,x3,y3,x4\n"))


def _lfw_folder(tmp_path, n=3, size=64):
    """A tiny LFW-layout folder (`P<k>/P<k>_0001.jpg`, written by cv2) and its landmarks CSV."""
    import cv2

    root = tmp_path / "images"
    rows = ["path,det,x0,y0,x1,y1,x2,y2,x3,y3,x4,y4"]
    for k in range(n):
        (root / f"P{k}").mkdir(parents=True)
        image = np.random.default_rng(k).integers(0, 256, (size, size, 3), dtype=np.uint8)
        assert cv2.imwrite(str(root / f"P{k}" / f"P{k}_0001.jpg"), image)
        rows.append(f"P{k}/P{k}_0001.jpg,hog,44,24,36,24,20,24,28,24,32,40")
    csv_path = tmp_path / "landmarks5.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    return root, csv_path


def test_landmarks_table_checks_images_and_frames(tmp_path):
    root, csv_path = _lfw_folder(tmp_path)
    table = lfw.read_landmarks_table(csv_path, image_root=root)
    assert table.lines.tolist() == [2, 3, 4] and table.where(1) == f"P1/P1_0001.jpg ({csv_path} line 3, data row 1)"
    assert table.read_image(root, 2).shape == (64, 64, 3)
    assert lfw.read_landmarks_csv(csv_path, image_root=root)[0] == table.paths
    # a landmark far outside its image: the CSV is refused, naming the image and the line
    lines = csv_path.read_text().splitlines()
    lines[2] = "P1/P1_0001.jpg,hog,44,24,36,24,20,24,28,24,32,400"
    csv_path.write_text("\n".join(lines) + "\n")
    lfw.read_landmarks_csv(csv_path)  # without images the CSV itself is fine
    with pytest.raises(ValueError) as err:
        lfw.read_landmarks_csv(csv_path, image_root=root)
    assert str(err.value).startswith(f"{root / 'P1/P1_0001.jpg'} ({csv_path} line 3, data row 1): landmark 4 at "
                                     "(x=32.00, y=400.00) lies outside the 64x64 image by more than 0.5 x its size")
    lfw.read_landmarks_csv(csv_path, image_root=root, margin=6)  # a wider margin accepts it
    table = lfw.read_landmarks_table(csv_path)
    with pytest.raises(ValueError, match="landmark 4 at"):
        table.read_image(root, 1)
    # a truncated JPEG is refused too; 'skip' lists both problems by row
    image = root / "P2" / "P2_0001.jpg"
    image.write_bytes(image.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"P2_0001.jpg: corrupt or unreadable image: truncated JPEG \(no "
                                         r"end-of-image marker\) \(300 bytes\) \(named in .*landmarks5.csv line 4"):
        table.frame_problems(root, rows=[0, 2])
    problems = table.frame_problems(root, on_corrupt="skip")
    assert sorted(problems) == [1, 2] and "truncated JPEG" in problems[2]
    with pytest.raises(ValueError, match="truncated JPEG"):
        table.read_image(root, 2)
    (root / "P0" / "P0_0001.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"P0_0001.jpg: image not found \(named in .*landmarks5.csv line 2\)"):
        lfw.read_landmarks_csv(csv_path, image_root=root)
