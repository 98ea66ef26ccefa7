"""A trained student loaded for LFW View 2 (paper Section IV-A/IV-C, Fig. 7), and its pair scores.

"Feature vectors in the hidden layers (mimic layer and identity layer) are first extracted and normalized from a pair
of face images" and the pair is scored by their similarity (Section IV-A); `student_pair_scores` does that through
`skd_tf.grid.pair_scores`: `identity`, `mimic`, `both` (mean of the two cosines; Fig. 7's headline) and `cross` (the
student's low-resolution mimic feature of image a against the teacher's high-resolution feature of image b).

Students: `.keras`, `.weights.h5` (+ the training run's config.json, see `skd_tf.serving.load_student`), a training
run folder holding `student.keras`, or a `.tflite` exported by `skd_tf.serving` (float32 / float16 / dynamic_int8 /
int8; its `serving_default` outputs `embedding` = L2-normalised identity layer and `mimic`). The resolution p is read
from the model's input shape; row names default to the training run folder's (`default_student_name`).

Cross-resolution scores compare the mimic feature with the teacher feature *as the student regressed it*: the training
runs regress teacher features centred by the training mean (`lfw_lowres --center_targets`), so `target_mean` (a [D]
`.npy`) is subtracted from the teacher's features; it is looked up as `target_mean.npy` beside the student file and in
up to 3 folders above it when not given (`find_target_mean`). Without it the features are used uncentred, and the
results say so.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from skd_tf import grid
from skd_tf.evaluation.view2_pairs import View2Pairs
from skd_tf.serving import (
    INPUT_NAME,
    OUTPUT_NAMES,
    as_uint8_images,
    load_student,
    read_tflite_metadata,
    resolve_student_path,
    tflite_signature_runner,
)

TARGET_MEAN_NAME = "target_mean.npy"
TARGET_MEAN_LEVELS = 3
MIN_RESOLUTION = 8


@dataclasses.dataclass
class EvalStudent:
    """A loaded student: `kind` "keras" or "tflite", `resolution` p (from the model's input), `mimic_dim`,
    `target_mean` ([D] float32 or None) and where it came from, `info` (what the file says about itself)."""

    name: str
    path: Path
    kind: str
    resolution: int
    mimic_dim: int
    target_mean: np.ndarray | None
    target_mean_path: Path | None
    info: dict
    model: Any = dataclasses.field(repr=False, default=None)

    def embed(self, images: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
        """`{"identity", "mimic"}` float32 features of uint8 faces `[N, p, p, 3]` (`grid.embed` for Keras; the
        TFLite `embedding` output, the L2-normalised identity layer, stands for `identity`: cosines are the same)."""
        if self.kind == "keras":
            return grid.embed(self.model, images, batch_size=batch_size)
        images = as_uint8_images(images, self.resolution, what=f"faces for {self.path.name}")
        out = {"identity": [], "mimic": []}
        for start in range(0, len(images), batch_size):
            res = self.model(**{INPUT_NAME: images[start:start + batch_size]})
            out["identity"].append(np.asarray(res["embedding"], np.float32))
            out["mimic"].append(np.asarray(res["mimic"], np.float32))
        return {k: np.concatenate(v) for k, v in out.items()}

    def describe(self) -> dict:
        return {"name": self.name, "path": str(self.path), "kind": self.kind, "resolution": self.resolution,
                "mimic_dim": self.mimic_dim,
                "target_mean": str(self.target_mean_path) if self.target_mean_path is not None else None,
                "cross_centred": self.target_mean is not None, **({"info": self.info} if self.info else {})}


def find_target_mean(student_path: str | os.PathLike, levels: int = TARGET_MEAN_LEVELS) -> Path | None:
    """`target_mean.npy` beside the student file (inside it, for a run folder) or in up to `levels` folders above."""
    path = Path(student_path)
    folder = path if path.is_dir() else path.parent
    for _ in range(int(levels) + 1):
        cand = folder / TARGET_MEAN_NAME
        if cand.is_file():
            return cand
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def read_target_mean(path: str | os.PathLike, dim: int | None = None, what: str = "target_mean") -> np.ndarray:
    """A regression target's centring vector: a `.npy` of D finite floats (`[D]` or `[1, D]`), D = `dim` if given."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path}: file not found (expected a .npy of the [D] training mean of the "
                                "teacher features the student regressed)")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a bad input here
        raise ValueError(f"{what} {path}: not a readable .npy file ({e})") from None
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{what} {path}: expected a float array of shape [D], got {arr.dtype} {arr.shape}")
    if dim is not None and arr.shape[0] != int(dim):
        raise ValueError(f"{what} {path}: expected D = {dim} values (the student's mimic width), got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} {path}: expected finite values, found NaN or inf")
    return arr.astype(np.float32)


def default_student_name(path: Path, resolution: int, kind: str, tflite_kind: str | None = None) -> str:
    """`S-16-sc` from a training run folder named so, else `S-<p>`; a file stem other than student/final/best is
    added in brackets (`S-16[pre]`), and a TFLite model gets its quantisation (`S-16-sc[int8]`)."""
    folder = path.parent.name
    if re.fullmatch(r"S-\d+(-[A-Za-z0-9_]+)*", folder):
        base = folder
    else:
        base = f"S-{int(resolution)}"
        stem = path.name.split(".")[0]
        if kind == "keras" and stem not in ("student", "final", "best"):
            base += f"[{stem}]"
    if kind == "tflite":
        base += f"[{tflite_kind or path.stem}]"
    return base


def _check_resolution(shape: Sequence, path: Path) -> int:
    shape = tuple(None if s is None or int(s) < 0 else int(s) for s in shape)
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] != 3:
        raise ValueError(f"student {path}: input shape {shape}, expected square RGB faces (batch, p, p, 3)")
    p = int(shape[1])
    if not MIN_RESOLUTION <= p <= 150:
        raise ValueError(f"student {path}: input resolution {p} px, expected {MIN_RESOLUTION}..150 (a low-resolution "
                         "face no larger than the teacher's 150-px chip)")
    return p


def load_eval_student(path: str | os.PathLike, *, config: str | os.PathLike | None = None,
                      target_mean: str | os.PathLike | None = None, name: str | None = None,
                      num_threads: int | None = None) -> EvalStudent:
    """Loads and checks one student (see the module docstring); raises naming the file and what was expected.

    `config`: the training config of a `.weights.h5` (default: found beside it by `skd_tf.serving.load_student`).
    `target_mean`: the centring of the regression targets (default: `find_target_mean`).
    """
    path = resolve_student_path(path)
    info: dict = {}
    if path.name.endswith(".tflite"):
        try:
            runner = tflite_signature_runner(path, num_threads=num_threads)
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"student {path}: not a TFLite student exported by skd_tf.serving ({e})") from None
        ins, outs = runner.get_input_details(), runner.get_output_details()
        if INPUT_NAME not in ins or not set(OUTPUT_NAMES) <= set(outs):
            raise ValueError(f"student {path}: signature inputs {sorted(ins)} / outputs {sorted(outs)}, expected input "
                             f"'{INPUT_NAME}' and outputs {list(OUTPUT_NAMES)} (skd_tf.serving)")
        p = _check_resolution(ins[INPUT_NAME]["shape_signature"], path)
        mimic_dim = int(outs["mimic"]["shape_signature"][-1])
        try:
            side = read_tflite_metadata(path) or {}
        except Exception:  # noqa: BLE001 - metadata is informative only
            side = {}
        for key in ("kind", "quantisation", "teacher", "training_data", "metrics"):
            if side.get(key) is not None:
                info[key] = side[key]
        kind, model, tflite_kind = "tflite", runner, side.get("kind")
        if tflite_kind is None:
            m = re.search(r"_(float32|float16|dynamic_int8|int8)\.tflite$", path.name)
            tflite_kind = m.group(1) if m else None
    else:
        try:
            model = load_student(path, config=config)
        except Exception as e:  # noqa: BLE001 - Keras raises many kinds for a bad file
            if str(path) in str(e):
                raise
            raise ValueError(f"student {path}: could not be loaded as a Keras student ({type(e).__name__}: {e})") \
                from None
        outs = model.output
        if not isinstance(outs, Mapping) or not {"identity", "mimic"} <= set(outs):
            raise ValueError(f"student {path}: expected dict outputs with 'identity' and 'mimic' "
                             "(skd_tf.models.student.build_student)")
        p = _check_resolution(tuple(model.inputs[0].shape), path)
        mimic_dim = int(outs["mimic"].shape[-1])
        kind, tflite_kind = "keras", None
    if target_mean is not None:
        tm_path = Path(target_mean)
    else:
        tm_path = find_target_mean(path)
    tm = read_target_mean(tm_path, mimic_dim) if tm_path is not None else None
    return EvalStudent(name=name or default_student_name(path, p, kind, tflite_kind), path=path, kind=kind,
                       resolution=p, mimic_dim=mimic_dim, target_mean=tm, target_mean_path=tm_path, info=info,
                       model=model)


def student_pair_scores(student: EvalStudent, faces: np.ndarray, pairs: View2Pairs,
                        teacher_hr: np.ndarray | None = None, batch_size: int = 256) -> dict[str, np.ndarray]:
    """`grid.pair_scores` of one student on its p-px `faces` (indexed like `pairs.rows`): identity, mimic, both and,
    when the teacher's high-resolution features `teacher_hr` are given, cross (centred by the student's
    `target_mean` when it has one)."""
    emb = student.embed(faces, batch_size=batch_size)
    hr = None
    if teacher_hr is not None:
        hr = teacher_hr - student.target_mean[None] if student.target_mean is not None else teacher_hr
    return grid.pair_scores(emb, pairs.pair_a, pairs.pair_b, teacher_hr=hr)
