"""skd_tf.serving.export: `export_student` writes every kind with its sidecar and a manifest, from a model or a
checkpoint, and refuses bad arguments before writing (the exported fixture: tests/serving/conftest.py)."""
import json
import zipfile

import numpy as np
import pytest

from skd_tf.serving import KINDS, export_student, read_tflite_metadata, run_tflite


def test_every_kind_is_written_with_sidecar(exported):
    paths = exported["paths"]
    assert set(paths) == set(KINDS)
    for kind, path in paths.items():
        assert path.exists()
        side_path = path.parent / ("saved_model.json" if kind == "saved_model" else f"{path.name}.json")
        side = json.loads(side_path.read_text())
        assert side["kind"] == kind
        assert side["input"]["size"] == [exported["p"]] * 2
        assert side["input"]["colour_order"] == "RGB" and side["input"]["value_range"] == [0, 255]
        assert set(side["outputs"]) == {"embedding", "mimic"}
        assert side["teacher"] == "dlib_resnet" and "training_data" in side and "metrics" in side
        assert side["size_bytes"] > 0 and len(side["sha256"]) == 64
        if kind != "saved_model":
            embedded = read_tflite_metadata(path)
            assert embedded["kind"] == kind and embedded["input"] == side["input"]
    manifest = json.loads((exported["out"] / "manifest.json").read_text())
    assert set(manifest["artifacts"]) == set(KINDS)


def test_checkpoint_inputs_keras_file_and_weights(exported, tmp_path):
    if exported["p"] != 16:
        pytest.skip("checkpoint formats are resolution independent; checked at 16 px")
    model, test = exported["model"], exported["test"][:8]
    keras_path = tmp_path / "student.keras"
    model.save(keras_path)
    weights = tmp_path / "ckpt" / "student.weights.h5"
    weights.parent.mkdir()
    model.save_weights(weights)
    (weights.parent / "config.json").write_text(json.dumps(
        {"student": {"resolution": 16, "feature_dim": 128, "num_classes": int(model.output["logits"].shape[-1])}}))
    for src in (keras_path, weights):
        paths = export_student(src, tmp_path / src.name.replace(".", "_"), resolution=16,
                               representative_images=None, metadata={}, kinds=("float32",))
        got = run_tflite(paths["float32"], test)["embedding"]
        assert np.abs(got - exported["ref"]["embedding"][:8]).max() <= 1e-4, src


def test_export_rejects_bad_arguments(exported, tmp_path):
    model, p = exported["model"], exported["p"]
    with pytest.raises(ValueError, match="resolution"):
        export_student(model, tmp_path, resolution=p * 2, representative_images=None, kinds=("float32",))
    with pytest.raises(ValueError, match="representative_images"):
        export_student(model, tmp_path, resolution=p, representative_images=None, kinds=("int8",))
    with pytest.raises(ValueError, match="kinds"):
        export_student(model, tmp_path, resolution=p, representative_images=None, kinds=("onnx",))
    with pytest.raises(ValueError, match="representative_images"):
        export_student(model, tmp_path, resolution=p, representative_images=np.zeros((3, p, p, 1), np.uint8),
                       kinds=("int8",))
    with pytest.raises(FileNotFoundError):
        export_student(tmp_path / "missing.keras", tmp_path, resolution=p, representative_images=None)
    bad = tmp_path / "x.weights.h5"
    bad.write_bytes(b"")
    (tmp_path / "config.json").write_text(json.dumps({"resolution": p}))
    with pytest.raises(ValueError, match="feature_dim"):
        export_student(bad, tmp_path / "o", resolution=p, representative_images=None)
    assert not zipfile.is_zipfile(bad)
