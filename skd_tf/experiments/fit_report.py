"""Does the mimic layer fit its targets, and what would the pixels allow? (issue 14; Eq. 5's regression).

For every resolution p of a run: faces drawn (seeded, the same for every p) from the training faces are split into `fit`
and `eval` faces, each rendered once as the students see them (`Degradation.degrade`, epoch 0), and

* `student`: the explained fraction of the regression targets (`skd_tf.analysis.fit.explained_fraction`) by each
  student's mimic output on the eval faces, with the targets as the loss sees them (`normalise_target`);
* `ceiling`: the teacher run on the same low-resolution faces upscaled to its input size (the T-p-up row), followed
  by the least-squares affine map onto the targets fitted on the fit faces, explained fraction on the eval faces
  (`linear_ceiling`): a diagnostic of how much of the target the pixels carry, not a bound the student must obey.

These are training faces, so `student` measures the fit of Eq. 5 on the data it was trained on (with fresh eval
faces it is also a generalisation figure when `eval` rows were not trained on; here they were).
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import tensorflow as tf

from skd_tf.analysis.fit import explained_fraction, linear_ceiling
from skd_tf.data.chips import FaceChips
from skd_tf.data.degrade import upscale_to
from skd_tf.data.sources import Degradation
from skd_tf.serving.loading import load_keras_file
from skd_tf.training.losses import normalise_target

__all__ = ["regression_fit"]


def regression_fit(read: Callable[[np.ndarray], FaceChips], rows: np.ndarray, targets: np.ndarray,
                   degradations: Mapping[int, Degradation], teacher, teacher_size: int,
                   students: Mapping[int, Mapping[str, str]], *, feature_norm: str, feature_scale: float,
                   num_fit: int = 2000, num_eval: int = 1000, seed: int = 0) -> dict[str, dict]:
    """The module docstring's figures for every resolution of a run, on one seeded draw of faces (read once).

    `read` returns the chips of given row ids (`skd_tf.data.chips.read_chips` on the run's faces, with the run's
    unusable faces corrupted); `rows` / `targets` are the training table (row ids, the centred teacher features the
    run regresses);
    `degradations` maps each resolution p to the run's `Degradation`; `teacher` is the teacher network (a Keras
    model mapping ``[N, teacher_size, teacher_size, 3]`` chips, 0..255, to features); `students` maps p to
    {name: `.keras` file}. Returns ``{str(p): {"resolution", "num_fit", "num_eval", "ceiling", "students": {name:
    explained}}}``.
    """
    rows, targets = np.asarray(rows), np.asarray(targets, np.float32)
    if len(rows) != len(targets):
        raise ValueError(f"rows ({len(rows)}) and targets ({len(targets)}) must have one entry per training face")
    total = min(len(rows), int(num_fit) + int(num_eval))
    n_fit = min(int(num_fit), (2 * total) // 3)
    if total - n_fit < 1 or n_fit < 2:
        raise ValueError(f"regression_fit: {len(rows)} training faces are too few for a fit and an eval set")
    pick = np.random.default_rng(seed).choice(len(rows), total, replace=False)
    chips = read(rows[pick])
    goal = normalise_target(tf.constant(targets[pick]), feature_norm, feature_scale).numpy()
    fit, ev = slice(0, n_fit), slice(n_fit, total)
    results = {}
    for p, degradation in degradations.items():
        crops = np.stack([degradation.degrade(im, lm, int(r), 0)[0]
                          for im, lm, r in zip(chips.images, chips.landmarks, chips.row_ids)])
        upscaled = np.concatenate([
            np.asarray(teacher(upscale_to(crops[i:i + 64], int(teacher_size)).astype(np.float32), training=False),
                       np.float64)
            for i in range(0, total, 64)])
        result = {"resolution": int(p), "num_fit": n_fit, "num_eval": total - n_fit,
                  "ceiling": linear_ceiling(upscaled[fit], goal[fit], upscaled[ev], goal[ev]), "students": {}}
        for name, path in students.get(p, {}).items():
            mimic = np.asarray(load_keras_file(path)(crops[ev].astype(np.float32), training=False)["mimic"])
            result["students"][name] = explained_fraction(goal[ev], mimic)
        results[str(p)] = result
    return results
