"""UCCS (UnConstrained College Students) reader and the paper's 180-subject identification subset.

The UCCS challenge distributes its ground truth as a CSV with a header row; the columns used here are

    FILE, FACE_ID, SUBJECT_ID, FACE_X, FACE_Y, FACE_WIDTH, FACE_HEIGHT

(read by name: their order does not matter and extra columns are ignored; a missing one is an error naming the
file and the expected columns). ``FILE`` is an image name relative to the image folder, ``FACE_ID`` identifies one
face (an image can hold several), ``SUBJECT_ID`` is the identity (negative ids mark unknown people and are never
part of the subset) and the box is in pixels.

The paper's subset (Ge et al., TIP 2019, section IV-D, following VLRR [36]): the 180 subjects with the most faces
(ties broken by the smaller subject id), every face cropped from its box and normalised to 16 x 16, then split 4:1
into training and testing with a seeded shuffle. The split is stratified per subject (each subject puts
``floor(n / 5)`` of its ``n`` faces into testing), so every test identity is also a training identity, as
closed-set identification requires; this gives slightly more than 80 % for training, as the paper's 3,918 / 907
(81.2 %) does. Crops: the box is widened to a square around its centre (side ``max(w, h) * box_scale``), cut out
with black outside the image, resized to ``hr_size`` (80, VLRR's high-resolution size) and area-downsampled to
``size`` (16: VLRR's factor 5).
"""
from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from skd_tf.data.images import (
    DEFAULT_MARGIN,
    CorruptFaceError,
    check_box,
    check_margin,
    check_on_corrupt,
    read_rgb,
    skip_or_raise,
)

__all__ = [
    "COLUMNS",
    "UccsFace",
    "UccsSubset",
    "read_uccs_csv",
    "select_subjects",
    "stratified_split",
    "crop_face",
    "load_uccs_subset",
    "write_synthetic_uccs",
]

COLUMNS = ("FILE", "FACE_ID", "SUBJECT_ID", "FACE_X", "FACE_Y", "FACE_WIDTH", "FACE_HEIGHT")


@dataclasses.dataclass(frozen=True)
class UccsFace:
    file: str
    face_id: int
    subject_id: int
    box: tuple[float, float, float, float]  # x, y, width, height
    line: int = dataclasses.field(default=0, compare=False)  # 1-based line in the CSV (0: built by hand)


@dataclasses.dataclass
class UccsSubset:
    """The identification subset: 16x16 faces with contiguous labels (CONTRIBUTING: labels are 0..C-1)."""

    train_images: np.ndarray  # uint8 [N, size, size, 3]
    train_labels: np.ndarray  # int64 [N]
    test_images: np.ndarray
    test_labels: np.ndarray
    subject_ids: np.ndarray  # int64 [C]: label -> UCCS subject id
    train_face_ids: np.ndarray
    test_face_ids: np.ndarray
    #: unusable faces left out (on_corrupt='skip'): {"file", "face_ids", "lines", "reason"} each (a corrupt image
    #: leaves out all its faces, a box far outside the image one)
    skipped: list[dict] = dataclasses.field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.subject_ids)


def read_uccs_csv(path: str | Path) -> list[UccsFace]:
    """Reads a UCCS ground-truth CSV; ValueError naming the file, the line and the column on bad input."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"UCCS CSV not found: {path} (expected columns {', '.join(COLUMNS)})")
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ValueError(
            f"{path}: not a UCCS ground-truth CSV: missing columns {missing}; expected {', '.join(COLUMNS)}, "
            f"found {header}"
        )
    faces = []
    seen: set[int] = set()
    for row in reader:
        line = reader.line_num

        def num(col: str) -> float:
            value = (row.get(col) or "").strip()
            try:
                return float(value)
            except ValueError:
                raise ValueError(f"{path}:{line}: column {col}: expected a number, got {value!r}") from None

        file = (row.get("FILE") or "").strip()
        if not file:
            raise ValueError(f"{path}:{line}: column FILE: expected an image name, got an empty value")
        face_id, subject = num("FACE_ID"), num("SUBJECT_ID")
        for col, v in (("FACE_ID", face_id), ("SUBJECT_ID", subject)):
            if v != int(v):
                raise ValueError(f"{path}:{line}: column {col}: expected an integer, got {row[col]!r}")
        if int(face_id) in seen:
            raise ValueError(f"{path}:{line}: column FACE_ID: duplicate face id {int(face_id)}")
        seen.add(int(face_id))
        box = tuple(num(c) for c in ("FACE_X", "FACE_Y", "FACE_WIDTH", "FACE_HEIGHT"))
        if box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"{path}:{line}: FACE_WIDTH/FACE_HEIGHT must be positive, got {box[2:]}")
        faces.append(UccsFace(file=file, face_id=int(face_id), subject_id=int(subject), box=box, line=line))
    if not faces:
        raise ValueError(f"{path}: no faces (expected a header row and one row per face)")
    return faces


def select_subjects(faces: Sequence[UccsFace], num_subjects: int = 180) -> np.ndarray:
    """The `num_subjects` known subjects with the most faces (ties: smaller id first), sorted by subject id."""
    ids, counts = np.unique([f.subject_id for f in faces if f.subject_id >= 0], return_counts=True)
    if len(ids) < num_subjects:
        raise ValueError(f"UCCS subset: {num_subjects} subjects requested, only {len(ids)} known subjects annotated")
    order = np.lexsort((ids, -counts))  # most faces first, then smaller id
    return np.sort(ids[order[:num_subjects]]).astype(np.int64)


def stratified_split(labels, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices), each sorted: per class, ``floor(n * test_fraction)`` seeded picks go to test."""
    labels = np.asarray(labels)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction}: expected a value in (0, 1)")
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_test = int(np.floor(len(idx) * test_fraction + 1e-9))
        test.extend(rng.permutation(idx)[:n_test].tolist())
    test_idx = np.sort(np.array(test, dtype=np.int64))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx


def crop_face(image, box, size: int = 16, hr_size: int = 80, box_scale: float = 1.0) -> np.ndarray:
    """Square crop around the face box, normalised to `hr_size` then area-downsampled to `size` (module docstring)."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image: expected RGB [H, W, 3], got shape {img.shape}")
    x, y, w, h = (float(v) for v in box)
    side = max(1, int(round(max(w, h) * float(box_scale))))
    x0 = int(round(x + w / 2.0 - side / 2.0))
    y0 = int(round(y + h / 2.0 - side / 2.0))
    # pad so the square lies inside the (black-bordered) image, then cut it out
    pad = max(0, -x0, -y0, x0 + side - img.shape[1], y0 + side - img.shape[0])
    if pad:
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    square = img[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side]
    interp = cv2.INTER_AREA if side > hr_size else cv2.INTER_LINEAR
    hr = cv2.resize(square, (hr_size, hr_size), interpolation=interp)
    if hr_size == size:
        return hr
    return cv2.resize(hr, (size, size), interpolation=cv2.INTER_AREA)


def load_uccs_subset(
    csv_path: str | Path,
    image_dir: str | Path | None = None,
    num_subjects: int = 180,
    size: int = 16,
    hr_size: int = 80,
    test_fraction: float = 0.2,
    seed: int = 0,
    on_corrupt: str = "fail",
    margin: float = DEFAULT_MARGIN,
) -> UccsSubset:
    """The paper's UCCS subset from a ground-truth CSV and its image folder (default: the CSV's folder).

    Missing images raise FileNotFoundError listing them. An unusable face, i.e. a truncated or undecodable image
    (`skd_tf.data.images`; all its faces) or a face box with a corner outside the image by more than `margin` x its
    size, raises `CorruptFaceError` (a ValueError) naming the image and the CSV line (``on_corrupt='fail'``) or is
    left out and recorded in ``skipped`` (``'skip'``).
    """
    check_on_corrupt(on_corrupt)
    margin = check_margin(margin)
    csv_path = Path(csv_path)
    image_dir = Path(image_dir) if image_dir is not None else csv_path.parent
    faces = read_uccs_csv(csv_path)
    subjects = select_subjects(faces, num_subjects)
    chosen = set(subjects.tolist())
    faces = sorted((f for f in faces if f.subject_id in chosen), key=lambda f: f.face_id)
    missing = sorted({f.file for f in faces if not (image_dir / f.file).is_file()})
    if missing:
        listed = "\n  ".join(missing[:20])
        more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise FileNotFoundError(
            f"UCCS image folder {image_dir} is incomplete: {len(missing)} images named in {csv_path.name} are "
            f"missing:\n  {listed}{more}"
        )
    crops, kept, skipped = [], [], []
    by_file: dict[str, list[UccsFace]] = {}
    for f in faces:
        by_file.setdefault(f.file, []).append(f)
    for file in sorted(by_file):  # each image is decoded once
        path = image_dir / file
        try:
            image = read_rgb(path)
        except CorruptFaceError as err:
            lines = [f.line for f in by_file[file]]
            err = type(err)(f"{err} (named in {csv_path} line(s) {', '.join(map(str, lines))})")
            skip_or_raise(err, on_corrupt, skipped, file=str(path), face_ids=[f.face_id for f in by_file[file]],
                          lines=lines)
            continue
        for f in by_file[file]:
            try:
                check_box(f.box, image.shape, f"{path} (face {f.face_id}, {csv_path} line {f.line})", margin)
            except CorruptFaceError as err:
                skip_or_raise(err, on_corrupt, skipped, file=str(path), face_ids=[f.face_id], lines=[f.line])
                continue
            crops.append(crop_face(image, f.box, size, hr_size))
            kept.append(f)
    order = np.argsort([f.face_id for f in kept], kind="stable")  # face-id order, independent of file names
    kept = [kept[i] for i in order]
    crops = [crops[i] for i in order]
    label_of = {s: i for i, s in enumerate(subjects.tolist())}
    labels = np.array([label_of[f.subject_id] for f in kept], dtype=np.int64)
    face_ids = np.array([f.face_id for f in kept], dtype=np.int64)
    images = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    train_idx, test_idx = stratified_split(labels, test_fraction, seed)
    return UccsSubset(
        train_images=images[train_idx],
        train_labels=labels[train_idx],
        test_images=images[test_idx],
        test_labels=labels[test_idx],
        subject_ids=subjects,
        train_face_ids=face_ids[train_idx],
        test_face_ids=face_ids[test_idx],
        skipped=skipped,
    )


def write_synthetic_uccs(
    out_dir: str | Path,
    num_subjects: int = 190,
    max_faces: int = 6,
    num_unknown: int = 5,
    seed: int = 0,
    csv_name: str = "training.csv",
) -> Path:
    """Writes a synthetic stand-in for UCCS (no real faces) in the challenge's CSV layout; returns the CSV path.

    For tests and dry runs of `experiments/eval_uccs.py`: subject ``s`` (ids 1..num_subjects) gets between 2 and
    `max_faces` faces drawn by `skd_tf.data.synthetic.generate_faces` (32-pixel faces), `num_unknown` faces carry
    SUBJECT_ID -1. Faces are pasted two per 80x48 scene JPEG (so FILE and FACE_ID differ), next to the CSV.
    Deterministic in `seed`.
    """
    from skd_tf.data.synthetic import generate_faces  # the project's synthetic identities

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng((int(seed), 77))
    counts = rng.integers(2, max_faces + 1, size=num_subjects)
    faces = generate_faces(num_subjects + 1, max_faces, image_size=32, noisy_fraction=0.0, seed=seed)
    entries = []  # (subject id, face image)
    for s in range(num_subjects):
        for j in range(int(counts[s])):
            entries.append((s + 1, faces.images[s * max_faces + j]))
    for j in range(num_unknown):
        entries.append((-1, faces.images[num_subjects * max_faces + j % max_faces]))
    order = rng.permutation(len(entries))
    rows = [",".join(COLUMNS)]
    face_id = 0
    for k in range(0, len(order), 2):
        scene = np.full((48, 80, 3), 90, np.uint8)
        file = f"scene_{k // 2:05d}.jpg"
        for slot, i in enumerate(order[k : k + 2]):
            subject, face = entries[i]
            x, y = 4 + 40 * slot + int(rng.integers(0, 4)), 4 + int(rng.integers(0, 10))
            scene[y : y + 32, x : x + 32] = face
            face_id += 1
            rows.append(f"{file},{face_id},{subject},{x + 4},{y + 2},24,28")
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(scene, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise RuntimeError(f"could not encode {file}")
        (out_dir / file).write_bytes(buf.tobytes())
    csv_path = out_dir / csv_name
    csv_path.write_text("\n".join(rows) + "\n")
    return csv_path
