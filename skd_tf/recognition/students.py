"""The student that recognises faces, its score and its threshold.

A student is named by `spec`: a pretrained name (`skd_tf.pretrained.names()`, e.g. "S-32-sc", with `kind` "keras",
"float32" or "int8"), "auto" (the pretrained student whose resolution is nearest the faces' own,
`skd_tf.data.detect.nearest_resolution`, so a small face is not upscaled), or a file of the user's: a `.keras`,
`.weights.h5` (+ its training config) or `.tflite` exported by `skd_tf.serving`, loaded through
`skd_tf.evaluation.view2_students.load_eval_student`.

Two faces are compared as the paper verifies (Section IV-A): the cosine of their L2-normalised identity-layer
features and of their mimic-layer features, averaged (`both`, Fig. 7's headline feature, the score the pretrained
cards' thresholds apply to). A pretrained student's threshold is its card's (chosen on training pairs at the
`operating_point`, the accuracy-maximising one by default); a user's student has none unless one is given.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from skd_tf import pretrained
from skd_tf.data.detect import nearest_resolution
from skd_tf.evaluation.verification import l2_normalize
from skd_tf.evaluation.view2_students import EvalStudent, load_eval_student

AUTO = "auto"


@dataclasses.dataclass
class Recognizer:
    """A loaded student, how it was named (`spec`, `kind`), and its `threshold` with where it comes from."""

    student: EvalStudent
    spec: str
    kind: str
    threshold: float | None
    threshold_source: str

    @property
    def resolution(self) -> int:
        return self.student.resolution

    def features(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """`{"identity", "mimic"}` L2-normalised float64 features of uint8 faces `[N, p, p, 3]`."""
        return {k: l2_normalize(v) for k, v in self.student.embed(np.asarray(crops, np.uint8)).items()}

    def decide(self, score: float) -> str | None:
        """"same" / "different" at the threshold (None without one)."""
        return None if self.threshold is None else ("same" if score > self.threshold else "different")

    def describe(self) -> dict:
        return {"student": self.spec, "kind": self.kind, "path": str(self.student.path),
                "resolution": self.resolution, "threshold": self.threshold, "threshold_source": self.threshold_source,
                "score": "both: mean of the cosines of the identity and mimic features"}


def both_scores(probe: dict[str, np.ndarray], references: dict[str, np.ndarray]) -> np.ndarray:
    """`[N_probe, N_reference]` scores `both` between L2-normalised features (`Recognizer.features`); references may
    be per-person templates (means of normalised features), normalised again here."""
    return 0.5 * sum(probe[k] @ l2_normalize(references[k]).T for k in ("identity", "mimic"))


def auto_student(native_resolutions: Sequence[float]) -> str:
    """The pretrained student whose resolution is nearest `native_resolutions`' smallest (ties: the smaller)."""
    by_res = {int(pretrained.card(n)["resolution"]): n for n in pretrained.names()}
    if not by_res:
        raise ValueError(f"student {AUTO!r}: no pretrained students are shipped under {pretrained.ROOT}")
    return by_res[nearest_resolution(min(native_resolutions), sorted(by_res))]


def load_recognizer(spec: str, *, kind: str = "keras", config: str | os.PathLike | None = None,
                    threshold: float | None = None, operating_point: str = "best_accuracy") -> Recognizer:
    """A `Recognizer` for `spec` (a pretrained name or a student file; "auto" is resolved by the caller with
    `auto_student`). `threshold` overrides the card's; `operating_point` picks the card's threshold
    ("far_1e-3", "far_1e-2" or "best_accuracy")."""
    from skd_tf.pretrained.evaluate import DEFAULT_OPERATING_POINT, OPERATING_POINTS

    if operating_point not in OPERATING_POINTS:
        raise ValueError(f"operating_point: expected one of {sorted(OPERATING_POINTS)}, got {operating_point!r}")
    if spec in pretrained.names():
        path = pretrained.artifact_path(spec, kind)
        card = pretrained.card(spec)
        if threshold is None:
            values = (card["threshold"] if operating_point == DEFAULT_OPERATING_POINT
                      else card["other_operating_points"][operating_point])["value"]
            threshold = float(values[kind])
            source = f"model card of {spec} ({operating_point}, chosen on training pairs)"
        else:
            source = "given"
        return Recognizer(load_eval_student(path, name=spec), spec, kind, float(threshold), source)
    if not Path(spec).exists():
        raise FileNotFoundError(f"student {spec!r}: neither a pretrained name ({', '.join(pretrained.names())} or "
                                f"{AUTO!r}) nor an existing .keras, .weights.h5 or .tflite file or run folder")
    student = load_eval_student(spec, config=config)
    return Recognizer(student, spec, student.kind, None if threshold is None else float(threshold),
                      "given" if threshold is not None else "none (a student of your own: pass a threshold)")
