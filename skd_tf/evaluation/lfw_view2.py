"""Any trained student on LFW View 2: the 6,000 official pairs in 10 folds (paper Section IV-A/IV-C, Fig. 7).

The paper evaluates every student by face verification on LFW's 6,000 pairs (3,000 matched, 3,000 mismatched): "feature
vectors in the hidden layers (mimic layer and identity layer) are first extracted and normalized from a pair of face
images", the pair is scored by their similarity and the figure is the ROC AUC (Section IV-A). This module scores any
student file that way, with the same rows and conventions as the fold experiment `experiments/lfw_lowres.py`
(`skd_tf.grid`):

* `T`: the teacher (`dlib_resnet`, 128-D) on 150-px high-resolution chips, cosine of the two features; its features
  come from the Keras port (`teacher_features="port"`, cached and resumable under `<out_dir>/teacher_features` via
  `skd_tf.features.extract.extract_to_cache`) or from real dlib's `../shared/data/lfw/dlib/descriptors.npy`
  (`"descriptors"`, no network pass; the port matches them to cosine >= 0.9999998).
* `T-<p>-up`: the teacher on the student's p-px test crops upscaled back to 150 px (`upscale_to`, bicubic), for each
  student resolution p.
* per student `S-...`: `identity`, `mimic`, `both` (mean of the two cosines; Fig. 7's headline) and `cross` (the
  student's low-resolution mimic feature of image a against the teacher's high-resolution feature of image b), all
  through `skd_tf.grid.pair_scores`.

Faces: every image of a pair is aligned with its 5 landmarks of `../shared/data/lfw/dlib/landmarks5.csv` (row r = row
r of `descriptors.npy`); the student's test crop is `degrade_faces(..., p, num_perturbations=1, jitter=0.0)` (the
unperturbed anti-aliased p-px crop the project uses for test faces, Section IV-A), seeded by the CSV row id like the
fold experiment. Each distinct image is read once.

Students: `.keras`, `.weights.h5` (+ the training run's config.json, see `skd_tf.serving.load_student`), a training
run folder holding `student.keras`, or a `.tflite` exported by `skd_tf.serving` (float32 / float16 / dynamic_int8 /
int8; its `serving_default` outputs `embedding` = L2-normalised identity layer and `mimic`). The resolution p is read
from the model's input shape.

Cross-resolution scores compare the mimic feature with the teacher feature *as the student regressed it*: the training
runs regress teacher features centred by the training mean (`lfw_lowres --center_targets`), so `target_mean` (a [D]
`.npy`) is subtracted from the teacher's features; it is looked up as `target_mean.npy` beside the student file and in
up to 3 folders above it when not given. Without it the features are used uncentred, and the results say so.

Figures per row (`skd_tf.evaluation.verification.verification_report`): AUC, 10-fold accuracy (official View-2
folds when the selection spans >= 2 of them, else 10 round-robin subfolds, `skd_tf.grid.subfolds`), TAR at FAR 1e-3
and 1e-2, EER.

Whether a student saw the people of the test pairs in training cannot be known from the student file. The fold-k
student of `experiments/lfw_lowres.py` was trained on the people of the other nine folds of `people.txt`, so View-2
fold k alone (`folds=[k]`) is its clean test; `exclude_people` (a file of names) drops every pair that involves one of
them, for students trained on other LFW people.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from skd_tf.serving import (INPUT_NAME, OUTPUT_NAMES, as_uint8_images, load_student, read_tflite_metadata,
                            resolve_student_path, tflite_signature_runner)
from skd_tf.utils.io import atomic_path, write_json, write_text

TEACHER = "dlib_resnet"
IMAGES = "lfw-deepfunneled"
LANDMARKS = "dlib/landmarks5.csv"
DESCRIPTORS = "dlib/descriptors.npy"
DESCRIPTORS_INDEX = "dlib/descriptors_index.txt"
NUM_FOLDS = 10
TARGET_MEAN_NAME = "target_mean.npy"
TARGET_MEAN_LEVELS = 3
MIN_RESOLUTION = 8
TEACHER_FEATURE_SOURCES = ("port", "descriptors")
STUDENT_FEATURES = ("identity", "mimic", "both", "cross")
HEADLINE_FEATURE = "both"
FAR_KEYS = ("tar_at_far_1e-3", "tar_at_far_1e-2")


# ------------------------------------------------------------------------------------------------------------- pairs

@dataclasses.dataclass(frozen=True)
class View2Pairs:
    """The selected View-2 pairs and the distinct images they use.

    Per distinct image (sorted by landmarks-CSV row): `rows` (int64 CSV row ids = rows of `descriptors.npy`), `paths`
    (relative to `lfw-deepfunneled/`), `landmarks` float32 [M, 5, 2]. Per pair (file order): `pair_a`, `pair_b`
    (positions in `rows`), `is_same`, `fold` (official fold, 1-based), `line` (line in pairs.txt), `name_a`,
    `index_a`, `name_b`, `index_b`. `folds` are the folds asked for, `excluded` the pairs dropped by
    `exclude_people`, `source` the pairs file.
    """

    rows: np.ndarray
    paths: list[str]
    landmarks: np.ndarray
    pair_a: np.ndarray
    pair_b: np.ndarray
    is_same: np.ndarray
    fold: np.ndarray
    line: np.ndarray
    name_a: np.ndarray
    index_a: np.ndarray
    name_b: np.ndarray
    index_b: np.ndarray
    folds: tuple[int, ...]
    excluded: int
    source: str

    def __len__(self) -> int:
        return int(self.is_same.size)

    def cv_folds(self) -> np.ndarray:
        """Fold ids of the 10-fold accuracy: the official folds when >= 2 are present, else `grid.subfolds`."""
        if np.unique(self.fold).size >= 2:
            return self.fold.copy()
        from skd_tf import grid

        return grid.subfolds(len(self), NUM_FOLDS)

    def cv_description(self) -> str:
        present = np.unique(self.fold).tolist()
        if len(present) >= 2:
            return f"official View-2 folds {present} (threshold tuned on the other folds)"
        return (f"10 round-robin subfolds of the {len(self)} pairs of fold {present} (skd_tf.grid.subfolds; "
                "one official fold only)")

    def summary(self) -> dict:
        return {"n_pairs": len(self), "n_same": int(self.is_same.sum()), "n_different": int((~self.is_same).sum()),
                "n_images": int(self.rows.size), "folds": list(self.folds),
                "pairs_per_fold": {int(k): int(v) for k, v in zip(*np.unique(self.fold, return_counts=True))},
                "excluded_pairs": int(self.excluded), "cv": self.cv_description(), "pairs_file": self.source}


def parse_folds(folds: Sequence[int | str] | str | None) -> tuple[int, ...]:
    """The View-2 folds asked for, 1-based (all ten for None/empty); `ValueError` naming `folds` otherwise."""
    if folds is None:
        return tuple(range(1, NUM_FOLDS + 1))
    items = folds.split(",") if isinstance(folds, str) else list(folds)
    items = [str(f).strip() for f in items if str(f).strip()]
    if not items:
        return tuple(range(1, NUM_FOLDS + 1))
    out = []
    for f in items:
        try:
            k = int(f)
        except ValueError:
            raise ValueError(f"folds: expected integers 1..{NUM_FOLDS} (View-2 folds of pairs.txt), "
                             f"got {f!r}") from None
        if not 1 <= k <= NUM_FOLDS:
            raise ValueError(f"folds: expected integers 1..{NUM_FOLDS} (View-2 folds of pairs.txt), got {k}")
        if k in out:
            raise ValueError(f"folds: fold {k} given twice")
        out.append(k)
    return tuple(sorted(out))


def read_people_list(path: str | os.PathLike) -> set[str]:
    """Names in a people file: one LFW name per line (`Aaron_Eckhart`); `name count` lines (`people.txt`,
    `lfw-names.txt`) are accepted and their counts ignored, as are lines holding a bare integer (`people.txt`'s fold
    counts), blank lines and `#` comments. Raises naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"exclude_people {path}: file not found (expected one LFW name per line)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"exclude_people {path}: not readable as UTF-8 text ({e})") from None
    names: set[str] = set()
    for ln, line in enumerate(text.splitlines(), start=1):
        f = line.split("#", 1)[0].split()
        if not f or (len(f) == 1 and f[0].isdigit()):
            continue
        if len(f) > 2 or (len(f) == 2 and not f[1].isdigit()):
            raise ValueError(f"exclude_people {path}:{ln}: expected one LFW name (words joined by '_', optionally "
                             f"followed by an image count), got {line.strip()!r}")
        names.add(f[0])
    return names


def load_view2_pairs(lfw_root: str | os.PathLike, *, folds: Sequence[int] | None = None,
                     exclude_people: set[str] | None = None, max_pairs: int | None = None,
                     check_images: bool = True) -> View2Pairs:
    """The View-2 pairs of `folds` (1-based; all ten by default) under `lfw_root`, without the pairs that involve a
    name in `exclude_people`, with their distinct images and landmarks.

    `max_pairs` (tests, smoke runs) then keeps the first `max_pairs // 2` matched and the first
    `max_pairs - max_pairs // 2` mismatched pairs of the selection, in file order. Every image must have landmarks
    and (with `check_images`) exist; the selection must hold both matched and mismatched pairs.
    """
    from skd_tf.data.lfw import load_protocol_pairs, read_landmarks_csv, verify_images_exist

    lfw_root = Path(lfw_root)
    folds = parse_folds(folds)
    pairs = load_protocol_pairs(lfw_root, "pairs.txt", images=IMAGES, check_images=False)
    if pairs.n_folds != NUM_FOLDS:
        raise ValueError(f"{pairs.source}: expected View 2 ({NUM_FOLDS} folds), the header says {pairs.n_folds}")
    keep = np.isin(pairs.fold, np.asarray(folds) - 1)
    excluded = 0
    if exclude_people:
        hit = np.isin(pairs.name_a, list(exclude_people)) | np.isin(pairs.name_b, list(exclude_people))
        excluded = int((keep & hit).sum())
        keep &= ~hit
    sel = np.flatnonzero(keep)
    if max_pairs is not None:
        if int(max_pairs) < 2:
            raise ValueError(f"max_pairs: expected >= 2 (one matched and one mismatched pair), got {max_pairs}")
        half = int(max_pairs) // 2
        same, diff = sel[pairs.is_same[sel]], sel[~pairs.is_same[sel]]
        sel = np.sort(np.r_[same[:half], diff[:int(max_pairs) - half]])
    n_same = int(pairs.is_same[sel].sum())
    if n_same == 0 or n_same == sel.size:
        raise ValueError(f"{pairs.source}: folds {list(folds)} leave {n_same} matched and {sel.size - n_same} "
                         f"mismatched pairs after excluding {excluded} (expected both kinds)")
    rel_a, rel_b = pairs.relative_paths()
    a = [rel_a[i] for i in sel]
    b = [rel_b[i] for i in sel]
    csv_path = lfw_root / LANDMARKS
    table_paths, table_landmarks, _ = read_landmarks_csv(csv_path)
    row_of = {p: r for r, p in enumerate(table_paths)}
    for rel, i in zip(a + b, np.r_[sel, sel]):
        if rel not in row_of:
            raise ValueError(f"{pairs.source}:{int(pairs.line[i])}: no landmarks for {rel} in {csv_path}")
    rows = np.array(sorted({row_of[p] for p in a + b}), dtype=np.int64)
    paths = [table_paths[r] for r in rows]
    if check_images:
        verify_images_exist(lfw_root / IMAGES, paths, source=pairs.source)
    pos = {int(r): k for k, r in enumerate(rows)}
    return View2Pairs(
        rows=rows, paths=paths, landmarks=np.asarray(table_landmarks[rows], np.float32),
        pair_a=np.array([pos[row_of[p]] for p in a], np.int64), pair_b=np.array([pos[row_of[p]] for p in b], np.int64),
        is_same=pairs.is_same[sel].astype(bool), fold=pairs.fold[sel].astype(np.int64) + 1,
        line=pairs.line[sel].astype(np.int64), name_a=pairs.name_a[sel], index_a=pairs.index_a[sel],
        name_b=pairs.name_b[sel], index_b=pairs.index_b[sel], folds=folds, excluded=excluded, source=pairs.source)


# ---------------------------------------------------------------------------------------------------------- students

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
        from skd_tf import grid

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


# ------------------------------------------------------------------------------------------------------------- faces

def prepare_faces(lfw_root: str | os.PathLike, pairs: View2Pairs, resolutions: Sequence[int], *,
                  hr_size: int | None = None, padding: float = 0.25, seed: int = 0, chunk: int = 512,
                  progress: bool = False) -> dict:
    """Reads each image of `pairs` once and returns `{"hr": [M, S, S, 3] chips or None, p: [M, p, p, 3]}`.

    `hr`: `align_face(image, landmarks, hr_size, padding)` (the teacher's chip, as `AlignedArraySource`), when
    `hr_size` is given. `p`: `degrade_faces(..., p, num_perturbations=1, jitter=0.0, seed=seed)` with the CSV row ids
    (the unperturbed test crop of Section IV-A, the same pixels as `experiments/lfw_lowres.py`). Images are read with
    `skd_tf.data.images.read_rgb` and a truncated image, or a landmark outside its image by more than
    `skd_tf.data.images.DEFAULT_MARGIN` x its size, raises `CorruptFaceError` naming the image (and its CSV row):
    the protocol's pairs cannot leave a face out.
    """
    from skd_tf.data.align import align_face
    from skd_tf.data.degrade import degrade_faces
    from skd_tf.data.images import check_landmarks, read_rgb

    root = Path(lfw_root) / IMAGES
    csv_path = Path(lfw_root) / LANDMARKS
    m = len(pairs.rows)
    res = sorted({int(p) for p in resolutions})
    out: dict = {"hr": np.empty((m, hr_size, hr_size, 3), np.uint8) if hr_size else None}
    for p in res:
        out[p] = np.empty((m, p, p, 3), np.uint8)
    starts = range(0, m, int(chunk))
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="read + align LFW", unit="chunk", mininterval=2.0)
    for s in starts:
        e = min(m, s + int(chunk))
        imgs = [read_rgb(root / pairs.paths[k]) for k in range(s, e)]  # a truncated image is refused, naming it
        lms = pairs.landmarks[s:e]
        for k, (img, lm) in enumerate(zip(imgs, lms)):  # a landmark far outside its image would align to black
            check_landmarks(lm, img.shape, f"{root / pairs.paths[s + k]} (data row {int(pairs.rows[s + k])} of "
                            f"{csv_path})")
        if hr_size:
            for k, (img, lm) in enumerate(zip(imgs, lms)):
                out["hr"][s + k] = align_face(img, lm, int(hr_size), padding=padding)
        if res:
            shapes = {im.shape for im in imgs}
            groups = [list(range(len(imgs)))] if len(shapes) == 1 else [[k] for k in range(len(imgs))]
            for g in groups:
                batch = np.stack([imgs[k] for k in g])
                for p in res:
                    out[p][[s + k for k in g]] = degrade_faces(batch, lms[g], pairs.rows[s:e][g], p,
                                                               num_perturbations=1, jitter=0.0, padding=padding,
                                                               seed=seed, progress=False)[0]
    return out


# -------------------------------------------------------------------------------------------------- teacher features

def descriptor_features(lfw_root: str | os.PathLike, rows: np.ndarray | None = None) -> np.ndarray:
    """Real dlib's 128-D descriptors (`dlib/descriptors.npy`) of landmarks-CSV rows `rows` (all rows for None),
    after checking that `descriptors_index.txt` lists the CSV's paths in the same order."""
    lfw_root = Path(lfw_root)
    path, index = lfw_root / DESCRIPTORS, lfw_root / DESCRIPTORS_INDEX
    desc = _load_descriptors(path)
    n = _csv_row_count(lfw_root / LANDMARKS)
    if desc.shape[0] != n:
        raise ValueError(f"{path}: {desc.shape[0]} rows, expected one per row of {lfw_root / LANDMARKS} ({n})")
    if index.is_file():
        listed = [ln.strip() for ln in index.read_text(encoding="utf-8").splitlines() if ln.strip()]
        from skd_tf.data.lfw import read_landmarks_csv

        csv_paths = read_landmarks_csv(lfw_root / LANDMARKS)[0]
        if listed != list(csv_paths):
            bad = next((k for k, (x, y) in enumerate(zip(listed, csv_paths)) if x != y), min(len(listed), n))
            raise ValueError(f"{index}: row order differs from {lfw_root / LANDMARKS} at row {bad + 1}")
    return np.asarray(desc if rows is None else desc[np.asarray(rows)], np.float32)


def _load_descriptors(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: dlib descriptors not found (teacher_features='descriptors' needs "
                                "dlib/descriptors.npy; use 'port' to run the teacher)")
    try:
        desc = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{path}: not a readable .npy file ({e})") from None
    if desc.ndim != 2 or not np.issubdtype(desc.dtype, np.floating):
        raise ValueError(f"{path}: expected a float array [N, 128], got {desc.dtype} {desc.shape}")
    return desc


def _csv_row_count(path: Path) -> int:
    with open(path, encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip()) - 1


def _rows_tag(rows: np.ndarray) -> str:
    return f"{len(rows)}img_{hashlib.sha1(np.ascontiguousarray(rows, np.int64).tobytes()).hexdigest()[:10]}"


def port_features(teacher, images: np.ndarray, rows: np.ndarray, cache_dir: str | os.PathLike, *,
                  description: Mapping[str, Any], batch_size: int = 64, progress: bool = False) -> tuple[np.ndarray,
                                                                                                       dict]:
    """The teacher's features of aligned `images` (`[M, 150, 150, 3]`, row ids `rows`), through the resumable
    feature cache at `cache_dir` (`extract_to_cache` with an `ArraySource`): a rerun on the same faces reads them.
    Returns (features [M, D] in the order of `rows`, extraction stats)."""
    from skd_tf.features.cache import load_features
    from skd_tf.features.extract import ArraySource, extract_to_cache
    from skd_tf.models import teachers

    tspec = teachers.spec(TEACHER)
    stats = extract_to_cache(teacher, ArraySource(images, row_ids=rows, description=dict(description)), cache_dir,
                             manifest={"teacher": TEACHER, "layer": tspec.feature_layer}, batch_size=batch_size,
                             progress=progress)
    feats, ids = load_features(cache_dir)
    where = {int(r): k for k, r in enumerate(ids)}
    return np.asarray(feats[[where[int(r)] for r in rows]], np.float32), stats


# ------------------------------------------------------------------------------------------------------------ scores

def student_pair_scores(student: EvalStudent, faces: np.ndarray, pairs: View2Pairs,
                        teacher_hr: np.ndarray | None = None, batch_size: int = 256) -> dict[str, np.ndarray]:
    """`grid.pair_scores` of one student on its p-px `faces` (indexed like `pairs.rows`): identity, mimic, both and,
    when the teacher's high-resolution features `teacher_hr` are given, cross (centred by the student's
    `target_mean` when it has one)."""
    from skd_tf import grid

    emb = student.embed(faces, batch_size=batch_size)
    hr = None
    if teacher_hr is not None:
        hr = teacher_hr - student.target_mean[None] if student.target_mean is not None else teacher_hr
    return grid.pair_scores(emb, pairs.pair_a, pairs.pair_b, teacher_hr=hr)


def teacher_pair_scores(features: np.ndarray, pairs: View2Pairs) -> np.ndarray:
    """Cosine of the two teacher features of every pair (the T / T-p-up rows)."""
    from skd_tf.evaluation.verification import cosine_scores

    return cosine_scores(features[pairs.pair_a], features[pairs.pair_b])


def summary_row(model: str, feature: str | None, report: Mapping) -> dict:
    """One table row (percent): AUC, 10-fold accuracy mean / std, TAR at FAR 1e-3 / 1e-2, EER."""
    pct = lambda k: None if report.get(k) is None else 100.0 * float(report[k])  # noqa: E731
    return {"model": model, "feature": feature, "auc": pct("roc_auc"), "accuracy": pct("accuracy_mean"),
            "accuracy_std": pct("accuracy_std"), "tar_at_far_1e-3": pct("tar_at_far_1e-3"),
            "tar_at_far_1e-2": pct("tar_at_far_1e-2"), "eer": pct("eer"), "n_pairs": int(report["n_pairs"])}


def format_view2_table(rows: Sequence[Mapping]) -> str:
    """A plain-text table of `summary_row` rows (all figures in percent)."""
    name_w = max([len("model")] + [len(r["model"]) for r in rows]) + 2
    head = (f"{'model':<{name_w}}{'feature':<10}{'AUC':>8}{'10-fold acc':>16}{'TAR@FAR=1e-3':>14}"
            f"{'TAR@FAR=1e-2':>14}{'EER':>8}")
    lines = [head, "-" * len(head)]

    def num(v, w, d=2):
        return f"{'-':>{w}}" if v is None else f"{v:>{w}.{d}f}"

    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.2f} +- {r['accuracy_std']:.2f}"
        lines.append(f"{r['model']:<{name_w}}{(r['feature'] or '-'):<10}{num(r['auc'], 8)}{acc:>16}"
                     f"{num(r['tar_at_far_1e-3'], 14)}{num(r['tar_at_far_1e-2'], 14)}{num(r['eer'], 8)}")
    return "\n".join(lines)


def json_safe(obj: Any) -> Any:
    """`obj` with numpy values as Python ones and every NaN / infinity as None (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


# -------------------------------------------------------------------------------------------------------- evaluation

@dataclasses.dataclass
class View2Evaluation:
    """What `evaluate_view2` computed: `results` (the content of results.json), `scores` (per-pair scores, keys
    `T`, `T-<p>-up`, `<student>/<feature>`), the `pairs` and the printed `table`."""

    results: dict
    scores: dict[str, np.ndarray]
    pairs: View2Pairs
    table: str


def _unique_names(students: list[EvalStudent]) -> None:
    """Makes student row names unique (`S-16#2`) and distinct from the teacher rows `T` / `T-<p>-up`."""
    seen: dict[str, int] = {}
    for s in students:
        base = s.name
        if "/" in base or not base:
            raise ValueError(f"names: a row name must be non-empty and contain no '/', got {base!r}")
        if base in seen or re.fullmatch(r"T(-\d+-up)?", base):
            seen[base] = seen.get(base, 1) + 1
            s.name = f"{base}#{seen[base]}"
        else:
            seen[base] = 1


def _check_lfw_root(root: Path, teacher_features: str) -> None:
    needed = [root / "protocol" / "pairs.txt", root / "protocol" / "lfw-names.txt", root / LANDMARKS]
    if teacher_features == "descriptors":
        needed.append(root / DESCRIPTORS)
    for f in needed:
        if not f.is_file():
            raise FileNotFoundError(f"{f}: not found under the LFW folder {root} (lfw_root; expected "
                                    "lfw-deepfunneled/, protocol/pairs.txt, protocol/lfw-names.txt, "
                                    "dlib/landmarks5.csv" + (", dlib/descriptors.npy" if teacher_features ==
                                                              "descriptors" else "") + ")")
    if not (root / IMAGES).is_dir():
        raise FileNotFoundError(f"{root / IMAGES}: LFW image folder not found (lfw_root)")


def evaluate_view2(students: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
                   lfw_root: str | os.PathLike | None = None, names: Sequence[str] | None = None,
                   config: str | os.PathLike | None = None, folds: Sequence[int] | str | None = None,
                   exclude_people: str | os.PathLike | None = None, teacher_features: str = "port",
                   teacher_rows: bool = True, target_mean: str | os.PathLike | None = None,
                   max_pairs: int | None = None, batch_size: int = 64, tflite_threads: int | None = None,
                   seed: int = 0, progress: bool = False, log: Callable[[str], None] | None = print
                   ) -> View2Evaluation:
    """Scores `students` (paths; may be empty for the teacher rows alone) on LFW View 2 and writes `out_dir`.

    Every input is checked before any teacher pass or model run (LFW files, folds, `exclude_people`, each student
    loaded with its resolution and target mean, the descriptors): errors name the file or argument and what was
    expected. Rows: `T` and `T-<p>-up` (unless `teacher_rows=False`), then per student identity / mimic / both / cross
    (see the module docstring). `teacher_features`: "port" (the Keras teacher on the HR chips, cached under
    `out_dir/teacher_features/`) or "descriptors" (`dlib/descriptors.npy`). With `teacher_rows=False` the teacher
    network never runs: `cross` then needs "descriptors" and is left out otherwise. `target_mean` applies to every
    student (default: each student's own `target_mean.npy`, `find_target_mean`); `config` to every `.weights.h5`.

    Writes `results.json` (strict JSON: NaN/inf as null), `roc.png` (T rows and each student's `both`) and
    `scores.npz` (per-pair scores, `/` in keys written as `__`, plus the pairs' `is_same`, `fold`, `line`, names and
    image indices). Returns a `View2Evaluation`.
    """
    from skd_tf.evaluation.verification import verification_report
    from skd_tf.utils.paths import lfw_dir

    say = log or (lambda _msg: None)
    t_start = time.time()
    timings: dict[str, float] = {}
    notes: list[str] = []
    # ---- validation: nothing below runs a network before every input has been checked
    if teacher_features not in TEACHER_FEATURE_SOURCES:
        raise ValueError(f"teacher_features: expected one of {TEACHER_FEATURE_SOURCES}, got {teacher_features!r}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
    root = Path(lfw_root) if lfw_root is not None else lfw_dir()
    _check_lfw_root(root, teacher_features)
    folds = parse_folds(folds)
    excluded_names: set[str] = set()
    if exclude_people is not None:
        excluded_names = read_people_list(exclude_people)
        from skd_tf.data.lfw import read_names

        unknown = sorted(excluded_names - set(read_names(root / "protocol" / "lfw-names.txt")))
        if unknown:
            notes.append(f"{len(unknown)} of the {len(excluded_names)} names in {exclude_people} are not LFW people "
                         f"(e.g. {unknown[:3]}); they exclude nothing")
    if names is not None and len(names) != len(students):
        raise ValueError(f"names: expected one name per student ({len(students)}), got {len(names)}")
    if target_mean is not None and not Path(target_mean).is_file():
        raise FileNotFoundError(f"target_mean {target_mean}: file not found (expected a .npy of D floats)")
    pairs = load_view2_pairs(root, folds=folds, exclude_people=excluded_names, max_pairs=max_pairs)
    loaded = [load_eval_student(s, config=config, target_mean=target_mean, name=names[k] if names else None,
                                num_threads=tflite_threads) for k, s in enumerate(students)]
    _unique_names(loaded)
    from skd_tf.models import teachers

    tspec = teachers.spec(TEACHER)
    desc = descriptor_features(root, pairs.rows) if teacher_features == "descriptors" else None
    if desc is not None and desc.shape[1] != tspec.feature_dim:
        raise ValueError(f"{root / DESCRIPTORS}: {desc.shape[1]}-D rows, expected the {TEACHER} teacher's "
                         f"{tspec.feature_dim}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings["validate"] = time.time() - t_start
    resolutions = sorted({s.resolution for s in loaded})
    use_port_hr = teacher_features == "port" and teacher_rows
    hr_available = desc is not None or use_port_hr
    say(f"LFW View 2: {len(pairs)} pairs ({int(pairs.is_same.sum())} matched) of folds {list(folds)}, "
        f"{len(pairs.rows)} images; {len(loaded)} student(s) at {resolutions or '-'} px; 10-fold accuracy over "
        f"{pairs.cv_description()}")
    if excluded_names:
        say(f"excluded {pairs.excluded} pairs involving the {len(excluded_names)} people of {exclude_people}")
    elif loaded:
        notes.append("whether the students were trained on the people of these pairs is not known here (no "
                     "exclude_people); the fold-k student of experiments/lfw_lowres.py is clean on folds=[k] only")
    for s in loaded:
        if s.mimic_dim != tspec.feature_dim:
            notes.append(f"{s.name}: cross left out (mimic layer {s.mimic_dim}-D, the {TEACHER} teacher's feature "
                         f"is {tspec.feature_dim}-D)")
        elif not hr_available:
            notes.append(f"{s.name}: cross left out (teacher_rows=False with teacher_features='port' runs no teacher; "
                         "use teacher_features='descriptors')")
        elif s.target_mean is None:
            notes.append(f"{s.name}: no target mean (no {TARGET_MEAN_NAME} beside {s.path} or up to "
                         f"{TARGET_MEAN_LEVELS} folders above, no target_mean given): cross uses uncentred teacher "
                         "features")
    for n in notes:
        say(f"note: {n}")

    # ---- faces (each image read once)
    faces: dict = {"hr": None}
    if resolutions or use_port_hr:
        t0 = time.time()
        faces = prepare_faces(root, pairs, resolutions, hr_size=tspec.input_size if use_port_hr else None,
                              padding=tspec.align_padding, seed=seed, progress=progress)
        timings["read_align_crop"] = time.time() - t0
        say(f"read and aligned {len(pairs.rows)} images in {timings['read_align_crop']:.1f} s")

    # ---- teacher
    scores: dict[str, np.ndarray] = {}
    teacher_info: dict[str, Any] = {"name": TEACHER, "features": teacher_features if teacher_rows or desc is not None
                                    else None, "rows": bool(teacher_rows)}
    hr = desc
    teacher = None
    tag = _rows_tag(pairs.rows)
    cache_root = out_dir / "teacher_features"
    if teacher_rows:
        if use_port_hr or resolutions:
            t0 = time.time()
            teacher = teachers.build(TEACHER)
            timings["teacher_build"] = time.time() - t0
        if use_port_hr:
            t0 = time.time()
            hr, stats = port_features(teacher, faces["hr"], pairs.rows, cache_root / f"hr{tspec.input_size}_{tag}",
                                      description={"lfw_view2": "HR chips", "images": tag},
                                      batch_size=batch_size, progress=progress)
            timings["teacher_hr"] = time.time() - t0
            teacher_info["hr_cache"] = {"dir": str(cache_root / f"hr{tspec.input_size}_{tag}"),
                                        **{k: stats.get(k) for k in ("computed_shards", "skipped_shards",
                                                                     "faces_computed")}}
            say(f"T: teacher on {len(pairs.rows)} HR chips in {timings['teacher_hr']:.1f} s "
                f"({stats.get('faces_computed', 0)} computed, rest cached)")
        scores["T"] = teacher_pair_scores(hr, pairs)
        faces.pop("hr", None)
        from skd_tf.data.degrade import upscale_to

        for p in resolutions:
            t0 = time.time()
            key = f"T-{p}-up"
            cdir = cache_root / f"up{p}_{tag}"
            up, stats = port_features(teacher, upscale_to(faces[p], tspec.input_size), pairs.rows, cdir,
                                      description={"lfw_view2": f"{p}-px test crops upscaled to {tspec.input_size}",
                                                   "images": tag}, batch_size=batch_size, progress=progress)
            scores[key] = teacher_pair_scores(up, pairs)
            timings[f"teacher_{p}_up"] = time.time() - t0
            teacher_info[f"up{p}_cache"] = {"dir": str(cdir), **{k: stats.get(k) for k in (
                "computed_shards", "skipped_shards", "faces_computed")}}
            say(f"{key}: teacher on {len(pairs.rows)} upscaled {p}-px crops in {timings[f'teacher_{p}_up']:.1f} s")

    # ---- students
    for s in loaded:
        t0 = time.time()
        cross_hr = hr if (hr is not None and s.mimic_dim == tspec.feature_dim) else None
        sc = student_pair_scores(s, faces[s.resolution], pairs, teacher_hr=cross_hr, batch_size=256)
        scores.update({f"{s.name}/{k}": v for k, v in sc.items()})
        timings[f"student {s.name}"] = time.time() - t0
        say(f"{s.name}: {s.kind} student at {s.resolution} px on {len(pairs.rows)} faces in "
            f"{timings[f'student {s.name}']:.1f} s")

    # ---- figures
    t0 = time.time()
    cv = pairs.cv_folds()
    reports: dict[str, Any] = {}
    table_rows = []
    for key, v in scores.items():
        model, _, feature = key.partition("/")
        rep = verification_report(v, pairs.is_same, cv)
        if feature:
            reports.setdefault(model, {})[feature] = rep
        else:
            reports[model] = rep
        table_rows.append(summary_row(model, feature or None, rep))
    table = format_view2_table(table_rows)
    from skd_tf.plots.verification import plot_roc

    curves = {k: (v, pairs.is_same) for k, v in scores.items() if "/" not in k}
    curves.update({s.name: (scores[f"{s.name}/{HEADLINE_FEATURE}"], pairs.is_same) for s in loaded})
    if curves:
        plot_roc(curves, out_dir / "roc.png", title=f"LFW View 2, folds {_fold_text(folds)} ({len(pairs)} pairs)")
    with atomic_path(out_dir / "scores.npz", suffix=".npz") as tmp:
        np.savez(tmp, is_same=pairs.is_same, fold=pairs.fold, cv_fold=cv, line=pairs.line, name_a=pairs.name_a,
                 index_a=pairs.index_a, name_b=pairs.name_b, index_b=pairs.index_b,
                 **{k.replace("/", "__"): v for k, v in scores.items()})
    timings["evaluation"] = time.time() - t0
    timings["total"] = time.time() - t_start
    results = {
        "protocol": "LFW View 2 (pairs.txt), cosine similarity of L2-normalised features (Section IV-A)",
        "lfw_root": str(root), "pairs": pairs.summary(),
        "exclude_people": str(exclude_people) if exclude_people is not None else None,
        "teacher": teacher_info, "students": [s.describe() for s in loaded],
        "crops": {"aligner": "skd_tf.data.align (dlib 5-point template, padding "
                             f"{tspec.align_padding})", "hr_size": tspec.input_size,
                  "student_crop": "degrade_faces(num_perturbations=1, jitter=0.0), anti-aliased", "seed": seed},
        "rows": table_rows, "reports": reports, "headline_feature": HEADLINE_FEATURE, "notes": notes,
        "table": table, "timings_s": timings,
    }
    write_json(out_dir / "results.json", json_safe(results))
    write_text(out_dir / "table.txt", table + "\n")
    say(f"wrote {out_dir / 'results.json'}, roc.png, scores.npz in {timings['total']:.1f} s")
    return View2Evaluation(results=results, scores=scores, pairs=pairs, table=table)


def _fold_text(folds: Sequence[int]) -> str:
    f = list(folds)
    return "1-10" if f == list(range(1, NUM_FOLDS + 1)) else ",".join(map(str, f))


def load_results(path: str | os.PathLike) -> dict:
    """Reads a results.json written by `evaluate_view2` (strict JSON)."""
    def bad(c):
        raise ValueError(f"{path}: non-standard JSON constant {c}")

    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=bad)
