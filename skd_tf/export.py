"""Deployable artifacts of a trained student (Section IV-F: the student is what runs "in the wild").

`export_student` writes, from a Keras student (`skd_tf.models.student.build_student`) or its checkpoint:

* `saved_model/` - a TF SavedModel with two signatures, so a caller needs nothing but TensorFlow:
    - `serving_default(images: uint8 [B, p, p, 3] RGB)` -> `{"embedding": [B, 128] float32 (L2-normalised identity
      layer), "mimic": [B, D] float32 (mimic-layer feature, unnormalised)}`;
    - `serving_bytes(image_bytes: string [B])` - encoded PNG/JPEG/BMP/GIF face crops, decoded to RGB inside the graph
      (resized with antialiased bilinear interpolation to p x p when they are not p x p already) -> the same outputs.
  Preprocessing (uint8 -> float 0..255 -> the student's in-graph `x / 127.5 - 1`) lives inside the graph.
* TFLite models with the same `serving_default` signature (uint8 input, float32 `embedding` / `mimic` outputs):
    - `float32`: plain conversion;
    - `float16`: weights stored as float16 (dequantised at load time);
    - `dynamic_int8`: int8 weights, activations quantised on the fly (no calibration data);
    - `int8`: full integer quantisation (int8 weights and activations, calibrated on `representative_images`, which
      should be training faces at p px). The uint8 input is cast in-graph; the outputs are dequantised to float32,
      so every artifact returns float embeddings (never a quantised softmax: the `logits` head is not exported).
* a JSON sidecar beside each artifact (`<artifact>.json`): input size, colour order, value range, alignment, output
  names and meaning, teacher, training data, metrics, the artifact's measured parity with the Keras model, its size
  and sha256. The same JSON is also embedded in each .tflite file as a flatbuffer metadata entry named
  `skd_tf.sidecar` (see `read_tflite_metadata`); the TFLite-Support metadata schema needs the unmaintained
  `tflite-support` package, which does not install beside TF 2.21.

Outputs are always looked up by signature and output name (`run_tflite`, `load_saved_model_signature`), never by
tensor order.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from skd_tf.utils.io import atomic_dir, dumps_json, read_npy, read_npz, write_bytes, write_json

KINDS = ("saved_model", "float32", "float16", "dynamic_int8", "int8")
TFLITE_KINDS = ("float32", "float16", "dynamic_int8", "int8")
SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"
INPUT_NAME = "images"
BYTES_INPUT_NAME = "image_bytes"
OUTPUT_NAMES = ("embedding", "mimic")
TFLITE_METADATA_NAME = "skd_tf.sidecar"

OUTPUT_MEANING = {
    "embedding": ("L2-normalised output of the student's identity layer (Section III-B); compare faces by the dot "
                  "product (= cosine similarity) of two embeddings."),
    "mimic": ("Output of the student's 1x1xD mimic layer, which regresses the teacher's feature (Eq. 4-6); not "
              "normalised. L2-normalise it before comparing faces with it."),
}

# Parity bounds the tests hold each kind to (cosine of the embedding against the Keras model; float32 by max abs
# difference instead). Recorded in the sidecar so a caller knows what to expect.
PARITY_BOUNDS = {
    "saved_model": {"max_abs_diff": 1e-5},
    "float32": {"max_abs_diff": 1e-4},
    "float16": {"min_cosine": 0.999},
    "dynamic_int8": {"min_cosine": 0.99},
    # Full int8 of a briefly trained student: worst LFW face 0.986-0.993, mean 0.997 (tests/test_export.py).
    "int8": {"mean_cosine": 0.99, "p10_cosine": 0.99, "min_cosine": 0.98},
}

_TFLITE_DESCRIPTION = {
    "float32": "float32 weights and activations",
    "float16": "float16 weights (dequantised to float32 at load), float32 activations",
    "dynamic_int8": "int8 weights, dynamic-range quantised activations (no calibration data)",
    "int8": ("full integer quantisation: int8 weights and activations calibrated on training faces; uint8 input "
             "cast in-graph; float32 (dequantised) outputs"),
}


# ----------------------------------------------------------------------------------------------------------------
# Loading a student
# ----------------------------------------------------------------------------------------------------------------

_BUILD_KEYS = ("resolution", "feature_dim", "num_classes", "identity_dim", "identity_activation")


def _find_keys(obj: Any, keys: Sequence[str], found: dict | None = None) -> dict:
    """Collects the first occurrence of each of `keys` in a nested dict/list (depth-first, top level first)."""
    found = {} if found is None else found
    if isinstance(obj, Mapping):
        for k in keys:
            if k in obj and k not in found and obj[k] is not None and not isinstance(obj[k], (Mapping, list)):
                found[k] = obj[k]
        for v in obj.values():
            if isinstance(v, (Mapping, list)):
                _find_keys(v, keys, found)
    elif isinstance(obj, list):
        for v in obj:
            _find_keys(v, keys, found)
    return found


def _read_json_record(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{what} {path} is not valid JSON: {e}") from None


def run_records(checkpoint: str | os.PathLike) -> list[Path]:
    """The files in which the training run recorded how the `.weights.h5` at `checkpoint` was made (the weights
    themselves do not record the resolution: no weight shape depends on p). For `model_dir/student.weights.h5` (or any
    checkpoint beside a training `config.json`): that `config.json` and every `model_dir/stage*/stage.json`; for a
    stage checkpoint `model_dir/stage*/*.weights.h5`: the stage's `stage.json` and `model_dir/config.json`."""
    path = Path(checkpoint)
    folder = path.parent
    records = []
    if (folder / "stage.json").is_file():
        records.append(folder / "stage.json")
        if (folder.parent / "config.json").is_file():
            records.append(folder.parent / "config.json")
    elif (folder / "config.json").is_file():
        records.append(folder / "config.json")
        records.extend(sorted(folder.glob("stage*/stage.json")))
    return records


def _resolution_of(value: Any, where: str) -> int:
    try:
        res = int(value)
    except (TypeError, ValueError):
        res = 0
    if res < 1 or res != value:
        raise ValueError(f"{where}: field 'resolution': expected a positive int (the student's input side p), got "
                         f"{value!r}")
    return res


def load_student(model_or_checkpoint: Any, *, config: str | os.PathLike | Mapping | None = None,
                 resolution: int | None = None):
    """Returns a Keras student from a `keras.Model`, a `.keras` file, or a `.weights.h5` file plus its config.

    For `.weights.h5`, `config` is the resolved config JSON the training module writes (a path or a dict) holding
    `resolution`, `feature_dim`, `num_classes` (and optionally `identity_dim`, `identity_activation`) at any nesting
    depth (null values are skipped, so `skd_tf.training`'s config.json with its "resolved" block works); when
    `config` is None, `config.json` / `resolved_config.json` / `<stem>.json` beside the weights, or `config.json` one
    folder up (a stage checkpoint of a training run), is used.

    A `.weights.h5` does not record the resolution it was trained at (no weight shape depends on p, so the weights
    load into a network of any p): it is taken from the config and cross-checked against the checkpoint's own run
    record (`run_records`: the training run's config.json and stage.json files). A config or records that disagree,
    or an explicit `resolution` that differs from the student's, raise `ValueError` naming both values and files.
    """
    import keras

    if resolution is not None:
        resolution = _resolution_of(resolution, "resolution")
    if isinstance(model_or_checkpoint, keras.Model):
        return _check_resolution(model_or_checkpoint, resolution, f"model '{model_or_checkpoint.name}'")
    path = Path(model_or_checkpoint)
    if not path.exists():
        raise FileNotFoundError(f"student checkpoint {path} does not exist (expected a .keras or .weights.h5 file)")
    name = path.name
    if name.endswith(".keras"):
        return _check_resolution(load_keras_file(path), resolution, str(path))
    if name.endswith(".weights.h5"):
        if config is None:
            stem = name[: -len(".weights.h5")]
            candidates = [path.with_name(n) for n in ("config.json", "resolved_config.json", f"{stem}.json")]
            candidates.append(path.parent.parent / "config.json")  # a stage's checkpoint (model_dir/stage*/)
            found = [c for c in candidates if c.is_file()]
            if not found:
                raise FileNotFoundError(
                    f"{path}: no config given and none of {[str(c) for c in candidates]} exists; pass config=")
            config = found[0]
        if isinstance(config, Mapping):
            cfg, cfg_name, cfg_path = dict(config), "config dict", None
        else:
            cfg_name, cfg_path = str(config), Path(config)
            cfg = _read_json_record(cfg_path, "student config")
        kw = _find_keys(cfg, _BUILD_KEYS)
        for required in ("resolution", "feature_dim", "num_classes"):
            if required not in kw:
                raise ValueError(f"{cfg_name}: field '{required}' (int) is required to rebuild the student for {path}")
        res = _resolution_of(kw["resolution"], cfg_name)
        for record in run_records(path):
            if cfg_path is not None and record.resolve() == cfg_path.resolve():
                continue
            rec = _find_keys(_read_json_record(record, "run record"), ("resolution",)).get("resolution")
            if rec is not None and _resolution_of(rec, str(record)) != res:
                raise ValueError(
                    f"{path}: {cfg_name} says resolution {res} but the checkpoint's run record {record} says "
                    f"resolution {rec}; the weights do not record the resolution (no weight shape depends on it), "
                    f"so a {res} px network would be built around weights trained at {rec} px. Pass the run's own "
                    f"config (or none, to use the one beside the checkpoint)")
        if resolution is not None and resolution != res:
            raise ValueError(
                f"{path}: asked for resolution {resolution} but {cfg_name} (the checkpoint's run record) says "
                f"resolution {res}; the weights do not record the resolution (no weight shape depends on it), so a "
                f"{resolution} px network would be built around weights trained at {res} px. Export at resolution "
                f"{res}, or give the checkpoint of a {resolution} px student")
        from skd_tf.models.student import build_student

        check_weights_file(path)
        model = build_student(res, feature_dim=int(kw["feature_dim"]),
                              num_classes=int(kw["num_classes"]), identity_dim=int(kw.get("identity_dim", 128)),
                              identity_activation=kw.get("identity_activation"))
        try:
            model.load_weights(path)
        except (OSError, KeyError, EOFError, RuntimeError) as e:
            raise ValueError(f"student checkpoint {path}: corrupt .weights.h5 file (truncated or damaged HDF5: "
                             f"{type(e).__name__}: {e})") from None
        except ValueError as e:
            raise ValueError(f"student checkpoint {path}: its weights do not fit the student {cfg_name} describes "
                             f"(resolution {res}, feature_dim {kw['feature_dim']}, num_classes {kw['num_classes']}): "
                             f"{e}") from None
        return model
    raise ValueError(f"student checkpoint {path}: expected a keras.Model, a '.keras' file or a '.weights.h5' file")


def load_keras_file(path: str | os.PathLike):
    """A Keras model from a `.keras` archive (not compiled). Keras reports a truncated or damaged archive as "File not
    found"; here it is a `ValueError` that says the file is corrupt and names it (a missing file: FileNotFoundError).
    The archive is checked first (zip directory, member CRCs, `config.json`), so nothing is built from a bad file."""
    import zipfile
    import zlib

    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"student checkpoint {path} does not exist (expected a .keras file)")
    try:
        with zipfile.ZipFile(path) as zf:
            bad, names = zf.testzip(), set(zf.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, ValueError, KeyError) as e:
        raise ValueError(f"student checkpoint {path}: corrupt .keras file (not a readable zip archive, truncated or "
                         f"damaged: {e}); re-save the model or load the run's .weights.h5 with its config") from None
    if bad is not None:
        raise ValueError(f"student checkpoint {path}: corrupt .keras file (member {bad} fails its CRC check); re-save "
                         f"the model or load the run's .weights.h5 with its config")
    if "config.json" not in names:
        raise ValueError(f"student checkpoint {path}: not a Keras v3 .keras archive (no config.json among its members "
                         f"{sorted(names)[:5]})")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - Keras raises many kinds for a bad archive
        raise ValueError(f"student checkpoint {path}: corrupt or unreadable .keras file ({type(e).__name__}: "
                         f"{e})") from None


def check_weights_file(path: str | os.PathLike, what: str = "student checkpoint") -> None:
    """Refuses a missing, truncated or damaged `.weights.h5` (HDF5) naming it (and `what` it is), before a network is
    built for it."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            f.keys()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist (expected a .weights.h5 file)") from None
    except (OSError, KeyError, EOFError, RuntimeError, ValueError) as e:
        raise ValueError(f"{what} {path}: corrupt .weights.h5 file (truncated or damaged HDF5: {e})") from None


def _check_resolution(model, resolution: int | None, what: str):
    """Refuses an explicit `resolution` other than the model's input side; returns the model."""
    shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else ()
    if resolution is not None and len(shape) == 4 and shape[1] != resolution:
        raise ValueError(f"{what}: asked for resolution {resolution} but the model's input is {shape[1]}x{shape[2]} "
                         f"px (input shape {shape}); export it at resolution {shape[1]}")
    return model


def _check_student(model, resolution: int) -> None:
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[1] != resolution or shape[2] != resolution or shape[3] != 3:
        raise ValueError(f"model '{model.name}': input shape {shape} does not match resolution={resolution} "
                         f"(expected (None, {resolution}, {resolution}, 3))")
    outs = model.output
    if not isinstance(outs, Mapping) or not {"identity", "mimic"} <= set(outs):
        raise ValueError(f"model '{model.name}': expected dict outputs with 'identity' and 'mimic' (the student of "
                         f"skd_tf.models.student), got {type(outs).__name__}")


def as_uint8_images(images: Any, resolution: int, what: str = "images") -> np.ndarray:
    """Validates `images` as RGB `[N, p, p, 3]` (uint8, or float in 0..255, which is rounded) and returns uint8."""
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[1:] != (resolution, resolution, 3) or arr.shape[0] == 0:
        raise ValueError(f"{what}: expected a non-empty RGB array [N, {resolution}, {resolution}, 3], got shape "
                         f"{arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{what}: expected uint8 or float RGB values in 0..255, got dtype {arr.dtype}")
    if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 255 or not np.isfinite(arr).all()):
        raise ValueError(f"{what}: values must be finite and in 0..255, got range [{np.nanmin(arr)}, {np.nanmax(arr)}]")
    return np.round(arr).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------------
# Serving functions and the SavedModel
# ----------------------------------------------------------------------------------------------------------------

def serving_outputs(model, images_uint8):
    """The exported computation: uint8 RGB -> {"embedding": L2-normalised identity, "mimic": mimic feature}."""
    import tensorflow as tf

    out = model(tf.cast(images_uint8, tf.float32), training=False)
    return {"embedding": tf.math.l2_normalize(tf.cast(out["identity"], tf.float32), axis=-1),
            "mimic": tf.cast(out["mimic"], tf.float32)}


def _decode_to_uint8(image_bytes, resolution: int):
    import tensorflow as tf

    def decode(b):
        img = tf.io.decode_image(b, channels=3, dtype=tf.uint8, expand_animations=False)
        img.set_shape([None, None, 3])
        shape = tf.shape(img)

        def resize():
            r = tf.image.resize(img, [resolution, resolution], method="bilinear", antialias=True)
            return tf.cast(tf.clip_by_value(tf.round(r), 0.0, 255.0), tf.uint8)

        same = tf.logical_and(tf.equal(shape[0], resolution), tf.equal(shape[1], resolution))
        return tf.cond(same, lambda: tf.reshape(img, [resolution, resolution, 3]), resize)

    return tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec([resolution, resolution, 3], tf.uint8))


def _write_saved_model(model, path: Path, resolution: int, *, with_bytes: bool) -> None:
    """Writes a SavedModel through Keras' `ExportArchive` (the machinery behind `model.export()`), atomically."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SIGNATURE, lambda images: serving_outputs(model, images),
                         input_signature=[tf.TensorSpec([None, resolution, resolution, 3], tf.uint8,
                                                        name=INPUT_NAME)])
    if with_bytes:
        archive.add_endpoint(BYTES_SIGNATURE,
                             lambda image_bytes: serving_outputs(model, _decode_to_uint8(image_bytes, resolution)),
                             input_signature=[tf.TensorSpec([None], tf.string, name=BYTES_INPUT_NAME)])
    with _atomic_dir(path) as tmp:
        archive.write_out(str(tmp), verbose=False)


def _atomic_dir(path: Path):
    """Yields a temporary folder beside `path`; on success it replaces `path` (a folder), on error it is removed
    (`skd_tf.utils.io.atomic_dir`: the folder gets the mode mkdir() would give it under the umask)."""
    return atomic_dir(path)


def load_saved_model_signature(path: str | os.PathLike, signature: str = SIGNATURE) -> Callable[..., dict]:
    """Loads an exported SavedModel and returns `fn(**inputs) -> {output name: np.ndarray}` for `signature`."""
    import tensorflow as tf

    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(f"{path}: not a SavedModel folder (no saved_model.pb)")
    loaded = tf.saved_model.load(str(path))
    if signature not in loaded.signatures:
        raise ValueError(f"{path}: no signature '{signature}' (has {sorted(loaded.signatures)})")
    fn = loaded.signatures[signature]

    def call(**inputs):
        out = fn(**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in out.items()}

    call.loaded = loaded  # keeps the trackable objects alive
    return call


# ----------------------------------------------------------------------------------------------------------------
# TFLite
# ----------------------------------------------------------------------------------------------------------------

def convert_tflite(saved_model_dir: str | os.PathLike, kind: str,
                   representative_images: np.ndarray | None = None) -> bytes:
    """Converts the `serving_default` signature of an exported SavedModel to TFLite of `kind` (see module doc)."""
    import tensorflow as tf

    if kind not in TFLITE_KINDS:
        raise ValueError(f"kind: expected one of {TFLITE_KINDS}, got {kind!r}")
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[SIGNATURE])
    if kind != "float32":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if kind == "int8":
        if representative_images is None or len(representative_images) == 0:
            raise ValueError("representative_images: full int8 quantisation needs training faces, got none")
        reps = np.asarray(representative_images)

        def dataset():
            for i in range(len(reps)):
                yield {INPUT_NAME: reps[i:i + 1]}

        conv.representative_dataset = dataset
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # Outputs stay float32 (dequantised): callers compare embeddings, never quantised values.
        conv.inference_output_type = tf.float32
    return conv.convert()


def embed_tflite_metadata(model_bytes: bytes, name: str, data: bytes) -> bytes:
    """Returns `model_bytes` with a flatbuffer metadata entry `name` holding `data` (replacing one of that name).

    Uses TensorFlow's own `tensorflow.lite.tools.flatbuffer_utils` (ships with TF 2.21); the entry is ignored by
    interpreters and read back with `read_tflite_metadata`.
    """
    from tensorflow.lite.python import schema_py_generated as schema_fb
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
    buf = schema_fb.BufferT()
    buf.data = np.frombuffer(data, dtype=np.uint8).copy()
    model.buffers.append(buf)
    entry = schema_fb.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if _md_name(m) != name] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _md_name(m) -> str:
    n = m.name
    return n.decode("utf-8") if isinstance(n, bytes) else str(n)


def read_tflite_metadata(path: str | os.PathLike, name: str = TFLITE_METADATA_NAME) -> dict | None:
    """Reads the JSON metadata entry `name` that `export_student` embedded in a .tflite file (None if absent)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(Path(path).read_bytes()))
    for m in model.metadata or []:
        if _md_name(m) == name:
            return json.loads(bytes(model.buffers[m.buffer].data).decode("utf-8"))
    return None


def _interpreter(path: str | os.PathLike, num_threads: int | None):
    from ai_edge_litert.interpreter import Interpreter

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TFLite model {path} does not exist")
    return Interpreter(model_path=str(path), num_threads=num_threads)


def tflite_signature_runner(path: str | os.PathLike, *, num_threads: int | None = None,
                            signature: str = SIGNATURE):
    """An ai-edge-litert signature runner for `signature` of the .tflite at `path` (call it with `images=`)."""
    interp = _interpreter(path, num_threads)
    sigs = interp.get_signature_list()
    if signature not in sigs:
        raise ValueError(f"{path}: no signature '{signature}' (has {sorted(sigs)})")
    runner = interp.get_signature_runner(signature)
    runner._skd_interpreter = interp  # keeps the interpreter alive with the runner
    return runner


def run_tflite(path: str | os.PathLike, images_uint8: np.ndarray, *, num_threads: int | None = None,
               signature: str = SIGNATURE) -> dict[str, np.ndarray]:
    """Runs an exported .tflite on uint8 RGB faces `[B, p, p, 3]`; returns `{output name: array}` by signature."""
    runner = tflite_signature_runner(path, num_threads=num_threads, signature=signature)
    details = runner.get_input_details()
    if INPUT_NAME not in details:
        raise ValueError(f"{path}: signature '{signature}' has inputs {sorted(details)}, expected '{INPUT_NAME}'")
    shape = tuple(int(s) for s in details[INPUT_NAME]["shape_signature"][1:])
    images = as_uint8_images(images_uint8, shape[0], what=f"images for {Path(path).name}")
    out = runner(**{INPUT_NAME: images})
    return {k: np.asarray(v) for k, v in out.items()}


def tflite_throughput(path: str | os.PathLike, resolution: int, batch: int, threads: int,
                      seconds: float = 2.0, *, min_iters: int = 3, warmup: int = 2, seed: int = 0) -> float:
    """Faces per second of a .tflite model at `batch` with `threads` CPU threads (random uint8 faces).

    Runs `warmup` untimed calls, then calls until `seconds` have passed and at least `min_iters` calls were made;
    returns batch * calls / elapsed (wall clock, `time.perf_counter`).
    """
    if batch < 1 or threads < 1 or resolution < 1:
        raise ValueError(f"tflite_throughput: batch, threads and resolution must be >= 1, got {batch}, {threads}, "
                         f"{resolution}")
    runner = tflite_signature_runner(path, num_threads=threads)
    x = np.random.default_rng(seed).integers(0, 256, (batch, resolution, resolution, 3), dtype=np.uint8)
    for _ in range(warmup):
        runner(**{INPUT_NAME: x})
    n, t0 = 0, time.perf_counter()
    while True:
        runner(**{INPUT_NAME: x})
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds and n >= min_iters:
            return batch * n / elapsed


# ----------------------------------------------------------------------------------------------------------------
# Parity and sidecars
# ----------------------------------------------------------------------------------------------------------------

def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two `[N, D]` arrays (float64)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(na * nb, 1e-30)


def parity(reference: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray]) -> dict:
    """Max abs difference and min / mean cosine of each output of `other` against `reference`."""
    res = {}
    for name in OUTPUT_NAMES:
        r, o = np.asarray(reference[name]), np.asarray(other[name])
        cos = cosine_rows(r, o)
        res[name] = {"max_abs_diff": float(np.abs(r - o).max()), "min_cosine": float(cos.min()),
                     "mean_cosine": float(cos.mean()), "n_faces": int(len(r))}
    return res


def keras_reference(model, images_uint8: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
    """The Keras model's `embedding` / `mimic` on uint8 faces (the reference every artifact is compared with)."""
    import tensorflow as tf

    fn = tf.function(lambda x: serving_outputs(model, x))
    outs = [fn(tf.constant(images_uint8[i:i + batch_size])) for i in range(0, len(images_uint8), batch_size)]
    return {k: np.concatenate([o[k].numpy() for o in outs]) for k in OUTPUT_NAMES}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _sidecar(kind: str, resolution: int, model, metadata: Mapping, parity_res: dict | None) -> dict:
    import keras
    import tensorflow as tf

    import skd_tf

    dims = {"embedding": int(model.output["identity"].shape[-1]), "mimic": int(model.output["mimic"].shape[-1])}
    signatures = {SIGNATURE: {"inputs": {INPUT_NAME: {"dtype": "uint8", "shape": [None, resolution, resolution, 3]}},
                              "outputs": {n: {"dtype": "float32", "shape": [None, dims[n]]} for n in OUTPUT_NAMES}}}
    if kind == "saved_model":
        signatures[BYTES_SIGNATURE] = {
            "inputs": {BYTES_INPUT_NAME: {"dtype": "string", "shape": [None],
                                          "meaning": ("encoded images (PNG/JPEG/BMP/GIF) of aligned face crops; "
                                                      f"resized to {resolution}x{resolution} in-graph if needed")}},
            "outputs": signatures[SIGNATURE]["outputs"]}
    side = {
        "format": "tf_saved_model" if kind == "saved_model" else "tflite",
        "kind": kind,
        "quantisation": None if kind == "saved_model" else _TFLITE_DESCRIPTION[kind],
        "model": "student (Ge et al., TIP 2019, Section III-B, Fig. 3)",
        "input": {
            "name": INPUT_NAME, "size": [resolution, resolution], "channels": 3, "colour_order": "RGB",
            "dtype": "uint8", "value_range": [0, 255], "layout": "NHWC",
            "alignment": ("dlib 5-point face-chip template (skd_tf.data.align.align_face, padding=0.25), "
                          f"at {resolution}x{resolution} px"),
            "preprocessing": "inside the graph (x / 127.5 - 1); pass raw RGB pixels",
        },
        "signatures": signatures,
        "outputs": {n: {"dim": dims[n], "dtype": "float32", "meaning": OUTPUT_MEANING[n]} for n in OUTPUT_NAMES},
        "parity_bounds": PARITY_BOUNDS[kind],
        "parity_vs_keras": parity_res,
        "teacher": metadata.get("teacher"),
        "training_data": metadata.get("training_data"),
        "metrics": metadata.get("metrics", {}),
        "software": {"skd_tf": skd_tf.__version__, "tensorflow": tf.__version__, "keras": keras.__version__},
        "created_unix": int(time.time()),
    }
    extra = {k: v for k, v in metadata.items() if k not in ("teacher", "training_data", "metrics")}
    if extra:
        side["extra"] = extra
    return side


def export_student(model_or_checkpoint: Any, out_dir: str | os.PathLike, *, resolution: int,
                   representative_images: np.ndarray | None, metadata: Mapping | None = None,
                   kinds: Iterable[str] = KINDS, config: str | os.PathLike | Mapping | None = None,
                   max_representative: int = 200, parity_faces: int = 64, seed: int = 0,
                   basename: str | None = None) -> dict[str, Path]:
    """Exports a student to a SavedModel and TFLite models, each with a JSON sidecar; returns `{kind: path}`.

    Args:
      model_or_checkpoint: a `keras.Model` (the student), a `.keras` file, or a `.weights.h5` file (with `config`).
      out_dir: destination folder; artifacts are `saved_model/` and `<basename>_<kind>.tflite`, sidecars
        `saved_model.json` and `<basename>_<kind>.tflite.json`, plus `manifest.json` listing them.
      resolution: p, the student's input side (checked against the model).
      representative_images: training faces, uint8 (or float 0..255) RGB `[N, p, p, 3]`, already aligned and
        degraded like the training inputs; up to `max_representative` (drawn with `seed`) calibrate the full-int8
        model, and up to `parity_faces` of them measure each artifact's parity with Keras (recorded in its sidecar).
        May be None only when "int8" is not among `kinds` (parity is then measured on random pixels).
      metadata: `teacher`, `training_data`, `metrics` and any extra keys, copied into every sidecar.
      kinds: a subset of `KINDS`. TFLite kinds are converted from the SavedModel (written to a temporary folder when
        "saved_model" itself is not requested).
      config: the training config for a `.weights.h5` checkpoint (see `load_student`).
      basename: TFLite file stem (default `student_<p>px`).

    Raises:
      ValueError: unknown kind, a model whose input is not p x p x 3, or bad representative images.
    """
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"kinds: expected a non-empty subset of {KINDS}, got {kinds}")
    resolution = int(resolution)
    metadata = dict(metadata or {})
    model = load_student(model_or_checkpoint, config=config, resolution=resolution)
    _check_student(model, resolution)
    rng = np.random.default_rng(seed)
    if representative_images is None:
        if "int8" in kinds:
            raise ValueError("representative_images: required for kind 'int8' (training faces [N, p, p, 3])")
        reps = rng.integers(0, 256, (16, resolution, resolution, 3), dtype=np.uint8)
        parity_source = "uniform random pixels (no representative images given)"
    else:
        reps = as_uint8_images(representative_images, resolution, what="representative_images")
        parity_source = "representative_images (training faces)"
    if len(reps) > max_representative:
        reps = reps[np.sort(rng.choice(len(reps), max_representative, replace=False))]
    check = reps[:parity_faces]
    reference = keras_reference(model, check)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    basename = basename or f"student_{resolution}px"
    paths: dict[str, Path] = {}
    sm_path = out_dir / "saved_model"
    with contextlib.ExitStack() as stack:
        if "saved_model" in kinds:
            _write_saved_model(model, sm_path, resolution, with_bytes=True)
            fn = load_saved_model_signature(sm_path)
            par = parity(reference, fn(**{INPUT_NAME: check}))
            par["source"] = parity_source
            side = _sidecar("saved_model", resolution, model, metadata, par)
            side.update(file=sm_path.name, size_bytes=_size_bytes(sm_path), sha256=_sha256(sm_path))
            write_json(out_dir / "saved_model.json", side)
            paths["saved_model"] = sm_path
            conv_src = sm_path
        elif any(k in TFLITE_KINDS for k in kinds):
            conv_src = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=out_dir))) / "saved_model"
            _write_saved_model(model, conv_src, resolution, with_bytes=False)
        for kind in (k for k in TFLITE_KINDS if k in kinds):
            tfl = out_dir / f"{basename}_{kind}.tflite"
            model_bytes = convert_tflite(conv_src, kind, reps if kind == "int8" else None)
            with tempfile.TemporaryDirectory(dir=out_dir) as td:
                probe = Path(td) / "probe.tflite"
                probe.write_bytes(model_bytes)
                par = parity(reference, run_tflite(probe, check))
            par["source"] = parity_source
            side = _sidecar(kind, resolution, model, metadata, par)
            if kind == "int8":
                side["calibration"] = {"n_faces": int(len(reps)), "source": parity_source, "seed": seed}
            side["file"] = tfl.name
            side["tflite_metadata_entry"] = TFLITE_METADATA_NAME
            model_bytes = embed_tflite_metadata(model_bytes, TFLITE_METADATA_NAME,
                                                dumps_json(side, indent=None).encode("utf-8"))
            write_bytes(tfl, model_bytes)
            side.update(size_bytes=_size_bytes(tfl), sha256=_sha256(tfl))
            write_json(out_dir / f"{tfl.name}.json", side)
            paths[kind] = tfl
    write_json(out_dir / "manifest.json", {
        "resolution": resolution,
        "artifacts": {k: {"path": p.name, "sidecar": ("saved_model.json" if k == "saved_model" else f"{p.name}.json")}
                      for k, p in paths.items()}})
    return paths


# ----------------------------------------------------------------------------------------------------------------
# Faces for calibration and parity checks
# ----------------------------------------------------------------------------------------------------------------

def lowres_from_chips(chips: np.ndarray, resolution: int) -> np.ndarray:
    """Student inputs from aligned teacher chips: area-averaged down-sampling to p x p (same alignment template)."""
    import cv2

    chips = np.asarray(chips)
    if chips.shape[1] == resolution:
        return chips.astype(np.uint8)
    return np.stack([cv2.resize(c, (resolution, resolution), interpolation=cv2.INTER_AREA) for c in chips])


def lfw_faces(resolution: int, n: int, *, seed: int = 0, offset: int = 0, chip_size: int = 150,
              root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`n` real LFW faces aligned by dlib's 5 points (`../shared/data/lfw/dlib/landmarks5.csv`) at p x p.

    Faces are drawn with `seed` from the landmark table after skipping `offset` of them in that random order (so two
    calls with offsets 0 and n give disjoint faces). Returns `(images uint8 [n, p, p, 3], labels int64 [n])`, labels
    being contiguous ids of the people drawn. Raises FileNotFoundError when LFW is absent.
    """
    import cv2

    from skd_tf.data.align import align_face
    from skd_tf.data.lfw import read_landmarks_csv
    from skd_tf.utils.paths import lfw_dir

    root = Path(root) if root is not None else lfw_dir()
    csv_path = root / "dlib" / "landmarks5.csv"
    images_dir = root / "lfw-deepfunneled"
    if not csv_path.is_file() or not images_dir.is_dir():
        raise FileNotFoundError(f"LFW not found: expected {csv_path} and {images_dir}")
    paths, landmarks, _ = read_landmarks_csv(csv_path)
    order = np.random.default_rng(seed).permutation(len(paths))[offset:offset + n]
    if len(order) < n:
        raise ValueError(f"{csv_path}: asked for faces {offset}..{offset + n}, the table has {len(paths)}")
    chips, names = [], []
    for i in order:
        img = cv2.imread(str(images_dir / paths[i]), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"{images_dir / paths[i]}: image not found or unreadable")
        chips.append(align_face(img[:, :, ::-1], landmarks[i], chip_size))
        names.append(paths[i].split("/")[0])
    ids = {name: k for k, name in enumerate(sorted(set(names)))}
    return lowres_from_chips(np.stack(chips), resolution), np.array([ids[m] for m in names], np.int64)


def synthetic_faces(resolution: int, num_identities: int, per_identity: int, *, seed: int = 0,
                    chip_size: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic faces (`skd_tf.data.synthetic`, no planted noise) aligned like real ones, at p x p; with labels."""
    from skd_tf.data.align import align_face
    from skd_tf.data.synthetic import generate_faces

    fs = generate_faces(num_identities, per_identity, image_size=max(64, resolution), noisy_fraction=0.0, seed=seed)
    chips = np.stack([align_face(im, lm, chip_size) for im, lm in zip(fs.images, fs.landmarks)])
    return lowres_from_chips(chips, resolution), fs.labels.astype(np.int64)


def representative_faces(spec: str, resolution: int, n: int, seed: int):
    """Calibration faces `[<=n, p, p, 3]` uint8 and a description, from `spec`: `npz:PATH` (an `.npz` with
    `images` [M, p, p, 3], e.g. the student's training arrays), `npy:PATH`, `lfw` (`lfw_faces`), `synthetic`
    (`synthetic_faces`) or `auto` (lfw when `../shared/data` has it, else synthetic). Draws up to `n` with `seed`.
    """
    if spec.startswith(("npz:", "npy:")):
        path = Path(spec[4:])
        if not path.is_file():
            raise FileNotFoundError(f"representative: {path} does not exist")
        if spec.startswith("npz:"):
            images = read_npz(path, ("images",), "representative faces")["images"]
        else:
            images = read_npy(path, "representative faces")
        images = as_uint8_images(images, resolution, what=str(path))
        if len(images) > n:
            images = images[np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))]
        return images, f"{len(images)} faces from {path}"
    if spec == "auto":
        from skd_tf.utils.paths import lfw_dir

        spec = "lfw" if (lfw_dir() / "dlib" / "landmarks5.csv").is_file() else "synthetic"
    if spec == "lfw":
        return lfw_faces(resolution, n, seed=seed)[0], f"{n} LFW faces (dlib 5-point alignment, seed {seed})"
    if spec == "synthetic":
        per = 8
        ids = max(1, -(-n // per))
        return synthetic_faces(resolution, ids, per, seed=seed)[0][:n], f"{n} synthetic faces (seed {seed})"
    raise ValueError(f"representative: expected npz:PATH, npy:PATH, lfw or synthetic, got {spec!r}")
