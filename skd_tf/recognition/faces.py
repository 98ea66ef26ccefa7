"""Faces from image files: detection, dlib's 5 landmarks and the student's low-resolution crop of each photo.

The paper's students see faces aligned by a similarity transform on facial landmarks and rendered at p x p
(Section IV-A). `FaceFinder` does that for any photo: dlib's HOG detector and 5-point predictor
(`skd_tf.data.detect.FaceDetector`; the largest face of a photo is the one used, the count of faces is reported),
then the crop rendered as the training crops are (`skd_tf.data.detect.face_crop`) at each resolution asked for. With
`aligned=True` the files are already aligned face chips (dlib's template, padding 0.25, any size: the case of faces
too small for the detector, whose smallest box is about 40 px at upsample 1, 20 px at 2) and are area-resized to p.

A photo without a detected face, or an unreadable file, is never dropped silently: its `PhotoFace` says so
(`status` "no_face" / "unreadable", with the error), and the callers count and list them. With `centred_fallback`
a photo where the detector finds no face is taken as a centred face crop framed like LFW's images: the landmarks are
looked for in the box where LFW's median HOG face lies, scaled to the photo (`CENTRED_BOX`; dlib's own fallback for
the 67 LFW images of `landmarks5.csv` whose `det` is `fixed`), and the face's `status` is "centred_box".
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from skd_tf.data.detect import FaceDetector, face_crop, native_resolution
from skd_tf.data.images import CorruptFaceError, read_rgb

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: "ok" and "centred_box" faces have crops; the others are counted and listed by the callers.
STATUSES = ("ok", "centred_box", "no_face", "unreadable")
USABLE = ("ok", "centred_box")
#: The fallback box (left, top, right, bottom) as fractions of the photo's width / height: dlib's box for the LFW
#: images HOG misses, (67, 80, 175, 187) in 250 x 250 px, the per-coordinate median of its HOG boxes on LFW
#: (`../shared/data/lfw/dlib/README.md`, "Detection").
CENTRED_BOX = (67 / 250, 80 / 250, 175 / 250, 187 / 250)


@dataclasses.dataclass
class PhotoFace:
    """The face of one image file: `status` (`STATUSES`), `n_faces` detected, the chosen face's
    `box` (left, top, right, bottom) and `landmarks` (None for aligned chips), its `native_resolution` in pixels,
    `crops` {p: uint8 [p, p, 3]} and `error` (what went wrong, for "unreadable")."""

    path: str
    status: str
    n_faces: int = 0
    box: tuple[int, int, int, int] | None = None
    landmarks: np.ndarray | None = None
    native_resolution: float | None = None
    crops: dict[int, np.ndarray] = dataclasses.field(default_factory=dict, repr=False)
    error: str | None = None

    def describe(self) -> dict:
        """JSON-ready summary (no pixels)."""
        return {"path": self.path, "status": self.status, "n_faces": self.n_faces,
                "box": list(self.box) if self.box is not None else None,
                "native_resolution": None if self.native_resolution is None else round(self.native_resolution, 1),
                **({"error": self.error} if self.error else {})}


class FaceFinder:
    """Reads image files and returns their `PhotoFace` with crops at each of `resolutions`.

    `aligned`: the files are aligned face chips (no detection). `upsample`: dlib's upsampling (1: the setting of
    LFW's landmarks5.csv; 2 finds faces down to about 20 px, 4x slower). `centred_fallback`: a photo without a
    detected face is taken as a centred face crop (`CENTRED_BOX`, module docstring).
    """

    def __init__(self, resolutions: Sequence[int], *, aligned: bool = False, upsample: int = 1,
                 centred_fallback: bool = False):
        self.resolutions = sorted({int(p) for p in resolutions})
        if not self.resolutions:
            raise ValueError("resolutions: expected at least one student resolution")
        self.aligned = bool(aligned)
        self.centred_fallback = bool(centred_fallback)
        self.detector = None if self.aligned else FaceDetector(upsample=upsample)

    def __call__(self, path: str | os.PathLike) -> PhotoFace:
        text = os.fspath(path)
        try:
            image = read_rgb(text)
        except CorruptFaceError as e:
            return PhotoFace(text, "unreadable", error=str(e))
        if self.aligned:
            return PhotoFace(text, "ok", n_faces=1, native_resolution=float(min(image.shape[:2])),
                             crops={p: cv2.resize(image, (p, p), interpolation=cv2.INTER_AREA)
                                    for p in self.resolutions})
        faces = self.detector(image)
        if faces:
            status, box, landmarks = "ok", faces[0].box, faces[0].landmarks
        elif self.centred_fallback:
            h, w = image.shape[:2]
            box = tuple(int(round(f * side)) for f, side in zip(CENTRED_BOX, (w, h, w, h)))
            status, landmarks = "centred_box", self.detector.landmarks_in_box(image, box)
        else:
            return PhotoFace(text, "no_face")
        return PhotoFace(text, status, n_faces=len(faces), box=box, landmarks=landmarks,
                         native_resolution=native_resolution(landmarks),
                         crops={p: face_crop(image, landmarks, p) for p in self.resolutions})


def image_files(paths: Iterable[str | os.PathLike], what: str = "images") -> list[Path]:
    """Image files named by `paths`: files as given, folders searched recursively (sorted); raises naming a missing
    path, or `what` when nothing is found."""
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found.extend(sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{what}: {path} is neither an image file nor a folder")
    if not found:
        raise ValueError(f"{what}: no image files ({', '.join(IMAGE_SUFFIXES)}) in {[str(p) for p in paths]}")
    return found


def gallery_files(gallery: str | os.PathLike) -> list[tuple[str, Path]]:
    """`(person, image file)` of a gallery folder laid out as one subfolder per person (`gallery/<person>/*.jpg`,
    searched recursively); image files at the gallery's top level are refused (they name no person)."""
    root = Path(gallery)
    if not root.is_dir():
        raise FileNotFoundError(f"gallery {root}: not a folder (expected one subfolder per person)")
    loose = sorted(f.name for f in root.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if loose:
        raise ValueError(f"gallery {root}: image files at its top level ({', '.join(loose[:3])}); expected one "
                         "subfolder per person, named after them, holding that person's images")
    out = [(person.name, f) for person in sorted(p for p in root.iterdir() if p.is_dir())
           for f in sorted(person.rglob("*")) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    if not out:
        raise ValueError(f"gallery {root}: no person subfolder holds image files ({', '.join(IMAGE_SUFFIXES)})")
    return out
