"""TFDS builder for any "one folder per identity" face dataset with a 5-point landmarks CSV (manual download).

The layout is that of LFW, CASIA-WebFace, VGGFace2 and MS1M extracts::

    <manual_dir>/<images_subdir>/<identity>/<image>.jpg   (also .jpeg, .png, .bmp; any case)
    <landmarks_csv>    default <manual_dir>/landmarks5.csv

with the CSV in the exact format of ``../shared/data/lfw/dlib/landmarks5.csv``: header
``path,det,x0,y0,...,x4,y4,left,top,right,bottom`` (``det`` and the box are optional), ``path`` relative to the
image root (``AJ_Cook/AJ_Cook_0001.jpg``), points in dlib's 5-point order (CONTRIBUTING.md). It is read with
`skd_tf.data.lfw.read_landmarks_csv`. `write_folder.write_face_folder` writes any in-memory face set this way.

Each example is one image's face aligned with dlib's 5-point chip geometry (`skd_tf.data.align`) at the teacher's
input size (150 px for the dlib ResNet, 224 px for VGGFace; the config), anti-aliased exactly as the UMDFaces builder
does it (`skd_tf.data.degrade.render_chip`, JPEG quality 95), its 5 landmarks in the chip's frame, a contiguous label
(``0..C-1`` over the identity folder names in Python `sorted` order), the image's 0-based data row in the CSV
(``row_id``; for LFW with its dlib CSV also the row of ``dlib/descriptors.npy``), the identity (folder name) and the
path relative to the image root. Low-resolution student faces are not stored: the pipeline makes them from these
chips and landmarks with `skd_tf.data.degrade` (Ge et al. 2019, section IV-A).

Which images: every file with an image extension in an identity folder (hidden files and anything else are
ignored); each must have a CSV row. CSV rows for images that are not in the folders are ignored (the CSV may cover
more than the folder), with a log line giving their count. Checked before any example is written: the image root
and the CSV exist, there is at least one identity folder, no identity folder is empty, and every image has a CSV row
(up to 20 are listed). Checked per image while writing, under the `on_corrupt` policy ('fail' raises ValueError
naming the file, 'skip' leaves it out, logs it and records it in ``info.metadata['skipped']``): the image decodes
completely (`skd_tf.data.images.decode_rgb`: a truncated file is refused), no landmark lies outside the image by
more than the image's size (`check_in_frame`, `skd_tf.data.images.check_landmarks` with margin 1), and the
landmarks are not degenerate.

Commands (from the project root; the `tfds build` CLI of tensorflow-datasets 4.9.10 cannot start without apache_beam,
and it cannot pass builder kwargs, so `python -m data_builders.face_folder` is the command line):

    .venv/bin/python -m data_builders.face_folder --manual_dir=data_builders/face_folder/dummy_data \\
        --data_dir=/tmp/tfds_dummy --config=aligned_150

    # the real LFW in ../shared/data, read in place (nothing is copied):
    .venv/bin/python -m data_builders.face_folder --manual_dir=../shared/data/lfw \\
        --images_subdir=lfw-deepfunneled --landmarks_csv=../shared/data/lfw/dlib/landmarks5.csv \\
        --data_dir=~/tensorflow_datasets/lfw_folder --config=aligned_150

In Python: ``Builder(data_dir=..., config="aligned_150", images_subdir="lfw-deepfunneled",
landmarks_csv="../shared/data/lfw/dlib/landmarks5.csv").download_and_prepare(
download_config=tfds.download.DownloadConfig(manual_dir="../shared/data/lfw"))``. The dataset is always named
``face_folder``: build each source into its own `data_dir` (a prepared dataset whose recorded source differs from the
requested one raises instead of being reused silently).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from skd_tf.data import degrade
from skd_tf.data.align import alignment_matrix, transform_points
from skd_tf.data.images import check_landmarks, decode_rgb
from skd_tf.data.lfw import read_landmarks_csv

#: File extensions (compared case-insensitively) of the images read from the identity folders.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
#: Default CSV location, relative to `manual_dir`.
DEFAULT_CSV = "landmarks5.csv"
CSV_FORMAT = ("header path,det,x0,y0,x1,y1,x2,y2,x3,y3,x4,y4,left,top,right,bottom (det and the box optional), "
              "path relative to the image root (<identity>/<file>), points in dlib's 5-point order")
MAX_LISTED = 20


@dataclasses.dataclass
class FaceFolderConfig(tfds.core.BuilderConfig):
    """`face_size`: the aligned chip's side (the teacher's input); `padding`: the chip template's padding."""

    face_size: int = 150
    padding: float = 0.25


def _listing(items: Sequence[str]) -> str:
    shown = "\n  ".join(items[:MAX_LISTED])
    more = f"\n  ... and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return f"\n  {shown}{more}"


def scan_identity_folders(root: str | os.PathLike) -> tuple[list[str], list[str]]:
    """(identity folder names, image paths ``<identity>/<file>``), both in Python `sorted` (code-point) order.

    Identities are the non-hidden sub-folders of `root` (symbolic links to folders count); their images are the
    non-hidden files with an extension in `IMAGE_EXTENSIONS`. Files directly in `root` (e.g. the CSV) and nested
    folders are ignored. Raises FileNotFoundError when `root` is not a folder and ValueError (naming the folders)
    when there is no identity folder or some identity folder holds no image.
    """
    root = epath.Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: image root not found (expected a folder with one sub-folder of images per "
                                "identity)")
    identities = sorted(e.name for e in root.iterdir() if not e.name.startswith(".") and e.is_dir())
    if not identities:
        raise ValueError(f"{root}: no identity folders found (expected <identity>/<image> sub-folders)")
    paths, empty = [], []
    for name in identities:
        files = sorted(e.name for e in (root / name).iterdir()
                       if not e.name.startswith(".") and e.name.lower().endswith(IMAGE_EXTENSIONS) and e.is_file())
        if not files:
            empty.append(str(root / name))
        paths.extend(f"{name}/{f}" for f in files)
    if empty:
        raise ValueError(f"{len(empty)} identity folder(s) hold no image (expected at least one file ending in "
                         f"{', '.join(IMAGE_EXTENSIONS)}; remove the folder or add its images, or set images_subdir "
                         f"when the identity folders are in a sub-folder of {root}):{_listing(empty)}")
    return identities, paths


def csv_rows_for(images: Sequence[str], csv_paths: Sequence[str], csv_file: str) -> tuple[np.ndarray, int]:
    """(int64 0-based CSV data row of each image, number of CSV rows naming no image in `images`).

    Raises ValueError naming `csv_file` and listing (up to `MAX_LISTED`) the images without a row.
    """
    lookup = {p: r for r, p in enumerate(csv_paths)}
    missing = [p for p in images if p not in lookup]
    if missing:
        raise ValueError(f"{csv_file}: no landmark row for {len(missing)} of the {len(images)} images in the "
                         f"identity folders (expected one row per image, path relative to the image root):"
                         f"{_listing(missing)}")
    rows = np.array([lookup[p] for p in images], dtype=np.int64)
    return rows, len(csv_paths) - len(images)


#: How far a landmark may lie outside the image, as a fraction of its size (`check_in_frame`).
LANDMARK_MARGIN = 1.0


def check_in_frame(landmarks: np.ndarray, height: int, width: int, where: str,
                   margin: float = LANDMARK_MARGIN) -> None:
    """ValueError (`skd_tf.data.images.CorruptFaceError`) naming `where` when a landmark lies outside the image by
    more than `margin` x the image's size: pixel centres are at integer coordinates, so the image spans
    ``-0.5 .. W-0.5``; accepted with the default margin 1 is ``-0.5 - W <= x <= 2W - 0.5`` and the same for y with H
    (a face partly outside the frame is fine)."""
    check_landmarks(landmarks, (height, width), where, margin)


class Builder(tfds.core.GeneratorBasedBuilder):
    """Faces from one folder per identity plus a 5-point landmarks CSV, aligned for the teacher, with labels."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put the dataset in `manual_dir/` (or `manual_dir/<images_subdir>/`, builder kwarg `images_subdir`) as one "
        "folder per identity, `<identity>/<image>.jpg` (.jpg, .jpeg, .png or .bmp, any case), and a 5-point "
        f"landmarks CSV at `manual_dir/{DEFAULT_CSV}` (or anywhere, builder kwarg `landmarks_csv`): {CSV_FORMAT}, "
        "one row per image (rows for absent images are ignored). The layout of LFW, CASIA-WebFace, VGGFace2 and MS1M "
        "extracts; data_builders/face_folder/write_folder.py writes it from arrays. Then run:\n"
        "  .venv/bin/python -m data_builders.face_folder --manual_dir=<dir> [--images_subdir=<sub>] "
        "[--landmarks_csv=<csv>] --config=aligned_150\n"
        "e.g. the real LFW: --manual_dir=../shared/data/lfw --images_subdir=lfw-deepfunneled "
        "--landmarks_csv=../shared/data/lfw/dlib/landmarks5.csv"
    )
    BUILDER_CONFIGS = [
        FaceFolderConfig(name="aligned_150", face_size=150, description="150x150 chips: the dlib ResNet teacher's "
                         "input (exactly dlib's get_face_chip geometry)."),
        FaceFolderConfig(name="aligned_224", face_size=224, description="224x224 chips: the VGGFace teacher's input."),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "aligned_150"

    def __init__(self, *, landmarks_csv: str | os.PathLike | None = None, images_subdir: str = "",
                 on_corrupt: str = "fail", **kwargs):
        """Builder kwargs (beyond TFDS's):

        `landmarks_csv`: the CSV, absolute or relative to the current directory (resolved now); default
          ``manual_dir/landmarks5.csv``.
        `images_subdir`: the folder holding the identity folders, relative to `manual_dir`; default "" (they are
          directly in `manual_dir`).
        `on_corrupt`: what an unusable image does (undecodable, a landmark far outside it, degenerate landmarks):
          'fail' raises ValueError naming the file; 'skip' leaves it out, logs it and records it (file, row, reason)
          in ``info.metadata['skipped']``.
        """
        if on_corrupt not in ("fail", "skip"):
            raise ValueError(f"on_corrupt={on_corrupt!r}: expected 'fail' or 'skip'")
        sub = str(images_subdir or "")
        if Path(sub).is_absolute() or ".." in Path(sub).parts:
            raise ValueError(f"images_subdir={images_subdir!r}: expected a folder relative to manual_dir, without "
                             "'..' (e.g. 'lfw-deepfunneled')")
        self._on_corrupt = on_corrupt
        self._images_subdir = sub
        self._landmarks_csv = (os.path.abspath(os.path.expanduser(os.fspath(landmarks_csv)))
                               if landmarks_csv else None)
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.face_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(size, size, 3), encoding_format="jpeg"),
                    "landmarks": tfds.features.Tensor(shape=(5, 2), dtype=np.float32),  # in the chip's pixels
                    "label": np.int64,  # contiguous 0..C-1 over the sorted identity folder names
                    "row_id": np.int64,  # 0-based data row of the image in the landmarks CSV
                    "identity": tfds.features.Text(),  # the identity folder name
                    "file_name": tfds.features.Text(),  # <identity>/<file>, relative to the image root
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://github.com/tensorflow/datasets",
            metadata=tfds.core.MetadataDict(),
        )

    def _source(self, manual_dir) -> dict[str, str]:
        """The absolute image root and CSV a build from `manual_dir` reads (recorded in the metadata)."""
        manual = os.path.abspath(os.path.expanduser(os.fspath(manual_dir)))
        root = os.path.normpath(os.path.join(manual, self._images_subdir))
        return {"images_root": root, "landmarks_csv": self._landmarks_csv or os.path.join(manual, DEFAULT_CSV)}

    def download_and_prepare(self, *, download_config: tfds.download.DownloadConfig | None = None, **kwargs) -> None:
        """TFDS's, plus a guard: the dataset is always named ``face_folder``, so a dataset already prepared in
        `data_dir` from another image root or CSV raises ValueError (naming both) instead of being reused."""
        manual_dir = download_config.manual_dir if download_config is not None else None
        reuse = download_config is None or not download_config.download_mode.overwrite_dataset
        if manual_dir is not None and reuse and self.data_path.exists():
            recorded = dict(self.info.metadata.get("source") or {})
            requested = self._source(manual_dir)
            if recorded and recorded != requested:
                raise ValueError(
                    f"{self.data_path}: already holds face_folder/{self.builder_config.name} built from {recorded}, "
                    f"not from the requested {requested} (expected one data_dir per source; use another data_dir, "
                    "or download_mode=FORCE_REDOWNLOAD to rebuild it)")
        super().download_and_prepare(download_config=download_config, **kwargs)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        source = self._source(dl_manager.manual_dir)
        root, csv_file = epath.Path(source["images_root"]), source["landmarks_csv"]
        if not epath.Path(csv_file).is_file():
            raise FileNotFoundError(
                f"{csv_file}: landmarks CSV not found (expected {CSV_FORMAT}; default location "
                f"manual_dir/{DEFAULT_CSV}, or pass the builder kwarg landmarks_csv / --landmarks_csv)")
        if not root.is_dir():
            raise FileNotFoundError(
                f"{root}: image root not found (expected manual_dir"
                + (f"/{self._images_subdir}" if self._images_subdir else "")
                + " to hold one folder per identity; set images_subdir / --images_subdir if they are in a sub-folder)")
        identities, images = scan_identity_folders(root)
        csv_paths, landmarks, _ = read_landmarks_csv(csv_file)
        rows, unused = csv_rows_for(images, csv_paths, csv_file)
        logging.info("face_folder: %d images of %d identities under %s", len(images), len(identities), root)
        if unused:
            logging.info("face_folder: %d of the %d rows of %s name images that are not in the identity folders; "
                         "ignored", unused, len(csv_paths), csv_file)
        labels = {name: k for k, name in enumerate(identities)}
        self.info.metadata["num_classes"] = len(identities)
        self.info.metadata["identities"] = identities
        self.info.metadata["skipped"] = []
        self.info.metadata["unused_csv_rows"] = int(unused)
        self.info.metadata["source"] = source
        items = [(rel, rel.split("/", 1)[0], int(r)) for rel, r in zip(images, rows)]
        return {"train": self._generate_examples(root, csv_file, items, landmarks, labels)}

    def _load(self, path: epath.Path, csv_file: str, row: int, landmarks: np.ndarray):
        """(chip uint8 [s, s, 3], chip landmarks float32 [5, 2]); ValueError naming the file when it is unusable."""
        config = self.builder_config
        image = decode_rgb(path.read_bytes(), str(path))
        where = f"{path} (row {row} of {csv_file})"
        check_in_frame(landmarks, image.shape[0], image.shape[1], where)
        try:
            # anti-aliased chip (aligned at the image's own scale, area-downsampled) and its landmarks
            chip = degrade.render_chip(image, landmarks, config.face_size, config.padding)
            matrix = alignment_matrix(landmarks, config.face_size, config.padding)
        except ValueError as err:
            raise ValueError(f"{where}: cannot align the face: {err}") from err
        return chip, transform_points(landmarks, matrix).astype(np.float32)

    def _generate_examples(self, root: epath.Path, csv_file: str, items, landmarks: np.ndarray, labels: dict[str, int]):
        for rel, identity, row in items:
            path = root / rel
            try:
                chip, chip_landmarks = self._load(path, csv_file, row, landmarks[row].astype(np.float64))
            except ValueError as err:
                if self._on_corrupt == "fail":
                    raise
                logging.warning("face_folder: skipping %s", err)
                self.info.metadata["skipped"].append({"file": str(path), "file_name": rel, "row_id": row,
                                                      "reason": str(err)})
                continue
            ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(chip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise ValueError(f"{path}: could not encode the aligned face")
            yield rel, {
                "image": encoded.tobytes(),
                "landmarks": chip_landmarks,
                "label": labels[identity],
                "row_id": row,
                "identity": identity,
                "file_name": rel,
            }
