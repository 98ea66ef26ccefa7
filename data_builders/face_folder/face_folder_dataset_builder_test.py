"""Tests of the face-folder TFDS builder, its command line and `write_face_folder`, on the synthetic dummy data
(dummy_data/: 4 identities x 3 images, made by make_dummy_data.py) and, when ../shared/data/lfw is present, on a
3-person subset of the real LFW read in place through symbolic links."""
import importlib
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_builders.face_folder import face_folder_dataset_builder as ffb
from data_builders.face_folder import make_dummy_data
from data_builders.face_folder.write_folder import CSV_HEADER, default_names, write_face_folder
from skd_tf.data import degrade
from skd_tf.data.align import align_face, alignment_matrix, chip_points, transform_points
from skd_tf.data.lfw import read_landmarks_csv
from skd_tf.data.scface import decode_rgb, load_rgb
from skd_tf.data.synthetic import generate_faces
from skd_tf.utils.paths import lfw_dir

DUMMY = Path(__file__).resolve().parent / "dummy_data"
cli = importlib.import_module("data_builders.face_folder.__main__")


class FaceFolderTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = ffb.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["aligned_150", "aligned_224"]
    SPLITS = {"train": 12}


def _build(data_dir, manual_dir, config="aligned_150", **kwargs):
    builder = ffb.Builder(data_dir=str(data_dir), config=config, **kwargs)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def _examples(builder):
    return sorted(tfds.as_numpy(builder.as_dataset(split="train")), key=lambda e: int(e["row_id"]))


def _manual(tmp_path) -> Path:
    """A private copy of the dummy data (12 small JPEGs) that a test may break."""
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY, manual)
    return manual


def _edit_csv(csv_path: Path, rel: str, new_line: str | None) -> None:
    lines = csv_path.read_text().splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith(rel + ","))
    if new_line is None:
        del lines[k]
    else:
        lines[k] = new_line
    csv_path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The dummy data built once with the command line (aligned_150): (builder, examples sorted by row_id)."""
    data_dir = tmp_path_factory.mktemp("tfds")
    builder = cli.main([f"--manual_dir={DUMMY}", f"--data_dir={data_dir}", "--config=aligned_150"])
    return builder, _examples(builder)


def test_cli_builds_every_image(built, capsys):
    builder, examples = built
    assert builder.info.splits["train"].num_examples == 12 and len(examples) == 12
    assert builder.info.supervised_keys is not None
    assert builder.info.metadata["skipped"] == [] and builder.info.metadata["unused_csv_rows"] == 0
    assert builder.info.metadata["source"]["images_root"] == str(DUMMY)


def test_labels_contiguous_by_sorted_identity_name(built):
    builder, examples = built
    names = sorted(make_dummy_data.NAMES)  # code points: upper case first, so mia_synthetic is last
    assert builder.info.metadata["identities"] == names == ["Ada_Synthetic", "Bob_Synthetic", "Zoe_Synthetic",
                                                            "mia_synthetic"]
    assert builder.info.metadata["num_classes"] == 4
    for e in examples:
        identity = e["identity"].decode()
        assert identity == e["file_name"].decode().split("/")[0]
        assert int(e["label"]) == names.index(identity)
    assert sorted({int(e["label"]) for e in examples}) == [0, 1, 2, 3]


def test_row_id_is_the_csv_row(built):
    _, examples = built
    paths, _, _ = read_landmarks_csv(DUMMY / "landmarks5.csv")
    assert [int(e["row_id"]) for e in examples] == list(range(12))
    for e in examples:
        assert paths[int(e["row_id"])] == e["file_name"].decode()
        # write_face_folder keeps input order: row k is generator face k (generator label k // 3)
        assert e["identity"].decode() == make_dummy_data.NAMES[int(e["row_id"]) // 3]


def test_chip_landmarks_land_on_the_template(built):
    _, examples = built
    _, csv_landmarks, _ = read_landmarks_csv(DUMMY / "landmarks5.csv")
    template = chip_points(150) - 0.5  # pixel-centre coordinates of dlib's template in a 150 px chip
    for e in examples:
        lm = csv_landmarks[int(e["row_id"])].astype(np.float64)
        expected = transform_points(lm, alignment_matrix(lm, 150, 0.25))
        assert e["landmarks"].dtype == np.float32 and e["landmarks"].shape == (5, 2)
        np.testing.assert_allclose(e["landmarks"], expected, atol=1e-4)
        assert np.abs(e["landmarks"] - template).max() < 0.06 * 150  # a 5-point fit of an expressive face


def test_chip_is_render_chip_of_the_source(built):
    _, examples = built
    _, csv_landmarks, _ = read_landmarks_csv(DUMMY / "landmarks5.csv")
    for e in examples:
        source = load_rgb(DUMMY / e["file_name"].decode())
        expected = degrade.render_chip(source, csv_landmarks[int(e["row_id"])].astype(np.float64), 150, 0.25)
        assert e["image"].shape == (150, 150, 3)
        assert np.abs(e["image"].astype(float) - expected).mean() < 3  # JPEG quality 95


def test_missing_csv_is_named(tmp_path):
    manual = _manual(tmp_path)
    (manual / "landmarks5.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"manual/landmarks5\.csv: landmarks CSV not found"):
        _build(tmp_path / "data", manual)
    with pytest.raises(FileNotFoundError, match=r"elsewhere\.csv: landmarks CSV not found"):
        _build(tmp_path / "data", manual, landmarks_csv=tmp_path / "elsewhere.csv")


def test_images_subdir_and_relative_landmarks_csv(tmp_path, monkeypatch):
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY, manual / "imgs", ignore=shutil.ignore_patterns("*.csv"))
    (tmp_path / "csvs").mkdir()
    shutil.copy(DUMMY / "landmarks5.csv", tmp_path / "csvs" / "lm.csv")
    monkeypatch.chdir(tmp_path)
    builder = _build(tmp_path / "data", manual, images_subdir="imgs", landmarks_csv="csvs/lm.csv")
    assert builder.info.splits["train"].num_examples == 12
    assert builder.info.metadata["source"] == {"images_root": str(manual / "imgs"),
                                               "landmarks_csv": str(tmp_path / "csvs" / "lm.csv")}
    # the same data_dir asked for another source: refused instead of silently reused
    with pytest.raises(ValueError, match=r"(?s)already holds face_folder/aligned_150 built from .*imgs.*requested"):
        _build(tmp_path / "data", manual, images_subdir="imgs", landmarks_csv=str(DUMMY / "landmarks5.csv"))
    # without images_subdir the identity folders are not found where expected
    with pytest.raises(ValueError, match=r"(?s)1 identity folder\(s\) hold no image.*manual/imgs"):
        _build(tmp_path / "data2", manual, landmarks_csv="csvs/lm.csv")


def test_image_without_csv_row_is_named_with_the_csv(tmp_path):
    manual = _manual(tmp_path)
    rel = "Bob_Synthetic/Bob_Synthetic_0002.jpg"
    _edit_csv(manual / "landmarks5.csv", rel, None)
    with pytest.raises(ValueError) as err:
        _build(tmp_path / "data", manual)
    msg = str(err.value)
    assert str(manual / "landmarks5.csv") in msg and "no landmark row for 1 of the 12 images" in msg and rel in msg


def test_csv_rows_of_absent_images_are_ignored_and_counted(tmp_path, caplog):
    manual = _manual(tmp_path)
    (manual / "Zoe_Synthetic" / "Zoe_Synthetic_0001.jpg").unlink()
    (manual / "notes.txt").write_text("not an image, not a folder: ignored")
    (manual / "Ada_Synthetic" / "readme.TXT").write_text("not an image: ignored")
    shutil.copy(manual / "Ada_Synthetic" / "Ada_Synthetic_0001.jpg", manual / "Ada_Synthetic" / ".hidden.jpg")
    caplog.set_level(logging.INFO, logger="absl")
    builder = _build(tmp_path / "data", manual)
    assert builder.info.splits["train"].num_examples == 11
    assert builder.info.metadata["unused_csv_rows"] == 1
    assert "1 of the 12 rows" in caplog.text and "ignored" in caplog.text
    paths, _, _ = read_landmarks_csv(manual / "landmarks5.csv")
    examples = _examples(builder)
    assert [int(e["row_id"]) for e in examples] == list(range(1, 12))
    assert all(paths[int(e["row_id"])] == e["file_name"].decode() for e in examples)


def test_empty_identity_folder_is_named(tmp_path):
    manual = _manual(tmp_path)
    (manual / "Empty_Person").mkdir()
    (manual / "Empty_Person" / "list.txt").write_text("no image here")
    with pytest.raises(ValueError, match=r"(?s)1 identity folder\(s\) hold no image.*manual/Empty_Person"):
        _build(tmp_path / "data", manual)


def test_corrupt_image_fails_or_is_skipped_and_recorded(tmp_path):
    manual = _manual(tmp_path)
    rel = "mia_synthetic/mia_synthetic_0002.jpg"
    data = (manual / rel).read_bytes()
    (manual / rel).write_bytes(data[: len(data) // 2])  # a truncated JPEG: libjpeg would decode it partially
    with pytest.raises(ValueError, match=r"mia_synthetic_0002\.jpg: corrupt or unreadable image: truncated JPEG "
                                         r"\(no end-of-image marker\)"):
        _build(tmp_path / "a", manual)
    builder = _build(tmp_path / "b", manual, on_corrupt="skip")
    assert builder.info.splits["train"].num_examples == 11
    skipped = builder.info.metadata["skipped"]
    assert len(skipped) == 1 and skipped[0]["file_name"] == rel and skipped[0]["row_id"] == 7
    assert skipped[0]["file"] == str(manual / rel) and "corrupt or unreadable" in skipped[0]["reason"]
    assert rel not in {e["file_name"].decode() for e in _examples(builder)}


def test_landmark_far_outside_the_image_fails_or_is_skipped(tmp_path):
    manual = _manual(tmp_path)
    csv_path = manual / "landmarks5.csv"
    rel = "Ada_Synthetic/Ada_Synthetic_0003.jpg"
    row = read_landmarks_csv(csv_path)[0].index(rel)
    _edit_csv(csv_path, rel, f"{rel},given,10000,40,70,40,40,40,55,40,60,70,0,0,119,119")
    with pytest.raises(ValueError) as err:
        _build(tmp_path / "a", manual)
    msg = str(err.value)
    assert rel in msg and f"row {row} of {csv_path}" in msg and "outside the 120x120 image" in msg
    builder = _build(tmp_path / "b", manual, on_corrupt="skip")
    assert builder.info.splits["train"].num_examples == 11
    assert [s["file_name"] for s in builder.info.metadata["skipped"]] == [rel]


def test_bad_kwargs_are_refused():
    with pytest.raises(ValueError, match="on_corrupt='maybe'"):
        ffb.Builder(on_corrupt="maybe")
    for sub in ("/abs/images", "../images"):
        with pytest.raises(ValueError, match="images_subdir"):
            ffb.Builder(images_subdir=sub)


def test_check_in_frame_accepts_partly_outside_faces():
    lm = np.array([[130.0, 10], [100, 10], [-100, 10], [-50, 10], [20, 239.4]])
    ffb.check_in_frame(lm, 120, 120, "x.jpg")  # outside the image, but by less than its size
    with pytest.raises(ValueError, match=r"x\.jpg: landmark 4 at \(x=20\.00, y=240\.00\)"):
        ffb.check_in_frame(lm + [0, 0.6], 120, 120, "x.jpg")


def test_write_face_folder_round_trip(tmp_path):
    faces = generate_faces(3, 2, image_size=64, noisy_fraction=0.0, seed=5)
    order = np.array([5, 0, 3, 1, 4, 2])  # labels out of order: rows must keep the input order
    csv_path = write_face_folder(tmp_path / "set", faces.images[order], faces.landmarks[order], faces.labels[order])
    assert csv_path == tmp_path / "set" / "landmarks5.csv"
    assert csv_path.read_text().splitlines()[0] == CSV_HEADER
    paths, landmarks, det, boxes = read_landmarks_csv(csv_path, with_boxes=True)
    names = default_names(3)
    assert names == ["id00000", "id00001", "id00002"]
    assert paths == ["id00002/id00002_0001.jpg", "id00000/id00000_0001.jpg", "id00001/id00001_0001.jpg",
                     "id00000/id00000_0002.jpg", "id00002/id00002_0002.jpg", "id00001/id00001_0002.jpg"]
    assert set(det) == {"given"}
    np.testing.assert_allclose(landmarks, faces.landmarks[order], atol=0.005 + 1e-6)
    for k, rel in enumerate(paths):
        image = load_rgb(tmp_path / "set" / rel)
        assert np.abs(image.astype(float) - faces.images[order[k]]).mean() < 3.5  # JPEG 95 of per-pixel noise
        left, top, right, bottom = boxes[k]
        assert 0 <= left < right <= 63 and 0 <= top < bottom <= 63
        assert np.all((landmarks[k] >= [left, top]) & (landmarks[k] <= [right, bottom]))
    assert sorted(os.listdir(tmp_path)) == ["set"]  # no temporary folder left beside it


def test_write_face_folder_refuses_bad_input_and_existing_folders(tmp_path):
    faces = generate_faces(2, 1, image_size=48, noisy_fraction=0.0, seed=1)
    args = (faces.images, faces.landmarks, faces.labels)
    with pytest.raises(ValueError, match=r"landmarks: expected shape \(2, 5, 2\)"):
        write_face_folder(tmp_path / "a", faces.images, faces.landmarks[:, :4], faces.labels)
    with pytest.raises(ValueError, match="share the folder name 'same'"):
        write_face_folder(tmp_path / "a", *args, names=["same", "same"])
    with pytest.raises(ValueError, match=r"names\[1\]: 'a/b' contains"):
        write_face_folder(tmp_path / "a", *args, names=["ok", "a/b"])
    with pytest.raises(ValueError, match=r"no folder name for label\(s\) \[1\]"):
        write_face_folder(tmp_path / "a", *args, names={0: "only"})
    with pytest.raises(ValueError, match="labels: expected non-negative integer"):
        write_face_folder(tmp_path / "a", faces.images, faces.landmarks, np.array([0, -1]))
    assert not (tmp_path / "a").exists()
    write_face_folder(tmp_path / "a", *args, names={0: "P", 1: "Q"})
    with pytest.raises(FileExistsError, match=r"/a: already exists and is not an empty folder"):
        write_face_folder(tmp_path / "a", *args)
    write_face_folder(tmp_path / "a", *args, overwrite=True)
    assert sorted(os.listdir(tmp_path / "a")) == ["id00000", "id00001", "landmarks5.csv"]
    assert sorted(os.listdir(tmp_path)) == ["a"]


LFW_PEOPLE = ("AJ_Cook", "Aaron_Peirsol", "Abdoulaye_Wade")  # 1 + 4 + 4 images; Abdoulaye_Wade_0003 is det=fixed


def test_real_lfw_subset_in_place(tmp_path):
    lfw = lfw_dir()
    images, csv_path = lfw / "lfw-deepfunneled", lfw / "dlib" / "landmarks5.csv"
    if not images.is_dir() or not csv_path.is_file():
        pytest.skip(f"real LFW data not found at {lfw} (expected lfw-deepfunneled/ and dlib/landmarks5.csv)")
    manual = tmp_path / "manual"
    (manual / "faces").mkdir(parents=True)
    for name in LFW_PEOPLE:  # symbolic links: nothing of ../shared/data is copied
        os.symlink(images / name, manual / "faces" / name, target_is_directory=True)
    # the full dlib CSV, read in place: row ids are the rows of dlib/descriptors.npy; the other rows are ignored
    builder = _build(tmp_path / "data", manual, images_subdir="faces", landmarks_csv=csv_path)
    paths, landmarks, det = read_landmarks_csv(csv_path)
    expected = sorted(p for p in paths if p.split("/")[0] in LFW_PEOPLE)
    examples = _examples(builder)
    assert sorted(e["file_name"].decode() for e in examples) == expected and len(expected) == 9
    assert builder.info.metadata["identities"] == sorted(LFW_PEOPLE)
    assert builder.info.metadata["unused_csv_rows"] == len(paths) - 9
    index_file = lfw / "dlib" / "descriptors_index.txt"
    index = index_file.read_text().splitlines() if index_file.is_file() else paths
    for e in examples:
        rel = e["file_name"].decode()
        assert paths[int(e["row_id"])] == rel == index[int(e["row_id"])]
        assert int(e["label"]) == sorted(LFW_PEOPLE).index(rel.split("/")[0])
    assert "fixed" in {det[int(e["row_id"])] for e in examples}
    e = next(x for x in examples if x["file_name"].decode() == "Aaron_Peirsol/Aaron_Peirsol_0002.jpg")
    lm = landmarks[int(e["row_id"])].astype(np.float64)
    source = decode_rgb((images / "Aaron_Peirsol" / "Aaron_Peirsol_0002.jpg").read_bytes(), "lfw")
    assert degrade.render_factor(lm, 150) == 1  # LFW faces are smaller than the chip: render_chip is align_face
    np.testing.assert_array_equal(degrade.render_chip(source, lm, 150), align_face(source, lm, 150))
    assert np.abs(e["image"].astype(float) - align_face(source, lm, 150, 0.25)).mean() < 3
    np.testing.assert_allclose(e["landmarks"], transform_points(lm, alignment_matrix(lm, 150)), atol=1e-4)
