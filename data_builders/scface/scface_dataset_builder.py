"""TFDS builder for SCface (Grgic et al., 2011), manual download: the official release and its annotation file.

Every example is one annotated image: the original image, the face aligned with dlib's 5-point chip geometry (the
four annotated points, eyes / nose / mouth, give the 5 points as documented in `skd_tf.data.scface`), those 5
landmarks in the aligned frame, the 4 annotated points in the original frame, subject, camera, distance and
visible / infrared. Configs choose the protocol (its splits) and the chip size; see README.md.

    tfds build data_builders/scface --manual_dir=/path/to/SCface --config=paper
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from skd_tf.data import scface
from skd_tf.data.images import DEFAULT_MARGIN, CorruptFaceError, check_margin, check_on_corrupt, decode_rgb

_ANNOTATION_FILE = "scface_annotations.txt"

_EXPECTED_LAYOUT = (
    "mugshot_frontal_cropped_all/001_frontal.JPG ... 130_frontal.JPG\n"
    "  surveillance_cameras_distance_{1,2,3}/cam{1..7}/001_cam1_1.jpg ...\n"
    "  surveillance_cameras_IR_cam8/001_cam8.jpg ...\n"
    f"  {_ANNOTATION_FILE} (the official annotation file)"
)


@dataclasses.dataclass
class ScfaceConfig(tfds.core.BuilderConfig):
    """`protocol`: one of `skd_tf.data.scface.PROTOCOLS`; `face_size`: the aligned chip's side in pixels;
    `padding`: the chip template's padding; `seed`: the paper protocol's subject draw."""

    protocol: str = "paper"
    face_size: int = 224
    padding: float = 0.25
    seed: int = 0


def _config(name: str, protocol: str, description: str) -> ScfaceConfig:
    return ScfaceConfig(name=name, protocol=protocol, description=description)


class Builder(tfds.core.GeneratorBasedBuilder):
    """SCface surveillance-camera faces, aligned, with the paper's and the standard protocols."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Request SCface from https://www.scface.org/ (licence agreement), unpack the release into `manual_dir/` so "
        "that it holds\n  " + _EXPECTED_LAYOUT + "\n(the annotation file is on the SCface site, also shipped by "
        "bob.db.scface). Then run: tfds build data_builders/scface --manual_dir=<dir> --config=paper"
    )
    BUILDER_CONFIGS = [
        _config("paper", "paper", "Ge et al. 2019: 50 training subjects, 80 test (80 gallery mugshots, 1,200 probes)."),
        _config("close", "close", "bob.db.scface 'close': probes at 1.00 m (distance 3)."),
        _config("medium", "medium", "bob.db.scface 'medium': probes at 2.60 m (distance 2)."),
        _config("far", "far", "bob.db.scface 'far': probes at 4.20 m (distance 1)."),
        _config("combined", "combined", "bob.db.scface 'combined': probes at all three distances."),
        _config("all", "all", "Every annotated image, infrared included, in one split (full)."),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "paper"

    def __init__(self, *, on_corrupt: str = "fail", landmark_margin: float = DEFAULT_MARGIN, **kwargs):
        """`on_corrupt`: what an unusable face does (a truncated or undecodable image, `skd_tf.data.images`; an
        annotated point outside the image by more than `landmark_margin` x its size; points that cannot be aligned):
        'fail' raises ValueError naming the file and the annotation line; 'skip' leaves it out, logs it and records
        it in ``info.metadata['skipped']`` (split -> ``[{"file", "name", "line", "reason"}]``)."""
        self._on_corrupt = check_on_corrupt(on_corrupt)
        self._margin = check_margin(landmark_margin, "landmark_margin")
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.face_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                    "aligned": tfds.features.Image(shape=(size, size, 3), encoding_format="jpeg"),
                    "landmarks": tfds.features.Tensor(shape=(5, 2), dtype=np.float32),
                    "annotation": tfds.features.Tensor(shape=(4, 2), dtype=np.float32),
                    "subject": tfds.features.ClassLabel(names=[f"{i:03d}" for i in range(1, scface.NUM_SUBJECTS + 1)]),
                    "camera": np.int32,
                    "distance": np.int32,
                    "infrared": np.bool_,
                    "file_name": tfds.features.Text(),
                }
            ),
            supervised_keys=("aligned", "subject"),
            homepage="https://www.scface.org/",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        root = epath.Path(dl_manager.manual_dir)
        annotation_path = root / _ANNOTATION_FILE
        if not annotation_path.exists():
            raise FileNotFoundError(
                f"SCface manual directory {root} is missing {_ANNOTATION_FILE}. Expected:\n  {_EXPECTED_LAYOUT}"
            )
        records = scface.read_annotations(annotation_path)
        config = self.builder_config
        splits = scface.protocol_splits(records, config.protocol, seed=config.seed)
        paths = scface.resolve_image_paths(root, [r for rs in splits.values() for r in rs])
        self.info.metadata["skipped"] = {name: [] for name in splits}
        self.info.metadata["protocol"] = config.protocol
        return {name: self._generate_examples(name, recs, paths) for name, recs in splits.items()}

    def _generate_examples(self, split, records, paths):
        config = self.builder_config
        for r in records:
            path = epath.Path(paths[r.name])
            data = path.read_bytes()
            try:
                image = decode_rgb(data, str(path))
                scface.check_record_in_frame(r, image.shape, path, self._margin)
                landmarks = scface.dlib5_from_annotation(r.points)
                try:
                    chip, chip_landmarks = scface.render_chip(image, landmarks, config.face_size, config.padding)
                except ValueError as err:
                    raise CorruptFaceError(f"{scface.record_where(r, path)}: cannot align the face: {err}") from err
            except CorruptFaceError as err:
                if self._on_corrupt == "fail":
                    raise
                logging.warning("SCface: skipping %s", err)
                self.info.metadata["skipped"][split].append({"file": str(path), "name": r.name, "line": r.line,
                                                             "reason": str(err)})
                continue
            ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(chip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise ValueError(f"{path}: could not encode the aligned face")
            yield r.name, {
                "image": data,
                "aligned": encoded.tobytes(),
                "landmarks": chip_landmarks,
                "annotation": np.asarray(r.points, np.float32),
                "subject": r.subject - 1,
                "camera": r.camera,
                "distance": r.distance,
                "infrared": r.infrared,
                "file_name": r.relpath,
            }
