"""skd_tf.serving.sidecars: where a sidecar lies, an artifact's size and sha256, and what the sidecar says about each
artifact of the exported fixture (tests/serving/conftest.py)."""
import hashlib
import json

from skd_tf.serving import PARITY_BOUNDS, artifact_sha256, artifact_size_bytes, sidecar_path


def test_sidecar_path(tmp_path):
    assert sidecar_path("saved_model", tmp_path / "saved_model") == tmp_path / "saved_model.json"
    assert sidecar_path("int8", tmp_path / "s_int8.tflite") == tmp_path / "s_int8.tflite.json"


def test_size_and_sha256_of_a_file_and_a_folder(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    assert artifact_size_bytes(f) == 3 and artifact_sha256(f) == hashlib.sha256(b"abc").hexdigest()
    d = tmp_path / "folder"
    (d / "sub").mkdir(parents=True)
    (d / "x").write_bytes(b"12")
    (d / "sub" / "y").write_bytes(b"345")
    assert artifact_size_bytes(d) == 5
    assert artifact_sha256(d) == hashlib.sha256(b"sub/y345x12").hexdigest()  # relative paths and bytes, sorted
    (d / "sub" / "y").rename(d / "sub" / "z")
    assert artifact_sha256(d) != hashlib.sha256(b"sub/y345x12").hexdigest()  # a renamed file changes it


def test_sidecar_records_size_sha256_parity_and_signatures(exported):
    for kind, path in exported["paths"].items():
        side = json.loads(sidecar_path(kind, path).read_text())
        assert side["file"] == path.name
        assert side["size_bytes"] == artifact_size_bytes(path) and side["sha256"] == artifact_sha256(path)
        assert side["parity_bounds"] == PARITY_BOUNDS[kind]
        assert side["parity_vs_keras"]["embedding"]["n_faces"] > 0
        assert set(side["signatures"]) == ({"serving_default", "serving_bytes"} if kind == "saved_model"
                                           else {"serving_default"})
        assert side["outputs"]["embedding"]["dim"] == 128
