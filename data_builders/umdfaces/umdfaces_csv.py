"""The UMDFaces still-image annotation CSVs (``umdfaces_batchK/umdfaces_batchK_ultraface.csv``).

Columns, as documented in the UMDFaces README (read by name, so their order does not matter; extra columns are
ignored; a missing one is an error that lists what was expected):

    SUBJECT_ID, FILE, FACE_X, FACE_Y, FACE_WIDTH, FACE_HEIGHT, YAW, PITCH, ROLL,
    P1X, P1Y, VIS1, ..., P21X, P21Y, VIS21, PR_MALE, PR_FEMALE

``FILE`` is relative to the batch folder (``<subject folder>/<image>.jpg``); the face box is in pixels; yaw, pitch
and roll in degrees; the 21 keypoints follow the AFLW 21-point scheme (1-6 eyebrows, 7-9 and 10-12 the corners and
centre of each eye, 13 and 17 the ears, 14-16 the nose, 18-20 the mouth, 21 the chin), with visibility flags.

The project's 5 landmarks (CONTRIBUTING.md, dlib's order: outer and inner corner of the eye on the image's right,
outer and inner corner of the eye on the image's left, base of the nose) come directly from keypoints: the eye
corners P7, P9 and P10, P12, assigned to the image-right / image-left eye and to outer / inner by their x
coordinates (so the result does not depend on which side the dataset calls "left"), and the nose centre P15 (the
middle of AFLW's three lower nose points) as the base of the nose. Keypoints marked invisible still carry the
annotator network's estimate and are used as they are; their visibility is kept in the examples.
"""
from __future__ import annotations

import csv
import dataclasses
import io
from typing import Iterable, Sequence

import numpy as np

NUM_KEYPOINTS = 21
BASE_COLUMNS = ("SUBJECT_ID", "FILE", "FACE_X", "FACE_Y", "FACE_WIDTH", "FACE_HEIGHT", "YAW", "PITCH", "ROLL")
KEYPOINT_COLUMNS = tuple(c for i in range(1, NUM_KEYPOINTS + 1) for c in (f"P{i}X", f"P{i}Y", f"VIS{i}"))
GENDER_COLUMNS = ("PR_MALE", "PR_FEMALE")
COLUMNS = BASE_COLUMNS + KEYPOINT_COLUMNS + GENDER_COLUMNS
#: 1-based keypoints used for the 5 landmarks: one eye's corners, the other eye's corners, the nose centre.
EYE_A, EYE_B, NOSE = (7, 9), (10, 12), 15


@dataclasses.dataclass(frozen=True)
class UmdFace:
    """One row of an ultraface CSV."""

    subject_id: int
    file: str
    box: tuple[float, float, float, float]  # x, y, width, height
    pose: tuple[float, float, float]  # yaw, pitch, roll (degrees)
    keypoints: np.ndarray = dataclasses.field(compare=False)  # float32 [21, 2]
    visible: np.ndarray = dataclasses.field(compare=False)  # bool [21]
    pr_male: float = 0.0
    pr_female: float = 0.0
    line: int = dataclasses.field(default=0, compare=False)  # 1-based line in the CSV (0: built by hand)


def parse_csv(text: str, source: str) -> list[UmdFace]:
    """Parses the text of one ultraface CSV; ValueError naming `source`, the line and the column on bad input."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ValueError(
            f"{source}: not a UMDFaces ultraface CSV: missing columns {missing}. Expected the columns "
            f"{', '.join(BASE_COLUMNS)}, P1X, P1Y, VIS1, ..., P21X, P21Y, VIS21, {', '.join(GENDER_COLUMNS)}; "
            f"found {header}"
        )
    faces = []
    for row in reader:
        line = reader.line_num

        def num(col: str) -> float:
            value = (row.get(col) or "").strip()
            try:
                return float(value)
            except ValueError:
                raise ValueError(f"{source}:{line}: column {col}: expected a number, got {value!r}") from None

        file = (row.get("FILE") or "").strip()
        if not file:
            raise ValueError(f"{source}:{line}: column FILE: expected a relative image path, got an empty value")
        subject = num("SUBJECT_ID")
        if subject != int(subject):
            raise ValueError(f"{source}:{line}: column SUBJECT_ID: expected an integer, got {row['SUBJECT_ID']!r}")
        box = tuple(num(c) for c in ("FACE_X", "FACE_Y", "FACE_WIDTH", "FACE_HEIGHT"))
        if box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"{source}:{line}: FACE_WIDTH/FACE_HEIGHT must be positive, got {box[2:]}")
        kp = np.array([[num(f"P{i}X"), num(f"P{i}Y")] for i in range(1, NUM_KEYPOINTS + 1)], np.float32)
        vis = np.array([num(f"VIS{i}") for i in range(1, NUM_KEYPOINTS + 1)]) > 0
        faces.append(
            UmdFace(
                subject_id=int(subject),
                file=file,
                box=box,
                pose=(num("YAW"), num("PITCH"), num("ROLL")),
                keypoints=kp,
                visible=vis,
                pr_male=num("PR_MALE"),
                pr_female=num("PR_FEMALE"),
                line=line,
            )
        )
    return faces


def dlib5_indices(keypoints) -> np.ndarray:
    """The 0-based indices of the 21 keypoints that give the project's 5 landmarks, in dlib's order."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (NUM_KEYPOINTS, 2):
        raise ValueError(f"keypoints: expected shape [{NUM_KEYPOINTS}, 2], got {kp.shape}")
    eye_a = np.array(EYE_A) - 1
    eye_b = np.array(EYE_B) - 1
    right, left = (eye_a, eye_b) if kp[eye_a, 0].mean() > kp[eye_b, 0].mean() else (eye_b, eye_a)
    right = right[np.argsort(-kp[right, 0], kind="stable")]  # image-right eye: the outer corner has the larger x
    left = left[np.argsort(kp[left, 0], kind="stable")]  # image-left eye: the outer corner has the smaller x
    return np.concatenate([right, left, [NOSE - 1]]).astype(np.int64)


def dlib5_from_keypoints(keypoints) -> np.ndarray:
    """The project's 5 landmarks (float32 [5, 2]) from the 21 UMDFaces keypoints (module docstring)."""
    kp = np.asarray(keypoints, dtype=np.float32)
    return kp[dlib5_indices(kp)]


def contiguous_labels(subject_ids: Iterable[int]) -> dict[int, int]:
    """subject id -> label 0..C-1 in increasing subject-id order."""
    return {s: i for i, s in enumerate(sorted(set(int(s) for s in subject_ids)))}


def format_row(values: Sequence) -> str:
    """One CSV row (used by the dummy-data generator)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()
