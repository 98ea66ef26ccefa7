"""Loading a trained student from what the training run wrote, refusing a wrong or damaged file before any work.

A student arrives as a `keras.Model`, a `.keras` archive or a `.weights.h5` checkpoint (`skd_tf.training` writes
both, with the run's `config.json` and one `stage.json` per stage beside them), or as a training run folder holding
`student.keras` (`resolve_student_path`). A `.weights.h5` does not record the resolution it was trained at (no weight
shape depends on p, so the weights load into a network of any p): `load_student` takes p from the config and
cross-checks it against the checkpoint's own run record (`run_records`), so a 16 px student is never rebuilt as a
32 px network. Keras reports a truncated `.keras` as "File not found" and h5py names no file for a truncated HDF5:
`load_keras_file` and `check_weights_file` check each archive first and name the file as corrupt.

Every consumer of a student loads it here: the export (`skd_tf.serving.export`), LFW View-2 evaluation
(`skd_tf.evaluation.lfw_view2`), the SCface and UCCS fine-tuning CLIs and the training runner's `init_weights`.
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import keras

from skd_tf.models.student import build_student

CHECKPOINT_SUFFIXES = (".keras", ".weights.h5")  # what `load_student` reads
STUDENT_SUFFIXES = CHECKPOINT_SUFFIXES + (".tflite",)  # and an exported TFLite student (`skd_tf.serving.tflite`)

_BUILD_KEYS = ("resolution", "feature_dim", "num_classes", "identity_dim", "identity_activation", "student_arch")
#: Build keys whose value may itself be a dict (a custom architecture, ``{"widths": [...], "head": ...}``).
_STRUCTURED_KEYS = ("student_arch",)


def resolve_student_path(path: str | os.PathLike, *, suffixes: Sequence[str] = STUDENT_SUFFIXES,
                         what: str = "student") -> Path:
    """A student file, or a training run folder holding `student.keras` (as `skd_tf.training.train_student` writes).

    `suffixes` are the file types the caller can use (fine-tuning takes `CHECKPOINT_SUFFIXES`: it cannot start from a
    `.tflite`); `what` names the input in the errors (e.g. `--student`). A folder without `student.keras` or a missing
    file raises FileNotFoundError, another file type ValueError, each naming the path and what was expected.
    """
    suffixes = tuple(suffixes)
    expected = ", ".join(suffixes[:-1]) + " or " + suffixes[-1] if len(suffixes) > 1 else suffixes[0]
    p = Path(path)
    if p.is_dir():
        cand = p / "student.keras"
        if not cand.is_file():
            raise FileNotFoundError(f"{what} {p}: a folder without student.keras (expected a {expected} file, or a "
                                    "training run folder)")
        return cand
    if not p.is_file():
        raise FileNotFoundError(f"{what} {p}: file not found (expected a {expected} file)")
    if not p.name.endswith(suffixes):
        raise ValueError(f"{what} {p}: unknown file type (expected {expected})")
    return p


def _find_keys(obj: Any, keys: Sequence[str], found: dict | None = None) -> dict:
    """Collects the first occurrence of each of `keys` in a nested dict/list (depth-first, top level first)."""
    found = {} if found is None else found
    if isinstance(obj, Mapping):
        for k in keys:
            if (k in obj and k not in found and obj[k] is not None
                    and (k in _STRUCTURED_KEYS or not isinstance(obj[k], (Mapping, list)))):
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
        check_weights_file(path)
        model = build_student(res, feature_dim=int(kw["feature_dim"]),
                              num_classes=int(kw["num_classes"]), identity_dim=int(kw.get("identity_dim", 128)),
                              identity_activation=kw.get("identity_activation"),
                              arch=kw.get("student_arch", "paper"))
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


def check_student(model, resolution: int | None = None, what: str | None = None):
    """Refuses a model that is not a student of `skd_tf.models.student` (input `[None, p, p, 3]`, with p =
    `resolution` when given; dict outputs with `identity` and `mimic`), naming it as `what` (default: the model's
    name); returns the model."""
    what = what or f"model '{model.name}'"
    shape = tuple(model.inputs[0].shape)
    if resolution is None:
        if len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] != 3:
            raise ValueError(f"{what}: input shape {shape}, expected square RGB faces (None, p, p, 3)")
    elif len(shape) != 4 or shape[1] != resolution or shape[2] != resolution or shape[3] != 3:
        raise ValueError(f"{what}: input shape {shape} does not match resolution={resolution} "
                         f"(expected (None, {resolution}, {resolution}, 3))")
    outs = model.output
    if not isinstance(outs, Mapping) or not {"identity", "mimic"} <= set(outs):
        raise ValueError(f"{what}: expected dict outputs with 'identity' and 'mimic' (the student of "
                         f"skd_tf.models.student), got {type(outs).__name__}")
    return model
