"""Feature extraction and unusable faces: a truncated JPEG or a landmark far outside its image fails naming the file
(before anything is written when it can be seen without decoding) or, with on_corrupt='skip', is left out of the
cache and recorded in its manifest; downstream readers and the row-id join see the gap."""
import cv2
import numpy as np
import pytest

from skd_tf.data.images import CorruptFaceError
from skd_tf.data.synthetic import generate_faces
from skd_tf.features import cache as C
from skd_tf.features.extract import AlignedArraySource, LfwFolderSource, extract_to_cache

SIZE, N = 24, 7
MANIFEST = {"teacher": "mean", "layer": "rgb"}
FACES = generate_faces(N, 1, image_size=64, noisy_fraction=0.0, seed=4)


def mean_rgb(batch):  # a stand-in teacher: any callable [B, H, W, 3] -> [B, D] works
    x = np.asarray(batch, np.float32)
    return np.concatenate([x.mean(axis=(1, 2)), x[:, ::4, ::4].reshape(len(x), -1)[:, :5]], axis=1)


def _lfw_folder(root):
    """An LFW-layout folder (`P<k>/P<k>_0001.jpg`, cv2 JPEGs) of N synthetic faces and its landmarks CSV."""
    rows = ["path,det,x0,y0,x1,y1,x2,y2,x3,y3,x4,y4"]
    for k in range(N):
        (root / f"P{k}").mkdir(parents=True)
        assert cv2.imwrite(str(root / f"P{k}" / f"P{k}_0001.jpg"), cv2.cvtColor(FACES.images[k], cv2.COLOR_RGB2BGR))
        rows.append(f"P{k}/P{k}_0001.jpg,hog," + ",".join(f"{v:.2f}" for v in FACES.landmarks[k].reshape(-1)))
    csv_path = root / "landmarks5.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    return csv_path


def _break(root, csv_path):
    """Truncates the JPEG of row 3 and moves a landmark of row 5 far outside its image."""
    jpg = root / "P3" / "P3_0001.jpg"
    jpg.write_bytes(jpg.read_bytes()[: jpg.stat().st_size // 2])
    lines = csv_path.read_text().splitlines()
    f = lines[6].split(",")
    f[2] = "900"  # x0 of row 5 (line 7)
    lines[6] = ",".join(f)
    csv_path.write_text("\n".join(lines) + "\n")
    return jpg


def _run(source, out, **kw):
    return extract_to_cache(mean_rgb, source, out, manifest=MANIFEST, shard_size=3, batch_size=2, progress=False,
                            **kw)


@pytest.fixture()
def folders(tmp_path):
    good = tmp_path / "good"
    bad = tmp_path / "bad"
    csv_good, csv_bad = _lfw_folder(good), _lfw_folder(bad)
    jpg = _break(bad, csv_bad)
    return good, csv_good, bad, csv_bad, jpg


def test_unusable_faces_fail_before_anything_is_written(folders, tmp_path):
    _, _, bad, csv_bad, jpg = folders
    out = tmp_path / "cache"
    with pytest.raises(CorruptFaceError) as err:
        _run(LfwFolderSource(bad, csv_bad, SIZE), out)
    msg = str(err.value)
    assert msg.startswith(f"{jpg}: corrupt or unreadable image: truncated JPEG (no end-of-image marker)")
    assert f"(named in {csv_bad} line 5, data row 3)" in msg and "2 unusable face(s) in all" in msg
    assert "on_corrupt='skip' (--on_corrupt=skip)" in msg
    assert not out.exists()  # refused before the cache directory was made


def test_skip_leaves_unusable_faces_out_and_records_them(folders, tmp_path):
    good, csv_good, bad, csv_bad, jpg = folders
    reference = tmp_path / "reference"
    _run(LfwFolderSource(good, csv_good, SIZE), reference)
    want, _ = C.load_features(reference)
    out = tmp_path / "cache"
    stats = _run(LfwFolderSource(bad, csv_bad, SIZE), out, on_corrupt="skip")
    assert (stats["count"], stats["skipped_faces"], stats["faces_computed"]) == (N, 2, N - 2)
    manifest = C.load_manifest(out)
    assert manifest["complete"] and manifest["count"] == N
    assert [(s["row_id"], s["position"]) for s in manifest["skipped"]] == [(3, 3), (5, 5)]
    assert manifest["skipped"][0]["reason"].startswith(f"{jpg}: corrupt or unreadable image: truncated JPEG")
    assert manifest["skipped"][1]["reason"].startswith(f"{bad / 'P5/P5_0001.jpg'} ({csv_bad} line 7, data row 5): "
                                                       "landmark 0 at (x=900.00")
    assert [s["rows"] for s in manifest["shards"]] == [3, 1, 1]
    feats, ids = C.load_features(out)
    keep = [0, 1, 2, 4, 6]
    np.testing.assert_array_equal(ids, keep)
    np.testing.assert_array_equal(feats, want[keep])  # the other faces' features are untouched
    feats_mm, _ = C.load_features(out, mmap=True)
    np.testing.assert_array_equal(feats_mm, feats)
    # a rerun finds the cache complete; a 'fail' rerun refuses the gaps instead of passing them on
    again = _run(LfwFolderSource(bad, csv_bad, SIZE), out, on_corrupt="skip")
    assert (again["computed_shards"], again["skipped_shards"], again["skipped_faces"]) == (0, 3, 2)
    assert C.load_manifest(out) == manifest
    with pytest.raises(CorruptFaceError):  # refused up front: the source still holds the unusable faces
        _run(LfwFolderSource(bad, csv_bad, SIZE), out)
    # a training table that still lists a skipped face is refused by the join, naming its row id
    from skd_tf.data.pipeline import SourceTable

    with pytest.raises(ValueError, match=r"no feature for 2 row id\(s\): 3, 5"):
        SourceTable.join(np.arange(N), np.arange(N), features=out)
    table = SourceTable.join(keep, np.arange(5), features=out)
    np.testing.assert_array_equal(table.features, want[keep])


class _DecodeOnly(LfwFolderSource):
    """A source whose problems show only when the images are decoded (no precheck)."""

    def precheck(self):
        return {}


def test_faces_unusable_only_when_decoded_and_resume_after_a_kill(folders, tmp_path):
    _, _, bad, csv_bad, jpg = folders
    with pytest.raises(CorruptFaceError) as err:
        _run(_DecodeOnly(bad, csv_bad, SIZE), tmp_path / "fail")
    assert str(err.value).startswith(f"{jpg}: corrupt or unreadable image: truncated JPEG")
    assert "(source position 3, row id 3)" in str(err.value)
    assert not (tmp_path / "fail" / C.shard_name(1)).exists()  # shard 0 was fine, shard 1 never written
    reference = tmp_path / "reference"
    _run(_DecodeOnly(bad, csv_bad, SIZE), reference, on_corrupt="skip")

    class Killed(Exception):
        pass

    def kill_after(k):
        if k == 1:
            raise Killed

    out = tmp_path / "cache"
    with pytest.raises(Killed):
        _run(_DecodeOnly(bad, csv_bad, SIZE), out, on_corrupt="skip", on_shard_done=kill_after)
    partial = C.load_manifest(out)
    assert not partial["complete"] and [s["row_id"] for s in partial["skipped"]] == [3, 5]  # both in shard 1
    with pytest.raises(CorruptFaceError, match=r"shard-00001.npz: an earlier run with on_corrupt='skip' left 2 "
                                               r"unusable face\(s\) out of shard 1"):
        _run(_DecodeOnly(bad, csv_bad, SIZE), out)
    # as if killed after the manifest listed shard 1's skipped faces but before the shard was written
    (out / C.shard_name(1)).unlink()
    stats = _run(_DecodeOnly(bad, csv_bad, SIZE), out, on_corrupt="skip")
    assert (stats["computed_shards"], stats["skipped_shards"], stats["skipped_faces"]) == (2, 1, 2)
    for name in ["manifest.json"] + [C.shard_name(k) for k in range(3)]:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_aligned_array_source_landmark_outside_the_image(tmp_path):
    landmarks = FACES.landmarks.copy()
    landmarks[2, 4] = [30.0, -200.0]
    source = AlignedArraySource(FACES.images, landmarks, SIZE, description={"path": "faces.npz"})
    with pytest.raises(CorruptFaceError, match=r"faces.npz: face 2 \(row id 2\): landmark 4 at \(x=30.00, "
                                               r"y=-200.00\) lies outside the 64x64 image"):
        _run(source, tmp_path / "a")
    assert not (tmp_path / "a").exists()
    stats = _run(source, tmp_path / "b", on_corrupt="skip")
    assert stats["skipped_faces"] == 1
    np.testing.assert_array_equal(C.load_features(tmp_path / "b")[1], [0, 1, 3, 4, 5, 6])


def test_bad_settings_are_refused(folders, tmp_path):
    good, csv_good, _, _, _ = folders
    source = LfwFolderSource(good, csv_good, SIZE)
    with pytest.raises(ValueError, match="on_corrupt='ignore'"):
        _run(source, tmp_path / "x", on_corrupt="ignore")
    for limit in (0, -1, 1.5):
        with pytest.raises(ValueError, match=rf"limit: expected a positive number of faces \(>= 1\), got {limit}"):
            LfwFolderSource(good, csv_good, SIZE, limit=limit)
    assert len(LfwFolderSource(good, csv_good, SIZE, limit=N + 5)) == N
    with pytest.raises(ValueError, match="margin=-0.1"):
        LfwFolderSource(good, csv_good, SIZE, margin=-0.1)
    assert not (tmp_path / "x").exists()
