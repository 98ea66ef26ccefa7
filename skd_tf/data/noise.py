"""Planted training noise with recorded ground truth: the test of when Eq. 3's selection pays (issue 14, item 3).

The paper motivates selection with noisy web data (Section III-B: faces that are "noisy, low-quality or even
mislabeled" in UMDFaces). LFW's training people are clean, so the noise is planted, at known rates and before
anything else runs (teacher features, selection, students), on the training faces of a fold:

* **wrong labels**: a fraction `label_rate` of the faces of people with >= 2 training images is moved to another
  training identity, drawn uniformly among all the others (a mislabeled web face);
* **unusable faces**: a fraction `unusable_rate` of those faces (disjoint from the relabelled ones) is corrupted in
  its high-resolution image (`corrupt_chip`: extreme blur, then an opaque occluder over about half the face), so the
  teacher sees the corrupted face as well as the student.

Only faces of people with >= 2 images are eligible because Eq. 3 can only discard a face against others of its class
(a single-image class has no pairwise term). The draws are pure functions of the seed; only the training rows passed
in are ever touched, so test people stay clean. `discard_scores` measures the selection against the ground truth.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

__all__ = ["PlantedNoise", "plant_noise", "corrupt_chip", "discard_scores"]

#: Gaussian blur sigma of an unusable face, as a fraction of the chip's side (9 px on a 150-px chip).
BLUR_SIGMA = 0.06
#: Side of the square occluder of an unusable face, as a fraction of the chip's side.
OCCLUDER_SIDE = 0.55


def _check_rate(name: str, rate) -> float:
    r = float(rate)
    if not 0.0 <= r < 1.0:
        raise ValueError(f"{name}: expected a fraction in [0, 1), got {rate!r}")
    return r


@dataclasses.dataclass(frozen=True)
class PlantedNoise:
    """The training table after planting, with the ground truth (all arrays aligned with `row_ids`)."""

    row_ids: np.ndarray  # int64 [N]
    labels: np.ndarray  # int64 [N], labels after relabelling: what the run trains on
    true_labels: np.ndarray  # int64 [N], labels before planting
    wrong_label: np.ndarray  # bool [N], moved to another identity
    unusable: np.ndarray  # bool [N], image corrupted by `corrupt_chip`
    eligible: np.ndarray  # bool [N], faces of people with >= 2 images (before planting)
    seed: int

    @property
    def planted(self) -> np.ndarray:
        """Faces a perfect selection would discard."""
        return self.wrong_label | self.unusable

    @property
    def unusable_rows(self) -> np.ndarray:
        return self.row_ids[self.unusable]

    def summary(self) -> dict:
        """Counts and the ground truth (row ids) as JSON-ready values."""
        return {"faces": int(len(self.row_ids)), "eligible_faces": int(self.eligible.sum()), "seed": self.seed,
                "wrong_label": int(self.wrong_label.sum()), "unusable": int(self.unusable.sum()),
                "wrong_label_rows": self.row_ids[self.wrong_label].tolist(),
                "wrong_label_true_labels": self.true_labels[self.wrong_label].tolist(),
                "wrong_label_new_labels": self.labels[self.wrong_label].tolist(),
                "unusable_rows": self.unusable_rows.tolist()}


def plant_noise(row_ids, labels, *, label_rate: float = 0.0, unusable_rate: float = 0.0, seed: int = 0
                ) -> PlantedNoise:
    """Plants the module docstring's noise in the training table (`row_ids [N]`, contiguous `labels [N]`).

    round(rate * eligible) faces are drawn for each kind (without replacement, unusable faces among the eligible faces
    that keep their label) from `np.random.default_rng((seed, 14))`; a relabelled face gets a label drawn uniformly
    among the other training identities. Raises ValueError when the rates ask for more faces than are eligible.
    """
    rows = np.asarray(row_ids, np.int64).reshape(-1)
    true = np.asarray(labels, np.int64).reshape(-1)
    if rows.shape != true.shape:
        raise ValueError(f"labels: expected one label per row id ({rows.size}), got {true.size}")
    label_rate, unusable_rate = _check_rate("label_rate", label_rate), _check_rate("unusable_rate", unusable_rate)
    num_classes = int(true.max()) + 1 if true.size else 0
    eligible = np.bincount(true, minlength=num_classes)[true] >= 2 if true.size else np.zeros(0, bool)
    pool = np.flatnonzero(eligible)
    n_wrong, n_unusable = round(label_rate * pool.size), round(unusable_rate * pool.size)
    if n_wrong + n_unusable > pool.size:
        raise ValueError(f"label_rate + unusable_rate = {label_rate + unusable_rate}: more planted faces "
                         f"({n_wrong + n_unusable}) than faces of people with >= 2 images ({pool.size})")
    if n_wrong and num_classes < 2:
        raise ValueError("label_rate > 0 needs at least two training identities to move faces between")
    rng = np.random.default_rng((int(seed), 14))
    drawn = rng.permutation(pool)
    wrong_idx, unusable_idx = np.sort(drawn[:n_wrong]), np.sort(drawn[n_wrong:n_wrong + n_unusable])
    new = true.copy()
    shift = rng.integers(1, num_classes, size=n_wrong) if n_wrong else np.zeros(0, np.int64)
    new[wrong_idx] = (true[wrong_idx] + shift) % num_classes  # uniform over the other identities
    wrong, unusable = np.zeros(rows.size, bool), np.zeros(rows.size, bool)
    wrong[wrong_idx], unusable[unusable_idx] = True, True
    return PlantedNoise(rows, new, true, wrong, unusable, eligible, int(seed))


def corrupt_chip(image, seed: int, row_id: int) -> np.ndarray:
    """An unusable version of the aligned face `image` (uint8 ``[H, W, 3]``): Gaussian blur of sigma BLUR_SIGMA * W,
    then a flat square occluder of side OCCLUDER_SIDE * W in a random grey level, centred at a random point of the
    chip's central half. Deterministic in (seed, row id)."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image: expected a uint8 RGB chip [H, W, 3], got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    rng = np.random.default_rng((int(seed), int(row_id), 15))
    out = cv2.GaussianBlur(np.ascontiguousarray(img), (0, 0), BLUR_SIGMA * w, borderType=cv2.BORDER_REFLECT)
    side = max(1, round(OCCLUDER_SIDE * w))
    cx, cy = rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    out[max(0, y0):max(0, y0 + side), max(0, x0):max(0, x0 + side)] = int(rng.integers(0, 256))
    return out


def discard_scores(alpha, noise: PlantedNoise) -> dict:
    """How well a selection (`alpha [N]`, 1 = kept, aligned with `noise.row_ids`) discards the planted faces, among
    the faces Eq. 3 decides: those of classes with >= 2 faces under the labels the run trains on (a one-image class
    has no pairwise term, and Eq. 3 at lambda < 0 discards it whatever it holds; every planted face is in a class
    of >= 2). Precision: planted among the discarded; recall: discarded among the planted; and the counts."""
    alpha = np.asarray(alpha).astype(bool).reshape(-1)
    if alpha.shape != noise.row_ids.shape:
        raise ValueError(f"alpha: expected {noise.row_ids.size} values (one per training face), got {alpha.size}")
    decided = np.bincount(noise.labels)[noise.labels] >= 2
    discarded = ~alpha & decided
    planted = noise.planted
    hits = int((discarded & planted).sum())
    n_discarded, n_planted = int(discarded.sum()), int(planted.sum())
    return {"decided": int(decided.sum()), "discarded": n_discarded, "planted": n_planted, "planted_discarded": hits,
            "precision": hits / n_discarded if n_discarded else float("nan"),
            "recall": hits / n_planted if n_planted else float("nan")}
