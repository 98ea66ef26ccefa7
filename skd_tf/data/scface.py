"""SCface: the official annotation file, the release's folder layout, alignment and the evaluation protocols.

Shared by the TFDS builder (`data_builders/scface`) and the retrieval CLI (`experiments/eval_scface.py`), so both
read the same files the same way.

Release layout (the SCface licence agreement is needed to download it; see `data_builders/scface/README.md`)::

    mugshot_frontal_cropped_all/001_frontal.JPG            130 high-resolution frontal mugshots (visible light)
    surveillance_cameras_distance_D/camK/001_camK_D.jpg    K = 1..5 visible, 6..7 infrared; D = 1, 2, 3
    surveillance_cameras_IR_cam8/001_cam8.jpg              130 infrared mugshots

Distances: D = 1 is 4.20 m (far), 2 is 2.60 m (medium), 3 is 1.00 m (close).

Annotation file (`scface_annotations.txt`, as distributed by the SCface site and `bob.db.scface`): comment lines
starting with ``#``, then one row per image, whitespace-separated: ``<subject:03d>_<frontal | camK_D | cam8>`` and
eight integers, right eye x y, left eye x y, nose x y, mouth x y, in pixels of the original image. "Right eye" is
the subject's right eye, i.e. the eye on the image's left side (its x is the smaller one on every row).

Alignment. The project aligns faces with dlib's 5-point template (eye corners and the base of the nose,
`skd_tf.data.align`). SCface gives eye centres, the nose tip and the mouth centre instead, so the four points are
fitted by a least-squares similarity onto `SCFACE_TEMPLATE`, a 4-point template on the same unit square as
`DLIB_5_TEMPLATE`: the eye centres are the midpoints of dlib's eye corners (exact), the nose tip and mouth centre are
the mean positions of those points over the 130 real frontal mugshots after aligning their eye centres onto the
template (values below; `tests/data/test_scface.py` recomputes them from the shared annotation file). The fitted
similarity then maps dlib's 5 template points back into the image (`dlib5_from_annotation`), so every SCface face
carries 5 landmarks in the project convention and `align_face`, the degradation module and the TFDS builder need
nothing SCface-specific. Aligning with these 5 points reproduces the 4-point fit exactly (they are an exact
similarity image of the template).

Protocols (``protocol_splits``):

* ``paper`` (Ge et al., TIP 2019, section IV-E): 50 subjects chosen at random (seeded) for training, the other 80
  for testing. ``train``: the 16 visible-light images of each training subject (mugshot + cam1..5 x 3 distances),
  800 images; ``gallery``: the 80 test subjects' frontal mugshots; ``probe``: their 15 visible surveillance images
  each (cam1..5 x 3 distances), 1,200 probes, each matched against the 80 gallery faces.
* ``close`` / ``medium`` / ``far`` / ``combined`` (the standard protocols of Grgic et al. as implemented by
  `bob.db.scface`): subjects 1-43 are the training ("world") set, 44-87 development, 88-130 evaluation. ``world``:
  mugshots and cam1..5 images (all distances) of the world subjects (688); ``dev_gallery`` / ``eval_gallery``: the
  frontal mugshots; ``dev_probe`` / ``eval_probe``: cam1..5 at distance 3 (close), 2 (medium), 1 (far) or all three
  (combined).
* ``all``: every annotated image (2,990) in one split ``full``, infrared included (TFDS reserves the split name "all").

Length: over 400 lines on purpose: everything about the SCface release (file names, annotations, the paper's
protocol splits, image lookup, frame checks, chips) lives in one place so that its conventions are stated once.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from skd_tf.data import degrade
from skd_tf.data.align import DLIB_5_TEMPLATE, alignment_matrix, similarity_transform, transform_points
from skd_tf.data.images import (
    DEFAULT_MARGIN,
    CorruptFaceError,
    check_landmarks,
    check_margin,
    check_on_corrupt,
    decode_rgb,
    read_rgb,
    skip_or_raise,
)

__all__ = [
    "NUM_SUBJECTS",
    "VISIBLE_CAMERAS",
    "INFRARED_CAMERAS",
    "DISTANCES",
    "DISTANCE_NAMES",
    "PROTOCOLS",
    "SCFACE_TEMPLATE",
    "ScfaceRecord",
    "FaceSet",
    "parse_image_name",
    "relative_path",
    "read_annotations",
    "dlib5_from_annotation",
    "protocol_splits",
    "resolve_image_paths",
    "decode_rgb",
    "load_rgb",
    "record_where",
    "check_record_in_frame",
    "render_chip",
    "load_protocol_faces",
    "contiguous_labels",
    "count_by",
]

NUM_SUBJECTS = 130
VISIBLE_CAMERAS = (1, 2, 3, 4, 5)
#: cam6 and cam7 are infrared surveillance cameras, cam8 is the infrared mugshot camera.
INFRARED_CAMERAS = (6, 7, 8)
#: distance id -> metres (1 = far, 2 = medium, 3 = close).
DISTANCES = {1: 4.20, 2: 2.60, 3: 1.00}
DISTANCE_NAMES = {1: "far", 2: "medium", 3: "close"}
PROTOCOLS = ("paper", "close", "medium", "far", "combined", "all")
#: The paper's split sizes (section IV-E).
PAPER_TRAIN_SUBJECTS = 50
#: `bob.db.scface` subject groups of the standard protocols.
STANDARD_GROUPS = {"world": (1, 43), "dev": (44, 87), "eval": (88, 130)}
_STANDARD_PROBE_DISTANCES = {"close": (3,), "medium": (2,), "far": (1,), "combined": (1, 2, 3)}

#: The SCface points on dlib's unit-square template, in the order (eye centre on the image's right side, eye centre
#: on the image's left side, nose tip, mouth centre). Eye centres: midpoints of `DLIB_5_TEMPLATE`'s corner pairs;
#: nose tip and mouth centre: mean over the 130 real frontal mugshots of `scface_annotations.txt` after a
#: similarity aligning the two eye centres (std 0.04-0.05 of the template width).
SCFACE_TEMPLATE = np.array(
    [
        [(DLIB_5_TEMPLATE[0, 0] + DLIB_5_TEMPLATE[1, 0]) / 2, (DLIB_5_TEMPLATE[0, 1] + DLIB_5_TEMPLATE[1, 1]) / 2],
        [(DLIB_5_TEMPLATE[2, 0] + DLIB_5_TEMPLATE[3, 0]) / 2, (DLIB_5_TEMPLATE[2, 1] + DLIB_5_TEMPLATE[3, 1]) / 2],
        [0.5012, 0.5059],
        [0.4990, 0.7911],
    ],
    dtype=np.float64,
)

_NAME_RE = re.compile(r"^(\d{3})_(frontal|cam8|cam([1-7])_([123]))$")
_IMAGE_EXTENSIONS = {"frontal": ".JPG", "other": ".jpg"}


@dataclasses.dataclass(frozen=True)
class ScfaceRecord:
    """One annotated SCface image.

    `camera` is 0 for the frontal (visible) mugshot, 1..7 for the surveillance cameras and 8 for the infrared
    mugshot; `distance` is 1..3 for surveillance images and 0 otherwise. `points` are the annotated (x, y) pixels in
    the file's order: subject's right eye (image left), subject's left eye (image right), nose tip, mouth centre.
    """

    name: str
    subject: int
    camera: int
    distance: int
    points: np.ndarray = dataclasses.field(compare=False)
    #: the annotation file and the record's 1-based line in it ("" / 0 when built by hand)
    source: str = dataclasses.field(default="", compare=False)
    line: int = dataclasses.field(default=0, compare=False)

    @property
    def infrared(self) -> bool:
        return self.camera in INFRARED_CAMERAS

    @property
    def is_mugshot(self) -> bool:
        return self.camera in (0, 8)

    @property
    def relpath(self) -> str:
        return relative_path(self.name)


@dataclasses.dataclass
class FaceSet:
    """Aligned faces of one protocol split, in the annotation file's order (skipped images removed)."""

    images: np.ndarray  # uint8 [N, size, size, 3]
    landmarks: np.ndarray  # float32 [N, 5, 2] in the aligned frame
    subjects: np.ndarray  # int64 [N], SCface subject ids 1..130
    cameras: np.ndarray  # int64 [N]
    distances: np.ndarray  # int64 [N]
    names: list[str]
    #: unusable faces left out (on_corrupt='skip'): {"file", "name", "line", "reason"} each
    skipped: list[dict] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)


def parse_image_name(name: str) -> tuple[int, int, int]:
    """``'001_cam3_2'`` -> (subject 1, camera 3, distance 2); ``'_frontal'`` -> camera 0, ``'_cam8'`` -> camera 8."""
    m = _NAME_RE.match(name)
    if not m:
        raise ValueError(
            f"SCface image name {name!r}: expected '<subject:03d>_frontal', '<subject:03d>_cam8' or "
            "'<subject:03d>_camK_D' with K in 1..7 and D in 1..3"
        )
    subject = int(m.group(1))
    if m.group(2) == "frontal":
        return subject, 0, 0
    if m.group(2) == "cam8":
        return subject, 8, 0
    return subject, int(m.group(3)), int(m.group(4))


def relative_path(name: str) -> str:
    """The path of an image in the official release, relative to its root (see the module docstring)."""
    subject, camera, distance = parse_image_name(name)
    if camera == 0:
        return f"mugshot_frontal_cropped_all/{name}{_IMAGE_EXTENSIONS['frontal']}"
    if camera == 8:
        return f"surveillance_cameras_IR_cam8/{name}{_IMAGE_EXTENSIONS['other']}"
    return f"surveillance_cameras_distance_{distance}/cam{camera}/{name}{_IMAGE_EXTENSIONS['other']}"


def read_annotations(path: str | Path) -> list[ScfaceRecord]:
    """Reads the official annotation file; rows in file order. Raises ValueError naming the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SCface annotation file not found: {path} (expected scface_annotations.txt)")
    text = path.read_bytes().decode("utf-8", errors="strict")
    records: list[ScfaceRecord] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 9:
            raise ValueError(
                f"{path}:{lineno}: expected 9 whitespace-separated fields (name and right eye x y, left eye x y, "
                f"nose x y, mouth x y), got {len(fields)}: {line!r}"
            )
        name = fields[0]
        try:
            subject, camera, distance = parse_image_name(name)
        except ValueError as e:
            raise ValueError(f"{path}:{lineno}: {e}") from None
        if not 1 <= subject <= NUM_SUBJECTS:
            raise ValueError(f"{path}:{lineno}: subject {subject} of {name!r} outside 1..{NUM_SUBJECTS}")
        if name in seen:
            raise ValueError(f"{path}:{lineno}: duplicate row for image {name!r}")
        seen.add(name)
        try:
            values = [float(int(v)) for v in fields[1:]]
        except ValueError:
            raise ValueError(f"{path}:{lineno}: coordinates of {name!r} must be integers, got {fields[1:]}") from None
        points = np.asarray(values, dtype=np.float32).reshape(4, 2)
        records.append(ScfaceRecord(name=name, subject=subject, camera=camera, distance=distance, points=points,
                                    source=str(path), line=lineno))
    if not records:
        raise ValueError(f"{path}: no annotation rows found (expected '<subject>_<image> x y x y x y x y' lines)")
    return records


def dlib5_from_annotation(points) -> np.ndarray:
    """dlib's 5 landmarks (project convention, float32 [5, 2]) from SCface's 4 annotated points (file order).

    Fits the least-squares similarity from `SCFACE_TEMPLATE` onto the annotated points and maps `DLIB_5_TEMPLATE`
    through it (module docstring). Works for one face ``[4, 2]`` or a batch ``[N, 4, 2]``.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape[-2:] != (4, 2):
        raise ValueError(f"SCface points: expected shape [..., 4, 2] (right eye, left eye, nose, mouth), "
                         f"got {pts.shape}")
    if pts.ndim == 3:
        return np.stack([dlib5_from_annotation(p) for p in pts])
    # File order is (subject's right eye = image left, subject's left eye = image right, nose, mouth); the template
    # lists the image-right eye first, as dlib does.
    ordered = pts[[1, 0, 2, 3]]
    forward = similarity_transform(SCFACE_TEMPLATE, ordered)
    return transform_points(DLIB_5_TEMPLATE, forward).astype(np.float32)


def protocol_splits(
    records: Sequence[ScfaceRecord], protocol: str = "paper", seed: int = 0, num_train_subjects: int = 50
) -> dict[str, list[ScfaceRecord]]:
    """The records of each split of `protocol` (module docstring), in the annotation file's order.

    ``paper``: the training subjects are ``num_train_subjects`` drawn by ``np.random.default_rng(seed)`` from the
    annotated subjects, the rest are test subjects.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"SCface protocol {protocol!r}: expected one of {PROTOCOLS}")
    records = list(records)
    visible_training = lambda r: r.camera == 0 or (r.camera in VISIBLE_CAMERAS)  # noqa: E731
    if protocol == "all":
        return {"full": records}
    if protocol == "paper":
        subjects = np.array(sorted({r.subject for r in records}), dtype=np.int64)
        if not 0 < num_train_subjects < len(subjects):
            raise ValueError(
                f"num_train_subjects={num_train_subjects}: expected 1..{len(subjects) - 1} ({len(subjects)} subjects)"
            )
        rng = np.random.default_rng(seed)
        train_subjects = set(rng.permutation(subjects)[:num_train_subjects].tolist())
        return {
            "train": [r for r in records if r.subject in train_subjects and visible_training(r)],
            "gallery": [r for r in records if r.subject not in train_subjects and r.camera == 0],
            "probe": [
                r for r in records if r.subject not in train_subjects and r.camera in VISIBLE_CAMERAS and r.distance
            ],
        }
    probe_distances = _STANDARD_PROBE_DISTANCES[protocol]

    def group(r: ScfaceRecord) -> str:
        for name, (lo, hi) in STANDARD_GROUPS.items():
            if lo <= r.subject <= hi:
                return name
        raise AssertionError(r.subject)

    world = [r for r in records if group(r) == "world" and visible_training(r)]
    splits: dict[str, list[ScfaceRecord]] = {"world": world}
    for g in ("dev", "eval"):
        splits[f"{g}_gallery"] = [r for r in records if group(r) == g and r.camera == 0]
        splits[f"{g}_probe"] = [
            r for r in records if group(r) == g and r.camera in VISIBLE_CAMERAS and r.distance in probe_distances
        ]
    return splits


def _candidates(root: Path, relpath: str) -> Iterable[Path]:
    yield root / relpath
    stem, dot, ext = relpath.rpartition(".")
    for alt in {ext.lower(), ext.upper()} - {ext}:
        yield root / f"{stem}{dot}{alt}"


def resolve_image_paths(root: str | Path, records: Sequence[ScfaceRecord], max_listed: int = 20) -> dict[str, Path]:
    """Maps each record's name to its file under the release `root` (extension case is tolerated).

    Raises FileNotFoundError listing the expected files that are missing (the first `max_listed` and a count).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"SCface directory not found: {root}. Expected the official release layout: "
            "mugshot_frontal_cropped_all/, surveillance_cameras_distance_{1,2,3}/cam{1..7}/, "
            "surveillance_cameras_IR_cam8/"
        )
    found: dict[str, Path] = {}
    missing: list[str] = []
    for r in records:
        path = next((p for p in _candidates(root, r.relpath) if p.is_file()), None)
        if path is None:
            missing.append(r.relpath)
        else:
            found[r.name] = path
    if missing:
        listed = "\n  ".join(missing[:max_listed])
        more = f"\n  ... and {len(missing) - max_listed} more" if len(missing) > max_listed else ""
        raise FileNotFoundError(
            f"SCface directory {root} is incomplete: {len(missing)} of {len(records)} expected image files are "
            f"missing:\n  {listed}{more}"
        )
    return found


def load_rgb(path: str | Path) -> np.ndarray:
    """Reads an image file as RGB uint8 [H, W, 3] (`skd_tf.data.images.read_rgb`; `decode_rgb` decodes bytes):
    a truncated, corrupt or undecodable file raises `CorruptImageError` (a ValueError) naming it."""
    return read_rgb(path)


def record_where(record: ScfaceRecord, path: str | Path | None = None) -> str:
    """`<image> (<annotation file> line L)`: what an error about `record` names."""
    image = str(path) if path is not None else record.relpath
    if record.line:
        return f"{image} ({record.source or 'annotations'} line {record.line})"
    return f"{image} (annotation {record.name})"


def check_record_in_frame(record: ScfaceRecord, image_shape, path: str | Path | None = None,
                          margin: float = DEFAULT_MARGIN) -> None:
    """`CorruptFaceError` naming the image and the annotation line when an annotated point lies outside the image
    by more than `margin` x its size (`skd_tf.data.images.check_landmarks`)."""
    check_landmarks(record.points, image_shape, record_where(record, path), margin, what="annotated point")


def render_chip(image, landmarks, size: int, padding: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """The aligned, anti-aliased chip (uint8 [size, size, 3]) and the 5 landmarks in its frame (float32 [5, 2]).

    The chip is `skd_tf.data.degrade.render_chip` (aligned at an integer multiple of `size` near the image's own
    scale, then area-downsampled), so a 1,600-pixel mugshot does not alias into a 64-pixel chip.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    chip = degrade.render_chip(image, landmarks, int(size), padding)
    matrix = alignment_matrix(landmarks, int(size), padding)
    return chip, transform_points(landmarks, matrix).astype(np.float32)


def load_protocol_faces(
    root: str | Path,
    annotations: str | Path | Sequence[ScfaceRecord],
    protocol: str = "paper",
    size: int = 64,
    seed: int = 0,
    padding: float = 0.25,
    on_corrupt: str = "fail",
    splits: Sequence[str] | None = None,
    margin: float = DEFAULT_MARGIN,
) -> dict[str, FaceSet]:
    """Aligned faces of every split of `protocol`, read from the official release under `root`.

    `annotations` is the annotation file (or its parsed records). An unusable face (a truncated or undecodable
    image, `skd_tf.data.images`; an annotated point outside the image by more than `margin` x its size; points
    that cannot be aligned): ``on_corrupt='fail'`` raises `CorruptFaceError` (a ValueError) naming the image and
    the annotation line; ``'skip'`` leaves it out and records it in ``FaceSet.skipped`` (``{"file", "name",
    "line", "reason"}``). `splits` restricts which splits are loaded.
    """
    check_on_corrupt(on_corrupt)
    margin = check_margin(margin)
    records = annotations if isinstance(annotations, Sequence) and not isinstance(annotations, (str, bytes)) else (
        read_annotations(annotations)
    )
    split_records = protocol_splits(records, protocol, seed=seed)
    if splits is not None:
        unknown = set(splits) - set(split_records)
        if unknown:
            raise ValueError(f"splits {sorted(unknown)}: protocol {protocol!r} has {sorted(split_records)}")
        split_records = {k: v for k, v in split_records.items() if k in splits}
    wanted = [r for rs in split_records.values() for r in rs]
    paths = resolve_image_paths(root, wanted)
    out: dict[str, FaceSet] = {}
    for split, recs in split_records.items():
        images, lms, kept, skipped = [], [], [], []
        for r in recs:
            path = paths[r.name]
            try:
                image = read_rgb(path)
                check_record_in_frame(r, image.shape, path, margin)
                try:
                    chip, lm = render_chip(image, dlib5_from_annotation(r.points), size, padding)
                except ValueError as err:
                    raise CorruptFaceError(f"{record_where(r, path)}: cannot align the face: {err}") from err
            except CorruptFaceError as err:
                skip_or_raise(err, on_corrupt, skipped, file=str(path), name=r.name, line=r.line)
                continue
            images.append(chip)
            lms.append(lm)
            kept.append(r)
        out[split] = FaceSet(
            images=np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8),
            landmarks=np.stack(lms) if lms else np.zeros((0, 5, 2), np.float32),
            subjects=np.array([r.subject for r in kept], dtype=np.int64),
            cameras=np.array([r.camera for r in kept], dtype=np.int64),
            distances=np.array([r.distance for r in kept], dtype=np.int64),
            names=[r.name for r in kept],
            skipped=skipped,
        )
    return out


def contiguous_labels(subjects: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels int64 0..C-1, sorted unique subject ids) for a list of subject ids (CONTRIBUTING: labels)."""
    subjects = np.asarray(subjects, dtype=np.int64)
    uniq, labels = np.unique(subjects, return_inverse=True)
    return labels.astype(np.int64), uniq


def count_by(records: Iterable[ScfaceRecord], key: str) -> Mapping[int, int]:
    """Counts records by an attribute (e.g. ``'distance'``), for reports."""
    counts: dict[int, int] = {}
    for r in records:
        v = getattr(r, key)
        counts[v] = counts.get(v, 0) + 1
    return dict(sorted(counts.items()))
