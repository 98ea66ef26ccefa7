"""Faces for calibrating the full-int8 student and for measuring an artifact's parity with Keras.

Full integer quantisation (`skd_tf.serving.tflite`, kind `int8`) fixes each activation's range from representative
inputs, which should be faces as the student sees them: aligned by dlib's 5 points and downsampled to p x p.
`representative_faces` reads them from a spec (the student's own training arrays, real LFW faces, or synthetic
faces), so the export CLI, the demo and the benchmarks calibrate the same way.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from skd_tf.data.align import align_face
from skd_tf.data.lfw import read_landmarks_csv
from skd_tf.data.synthetic import generate_faces
from skd_tf.serving.signatures import as_uint8_images
from skd_tf.utils.io import read_npy, read_npz
from skd_tf.utils.paths import lfw_dir


def lowres_from_chips(chips: np.ndarray, resolution: int) -> np.ndarray:
    """Student inputs from aligned teacher chips: area-averaged down-sampling to p x p (same alignment template)."""
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
        spec = "lfw" if (lfw_dir() / "dlib" / "landmarks5.csv").is_file() else "synthetic"
    if spec == "lfw":
        return lfw_faces(resolution, n, seed=seed)[0], f"{n} LFW faces (dlib 5-point alignment, seed {seed})"
    if spec == "synthetic":
        per = 8
        ids = max(1, -(-n // per))
        return synthetic_faces(resolution, ids, per, seed=seed)[0][:n], f"{n} synthetic faces (seed {seed})"
    raise ValueError(f"representative: expected npz:PATH, npy:PATH, lfw or synthetic, got {spec!r}")
