"""Decoded high-resolution chips of chosen faces of a TFDS split, and their crops in memory.

The streaming pipeline (`skd_tf.data.sources.DegradedFaces`) never holds the chips; three steps of the paper pipeline
need some of them decoded in memory: the regression-fit report (`skd_tf.experiments.fit_report`), the teacher's
features of faces made unusable by the noise study (`skd_tf.data.noise`), and the `memory` student input, which
renders each training face's fixed K crops once instead of once per epoch (`render_crops`: for data that fits in
memory, where re-rendering every epoch would cost more than the small student's training step). Crops are
`degrade_faces`' with the run's `Degradation` settings, so they are the streamed crops, pixel for pixel; only the
batch order differs.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from skd_tf.data.degrade import degrade_faces
from skd_tf.data.noise import corrupt_chip
from skd_tf.data.sources import CropArrays, Degradation, TfdsFaces

__all__ = ["FaceChips", "read_chips", "render_crops"]


@dataclasses.dataclass
class FaceChips:
    """Decoded chips (uint8 ``[H, W, 3]``) and their 5 landmarks (float64 ``[5, 2]``) of `row_ids`, in that order."""

    row_ids: np.ndarray
    images: list[np.ndarray]
    landmarks: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.row_ids)


def read_chips(faces: TfdsFaces, rows, *, corrupt_rows=(), corrupt_seed: int = 0) -> FaceChips:
    """The chips of `rows` (row ids of `faces`), reading the split once. Faces in `corrupt_rows` come back made
    unusable (`skd_tf.data.noise.corrupt_chip` with `corrupt_seed`), as the noise study plants them. Raises
    ValueError naming the dataset and the row ids that are not in the split."""
    rows = np.asarray(rows, np.int64).reshape(-1)
    wanted = {int(r): i for i, r in enumerate(rows)}
    corrupt = {int(r) for r in np.asarray(corrupt_rows, np.int64).reshape(-1)}
    images, landmarks = [None] * len(rows), [None] * len(rows)
    for encoded, lm, row in faces.read(0, len(faces)):
        r = int(row)
        i = wanted.get(r)
        if i is None:
            continue
        image = faces.decode(encoded).numpy()
        images[i] = corrupt_chip(image, corrupt_seed, r) if r in corrupt else image
        landmarks[i] = lm.numpy().astype(np.float64)
    missing = [r for r, i in wanted.items() if images[i] is None]
    if missing:
        raise ValueError(f"TFDS {faces.name}: row ids {missing[:10]} are not in the split")
    return FaceChips(rows, images, landmarks)


def render_crops(chips: FaceChips, degradation: Degradation) -> CropArrays:
    """Every chip's crops of epoch 0 (the fixed K perturbations of `Degradation.degrade`, i.e. `degrade_faces`
    with the degradation's settings) as in-memory `CropArrays`. Only the `fixed` sampling has one set of crops for
    every epoch."""
    if degradation.sampling != "fixed":
        raise ValueError(f"render_crops: sampling {degradation.sampling!r} draws new crops every epoch; in-memory "
                         f"crops need sampling='fixed'")
    images, source_rows = degrade_faces(np.stack(chips.images), np.stack(chips.landmarks), chips.row_ids,
                                        int(degradation.resolution), num_perturbations=degradation.crops_per_face,
                                        jitter=degradation.jitter, padding=degradation.padding, seed=degradation.seed)
    return CropArrays(images, source_rows)
