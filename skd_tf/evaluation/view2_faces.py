"""The faces and teacher features of LFW View 2's images (paper Section IV-A/IV-C), and the teacher's pair scores.

Faces: every image of a pair is aligned with its 5 landmarks of `../shared/data/lfw/dlib/landmarks5.csv` (row r = row
r of `descriptors.npy`); the teacher sees the 150-px high-resolution chip and the student's test crop is
`degrade_faces(..., p, num_perturbations=1, jitter=0.0)` (the unperturbed anti-aliased p-px crop the project uses for
test faces, Section IV-A), seeded by the CSV row id like the fold experiment `experiments/lfw_lowres.py`. Each
distinct image is read once (`prepare_faces`).

Teacher features (`dlib_resnet`, 128-D) come from the Keras port (`port_features`, cached and resumable via
`skd_tf.features.extract.extract_to_cache`) or from real dlib's `dlib/descriptors.npy` (`descriptor_features`, no
network pass; the port matches them to cosine >= 0.9999998). `teacher_pair_scores` is the cosine of the two teacher
features of a pair: the `T` and `T-<p>-up` rows of `skd_tf.evaluation.lfw_view2.evaluate_view2`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from skd_tf.data.align import align_face
from skd_tf.data.degrade import degrade_faces
from skd_tf.data.images import check_landmarks, read_rgb
from skd_tf.data.lfw import read_landmarks_csv
from skd_tf.evaluation.verification import cosine_scores
from skd_tf.evaluation.view2_pairs import IMAGES, LANDMARKS, View2Pairs
from skd_tf.features.cache import load_features
from skd_tf.features.extract import ArraySource, extract_to_cache
from skd_tf.models import teachers

TEACHER = "dlib_resnet"
DESCRIPTORS = "dlib/descriptors.npy"
DESCRIPTORS_INDEX = "dlib/descriptors_index.txt"


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
    root = Path(lfw_root) / IMAGES
    csv_path = Path(lfw_root) / LANDMARKS
    m = len(pairs.rows)
    res = sorted({int(p) for p in resolutions})
    out: dict = {"hr": np.empty((m, hr_size, hr_size, 3), np.uint8) if hr_size else None}
    for p in res:
        out[p] = np.empty((m, p, p, 3), np.uint8)
    starts = range(0, m, int(chunk))
    if progress:
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


def port_features(teacher, images: np.ndarray, rows: np.ndarray, cache_dir: str | os.PathLike, *,
                  description: Mapping[str, Any], batch_size: int = 64, progress: bool = False) -> tuple[np.ndarray,
                                                                                                       dict]:
    """The teacher's features of aligned `images` (`[M, 150, 150, 3]`, row ids `rows`), through the resumable
    feature cache at `cache_dir` (`extract_to_cache` with an `ArraySource`): a rerun on the same faces reads them.
    Returns (features [M, D] in the order of `rows`, extraction stats)."""
    tspec = teachers.spec(TEACHER)
    stats = extract_to_cache(teacher, ArraySource(images, row_ids=rows, description=dict(description)), cache_dir,
                             manifest={"teacher": TEACHER, "layer": tspec.feature_layer}, batch_size=batch_size,
                             progress=progress)
    feats, ids = load_features(cache_dir)
    where = {int(r): k for k, r in enumerate(ids)}
    return np.asarray(feats[[where[int(r)] for r in rows]], np.float32), stats


def teacher_pair_scores(features: np.ndarray, pairs: View2Pairs) -> np.ndarray:
    """Cosine of the two teacher features of every pair (the T / T-p-up rows)."""
    return cosine_scores(features[pairs.pair_a], features[pairs.pair_b])
