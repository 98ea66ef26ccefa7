"""TFDS builder for the UMDFaces still images (Bansal et al., 2017), manual download.

Each example is one annotated face aligned with dlib's 5-point chip geometry (`skd_tf.data.align`) at the teacher's
input size (224 for VGGFace, 150 for the dlib ResNet; the config), its 5 landmarks in the aligned frame (derived
from the 21 keypoints, see `umdfaces_csv`), a contiguous identity label, the UMDFaces subject id, the pose and the
source file. Low-resolution student faces are not stored: the pipeline makes them from these chips and landmarks
with `skd_tf.data.degrade` (Ge et al. 2019, section IV-A), on the fly (`skd_tf.data.sources`).

Prepare it (the `tfds build` CLI of tensorflow-datasets 4.9.10 needs apache_beam just to start, so the builder has
its own command line), then train on it with the paper's pipeline:

    python -m data_builders.umdfaces --manual_dir=/path/to/umdfaces --data_dir=~/tensorflow_datasets \
        --config=aligned_224
    python -m experiments.paper_pipeline --dataset=umdfaces/aligned_224 --data_dir=~/tensorflow_datasets \
        --teacher=vggface16 --teacher_weights=/path/to/rcmalli_vggface_tf_vgg16.h5 --out_dir=runs/paper

What works here without the data (the synthetic dummy faces beside this file, dlib teacher, 150-px chips):

    python -m data_builders.umdfaces --manual_dir=data_builders/umdfaces/dummy_data --data_dir=runs/tfds_umd \
        --config=aligned_150
    python -m experiments.paper_pipeline --dataset=umdfaces/aligned_150 --data_dir=runs/tfds_umd \
        --resolutions=16 --modes=c,sc --perturbations=2 --init_epochs=1 --epochs=1 --batch_size=8 \
        --max_test_pairs=20 --eval_folds=1 --out_dir=runs/paper_umd_dummy
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from data_builders.umdfaces import umdfaces_csv
from skd_tf.data import degrade
from skd_tf.data.align import alignment_matrix, transform_points
from skd_tf.data.images import (
    DEFAULT_MARGIN,
    CorruptFaceError,
    check_landmarks,
    check_margin,
    check_on_corrupt,
    decode_rgb,
)

BATCHES = (1, 2, 3)


def csv_relpath(batch: int) -> str:
    return f"umdfaces_batch{batch}/umdfaces_batch{batch}_ultraface.csv"


@dataclasses.dataclass
class UmdfacesConfig(tfds.core.BuilderConfig):
    """`face_size`: the aligned chip's side (the teacher's input); `padding`: the chip template's padding."""

    face_size: int = 224
    padding: float = 0.25


class Builder(tfds.core.GeneratorBasedBuilder):
    """UMDFaces still images, aligned for the teacher, with identities, landmarks and pose."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download the three still-image batches from http://www.umdfaces.io/ (registration needed) and unpack them "
        "into `manual_dir/` so that it holds\n  "
        + "\n  ".join(f"{csv_relpath(b)} and the images it names" for b in BATCHES)
        + "\nThen run: tfds build data_builders/umdfaces --manual_dir=<dir> --config=aligned_224"
    )
    BUILDER_CONFIGS = [
        UmdfacesConfig(name="aligned_224", face_size=224, description="224x224 chips: the VGGFace teacher's input."),
        UmdfacesConfig(name="aligned_150", face_size=150,
                       description="150x150 chips: the dlib ResNet teacher's input."),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "aligned_224"

    def __init__(self, *, on_corrupt: str = "fail", landmark_margin: float = DEFAULT_MARGIN, **kwargs):
        """`on_corrupt`: what an unusable face does (a truncated or undecodable image, `skd_tf.data.images`; one of
        its 5 landmarks outside the image by more than `landmark_margin` x its size; landmarks that cannot be
        aligned): 'fail' raises ValueError naming the file and the CSV line; 'skip' leaves it out, logs it and
        records it (``{"file", "line", "reason"}``) in ``info.metadata['skipped']``."""
        self._on_corrupt = check_on_corrupt(on_corrupt)
        self._margin = check_margin(landmark_margin, "landmark_margin")
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.face_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(size, size, 3), encoding_format="jpeg"),
                    "landmarks": tfds.features.Tensor(shape=(5, 2), dtype=np.float32),
                    "landmarks_visible": tfds.features.Tensor(shape=(5,), dtype=np.bool_),
                    "label": np.int64,
                    "subject_id": np.int64,
                    "pose": tfds.features.Tensor(shape=(3,), dtype=np.float32),  # yaw, pitch, roll (degrees)
                    "box": tfds.features.Tensor(shape=(4,), dtype=np.float32),  # x, y, w, h in the source image
                    "pr_male": np.float32,
                    "file_name": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="http://www.umdfaces.io/",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        root = epath.Path(dl_manager.manual_dir)
        expected = [csv_relpath(b) for b in BATCHES]
        missing = [rel for rel in expected if not (root / rel).exists()]
        if missing:
            raise FileNotFoundError(
                f"UMDFaces manual directory {root} is incomplete: missing {missing}. Expected:\n  "
                + "\n  ".join(f"{rel} and the images it names" for rel in expected)
            )
        faces = []
        for batch, rel in zip(BATCHES, expected):
            path = root / rel
            faces.extend((batch, str(path), f) for f in umdfaces_csv.parse_csv(path.read_text(), str(path)))
        absent = [f"umdfaces_batch{b}/{f.file}" for b, _, f in faces
                  if not (root / f"umdfaces_batch{b}" / f.file).exists()]
        if absent:
            listed = "\n  ".join(absent[:20])
            more = f"\n  ... and {len(absent) - 20} more" if len(absent) > 20 else ""
            raise FileNotFoundError(
                f"UMDFaces manual directory {root} is incomplete: {len(absent)} of {len(faces)} images named in the "
                f"CSVs are missing:\n  {listed}{more}"
            )
        labels = umdfaces_csv.contiguous_labels(f.subject_id for _, _, f in faces)
        self.info.metadata["num_classes"] = len(labels)
        self.info.metadata["subject_ids"] = sorted(labels)
        self.info.metadata["skipped"] = []
        return {"train": self._generate_examples(root, faces, labels)}

    def _load(self, path, csv_file: str, face):
        """(chip, chip landmarks, the 5 keypoint indices); `CorruptFaceError` naming the file and the CSV line."""
        config = self.builder_config
        image = decode_rgb(path.read_bytes(), str(path))
        where = f"{path} ({csv_file} line {face.line})"
        idx = umdfaces_csv.dlib5_indices(face.keypoints)
        landmarks = check_landmarks(face.keypoints[idx], image.shape, where, self._margin)
        try:
            # anti-aliased chip (aligned at the image's own scale, area-downsampled) and its landmarks
            chip = degrade.render_chip(image, landmarks, config.face_size, config.padding)
            matrix = alignment_matrix(landmarks, config.face_size, config.padding)
        except ValueError as err:
            raise CorruptFaceError(f"{where}: cannot align the face: {err}") from err
        return chip, transform_points(landmarks, matrix).astype(np.float32), idx

    def _generate_examples(self, root, faces, labels):
        for batch, csv_file, face in faces:
            rel = f"umdfaces_batch{batch}/{face.file}"
            path = root / rel
            try:
                chip, chip_landmarks, idx = self._load(path, csv_file, face)
            except CorruptFaceError as err:
                if self._on_corrupt == "fail":
                    raise
                logging.warning("UMDFaces: skipping %s", err)
                self.info.metadata["skipped"].append({"file": str(path), "line": face.line, "reason": str(err)})
                continue
            ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(chip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise ValueError(f"{path}: could not encode the aligned face")
            yield rel, {
                "image": encoded.tobytes(),
                "landmarks": chip_landmarks,
                "landmarks_visible": face.visible[idx],
                "label": labels[face.subject_id],
                "subject_id": face.subject_id,
                "pose": np.asarray(face.pose, np.float32),
                "box": np.asarray(face.box, np.float32),
                "pr_male": face.pr_male,
                "file_name": rel,
            }
