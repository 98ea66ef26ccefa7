"""Teacher features into a resumable sharded cache (paper Section III-C, Eq. 2: f_i = phi^_t(F_i)):
`run(FeaturesConfig(...), out_dir)`.

Every face is aligned to the teacher's input size with its 5 landmarks (`skd_tf.data.align.align_face`, padding
`spec.align_padding`). Running the same config into the same folder again resumes after the last finished shard; a
cache folder holding another teacher's or source's features is refused. Images are read with `skd_tf.data.images`
(a truncated file is refused, never decoded partially); `on_corrupt="skip"` leaves unusable faces out and records
them in the cache manifest (`skipped`), `"fail"` (default) stops naming the first one.
"""
from __future__ import annotations

import os

from absl import logging

from skd_tf.configs.features import FeaturesConfig
from skd_tf.data import synthetic
from skd_tf.features.extract import (
    AlignedArraySource,
    ImageSource,
    LfwFolderSource,
    TfdsSource,
    check_source,
    extract_to_cache,
)
from skd_tf.models import teachers
from skd_tf.utils.checks import check_out_dir
from skd_tf.utils.paths import lfw_dir


def parse_kwargs(items: list[str]) -> dict:
    """`['a=1', 'b=x', 'c=true']` -> `{'a': 1, 'b': 'x', 'c': True}` (int, float, bool, else string): the
    command line's `--teacher_kw` as `FeaturesConfig.teacher_kwargs`."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"teacher_kw: expected KEY=VALUE, got {item!r}")
        if value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
            continue
        for cast in (int, float):
            try:
                out[key] = cast(value)
                break
            except ValueError:
                pass
        else:
            out[key] = value
    return out


def make_source(config: FeaturesConfig, size: int, padding: float) -> ImageSource:
    """The `ImageSource` the config names, aligning to `size` with template `padding`."""
    if config.source == "lfw":
        root = config.lfw_dir or str(lfw_dir() / "lfw-deepfunneled")
        csv = config.landmarks or str(lfw_dir() / "dlib" / "landmarks5.csv")
        return LfwFolderSource(root, csv, size, padding=padding, limit=config.limit, margin=config.landmark_margin)
    if config.source == "synthetic":
        if config.faceset:
            faces = synthetic.load_faceset(config.faceset)
            desc = {"generator": "faceset_file", "path": config.faceset}
        else:
            args = dict(num_identities=config.num_identities, images_per_identity=config.images_per_identity,
                        image_size=config.image_size, noisy_fraction=config.noisy_fraction, seed=config.seed)
            faces = synthetic.generate_faces(**args)
            desc = {"generator": "skd_tf.data.synthetic.generate_faces", **args}
        images, landmarks = faces.images, faces.landmarks
        if config.limit is not None:
            images, landmarks = images[:config.limit], landmarks[:config.limit]
        return AlignedArraySource(images, landmarks, size, padding=padding, description=desc,
                                  margin=config.landmark_margin)
    return TfdsSource(config.source.removeprefix("tfds:"), size, padding=padding, split=config.tfds_split,
                      data_dir=config.tfds_data_dir, image_key=config.image_key, landmarks_key=config.landmarks_key,
                      id_key=None if config.id_key == "position" else config.id_key, limit=config.limit,
                      prealigned=config.tfds_prealigned, margin=config.landmark_margin)


def run(config: FeaturesConfig, out_dir: str | os.PathLike) -> dict:
    """Runs the extraction the config describes into the cache folder `out_dir`; returns the stats of
    `extract_to_cache` (faces computed, shards computed / already done, seconds, faces per second, skipped)."""
    config = config.validate(require_inputs=True)
    check_out_dir("out_dir", out_dir)
    spec = teachers.spec(config.teacher, **config.teacher_kwargs)
    source = make_source(config, spec.input_size, spec.align_padding)
    known = check_source(source, config.on_corrupt)  # unusable faces fail here, before the teacher is built
    if known:
        logging.warning("%d unusable face(s) found before extraction will be left out (on_corrupt=skip)", len(known))
    model = teachers.build(config.teacher, **config.teacher_kwargs)
    manifest = {"teacher": spec.name, "layer": config.layer or spec.feature_layer, "feature_dim": spec.feature_dim,
                "teacher_kwargs": config.teacher_kwargs, "input_size": spec.input_size,
                "align_padding": spec.align_padding}
    logging.info("teacher %s (%dpx -> %d-D '%s'), source %s: %d faces, shards of %d -> %s", spec.name,
                 spec.input_size, spec.feature_dim, manifest["layer"], config.source, len(source), config.shard_size,
                 out_dir)
    stats = extract_to_cache(model, source, out_dir, manifest=manifest, shard_size=config.shard_size,
                             batch_size=config.batch_size, dtype=config.dtype, progress=config.progress,
                             on_corrupt=config.on_corrupt)
    logging.info("computed %d faces in %d shards (%d shards already done) in %.1f s: %.1f faces/s",
                 stats["faces_computed"], stats["computed_shards"], stats["skipped_shards"], stats["seconds"],
                 stats["faces_per_second"])
    if stats["skipped_faces"]:
        logging.warning("left out %d unusable face(s) (on_corrupt=skip); their row ids and reasons are listed under "
                        "'skipped' in %s", stats["skipped_faces"], os.path.join(out_dir, "manifest.json"))
    return stats
