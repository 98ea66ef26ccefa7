"""Extract teacher features into a resumable sharded cache (paper Section III-C, Eq. 2: f_i = phi^_t(F_i)).

Examples:
  python -m experiments.extract_features --teacher=dlib_resnet --source=lfw --out_dir=runs/cache/lfw_dlib
  python -m experiments.extract_features --teacher=compact --teacher_kw=weights=runs/demo/teacher.keras \
      --source=synthetic --num_identities=50 --images_per_identity=20 --out_dir=runs/cache/synth
  python -m experiments.extract_features --teacher=vggface16 --teacher_kw=weights=vgg_face.h5 \
      --source=tfds:umdfaces/aligned_224 --tfds_prealigned --out_dir=runs/cache/umd_vgg

Every face is aligned to the teacher's input size with its 5 landmarks (`skd_tf.data.align.align_face`, padding
`spec.align_padding`). Killing the run and rerunning the same command resumes after the last finished shard; a cache
directory holding another teacher's or source's features is refused. Images are read with `skd_tf.data.images`
(a truncated file is refused, never decoded partially); `--on_corrupt=skip` leaves unusable faces out and records
them in the cache manifest (`skipped`), `--on_corrupt=fail` (default) stops naming the first one.
"""
from __future__ import annotations

import json

from absl import app, flags

from skd_tf.data.images import DEFAULT_MARGIN

FLAGS = flags.FLAGS

flags.DEFINE_string("teacher", None, "Registered teacher name (skd_tf.models.teachers.names()).")
flags.DEFINE_multi_string("teacher_kw", [], "Teacher keyword argument KEY=VALUE (repeatable), e.g. weights=PATH.")
flags.DEFINE_string("layer", None, "Name recorded for the feature layer (default: the teacher spec's feature_layer).")
flags.DEFINE_string("source", None, "'synthetic', 'lfw' or 'tfds:<builder name>'.")
flags.DEFINE_string("out_dir", None, "Cache directory (created; resumed when it holds this run's cache).")
flags.DEFINE_integer("shard_size", 1024, "Faces per shard.")
flags.DEFINE_integer("batch_size", 64, "Faces per forward pass.")
flags.DEFINE_integer("limit", None, "Only the first N (>= 1) faces of the source (quick runs); unset: all faces.")
flags.DEFINE_enum("on_corrupt", "fail", ["fail", "skip"], "An unusable face (truncated or undecodable image, a "
                  "landmark far outside its image, landmarks that cannot be aligned): 'fail' stops naming the file "
                  "(before any feature is computed where it can be seen without decoding); 'skip' leaves it out of the "
                  "cache and records its row id and reason in the manifest's 'skipped' list.")
flags.DEFINE_float("landmark_margin", DEFAULT_MARGIN, "How far (fraction of the image size) a landmark may lie outside its image.")
flags.DEFINE_enum("dtype", "float32", ["float32", "float16"], "Stored feature dtype.")
flags.DEFINE_boolean("progress", True, "Show a progress bar.")
# --source=lfw
flags.DEFINE_string("lfw_dir", None, "LFW-layout image folder (default: ../shared/data/lfw/lfw-deepfunneled).")
flags.DEFINE_string("landmarks", None, "Landmarks CSV (default: ../shared/data/lfw/dlib/landmarks5.csv).")
# --source=synthetic
flags.DEFINE_string("faceset", None, "A FaceSet .npz (skd_tf.data.synthetic.save_faceset); else one is generated.")
flags.DEFINE_integer("num_identities", 20, "Synthetic identities.")
flags.DEFINE_integer("images_per_identity", 10, "Synthetic images per identity.")
flags.DEFINE_integer("image_size", 160, "Synthetic image size in pixels.")
flags.DEFINE_float("noisy_fraction", 0.1, "Fraction of noisy synthetic faces.")
flags.DEFINE_integer("seed", 0, "Synthetic generation seed.")
# --source=tfds:NAME
flags.DEFINE_string("tfds_split", "train", "TFDS split.")
flags.DEFINE_string("tfds_data_dir", None, "TFDS data_dir.")
flags.DEFINE_string("image_key", "image", "TFDS image feature.")
flags.DEFINE_string("landmarks_key", "landmarks", "TFDS landmarks feature ([5, 2], dlib order).")
flags.DEFINE_string("id_key", "auto", "TFDS feature holding a row id ('auto': row_id when the dataset has it, else "
                    "the position in the split; 'position' forces positions).")
flags.DEFINE_boolean("tfds_prealigned", False, "TFDS images are already aligned chips of the teacher's input size "
                     "(e.g. umdfaces/aligned_150 for dlib_resnet): use them as they are.")


def parse_kwargs(items: list[str]) -> dict:
    """`['a=1', 'b=x', 'c=true']` -> `{'a': 1, 'b': 'x', 'c': True}` (int, float, bool, else string)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--teacher_kw: expected KEY=VALUE, got {item!r}")
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


def make_source(source: str, size: int, padding: float):
    """The `ImageSource` named by the flags, aligning to `size` with template `padding`."""
    from skd_tf.features import extract

    if source == "lfw":
        from skd_tf.utils.paths import lfw_dir

        root = FLAGS.lfw_dir or str(lfw_dir() / "lfw-deepfunneled")
        csv = FLAGS.landmarks or str(lfw_dir() / "dlib" / "landmarks5.csv")
        return extract.LfwFolderSource(root, csv, size, padding=padding, limit=FLAGS.limit,
                                       margin=FLAGS.landmark_margin)
    if source == "synthetic":
        from skd_tf.data import synthetic

        if FLAGS.faceset:
            faces = synthetic.load_faceset(FLAGS.faceset)
            desc = {"generator": "faceset_file", "path": FLAGS.faceset}
        else:
            args = dict(num_identities=FLAGS.num_identities, images_per_identity=FLAGS.images_per_identity,
                        image_size=FLAGS.image_size, noisy_fraction=FLAGS.noisy_fraction, seed=FLAGS.seed)
            faces = synthetic.generate_faces(**args)
            desc = {"generator": "skd_tf.data.synthetic.generate_faces", **args}
        images, landmarks = faces.images, faces.landmarks
        if FLAGS.limit is not None:
            images, landmarks = images[:FLAGS.limit], landmarks[:FLAGS.limit]
        return extract.AlignedArraySource(images, landmarks, size, padding=padding, description=desc,
                                          margin=FLAGS.landmark_margin)
    if source.startswith("tfds:") and len(source) > 5:
        return extract.TfdsSource(source[5:], size, padding=padding, split=FLAGS.tfds_split,
                                  data_dir=FLAGS.tfds_data_dir, image_key=FLAGS.image_key,
                                  landmarks_key=FLAGS.landmarks_key,
                                  id_key=None if FLAGS.id_key == "position" else FLAGS.id_key, limit=FLAGS.limit,
                                  prealigned=FLAGS.tfds_prealigned, margin=FLAGS.landmark_margin)
    raise ValueError(f"--source: expected 'synthetic', 'lfw' or 'tfds:<name>', got {source!r}")


def validate_flags() -> None:
    """Checks the flags before any data is read or the teacher is built; ValueError naming the flag."""
    from skd_tf.data.images import check_margin

    for name in ("teacher", "source", "out_dir"):
        if not getattr(FLAGS, name):
            raise ValueError(f"--{name} is required")
    if FLAGS.limit is not None and FLAGS.limit < 1:
        raise ValueError(f"--limit={FLAGS.limit}: expected a positive number of faces (>= 1); leave it unset to "
                         f"extract every face")
    for name in ("shard_size", "batch_size"):
        if getattr(FLAGS, name) < 1:
            raise ValueError(f"--{name}={getattr(FLAGS, name)}: expected a positive integer")
    check_margin(FLAGS.landmark_margin, "--landmark_margin")
    source = FLAGS.source
    if source not in ("lfw", "synthetic") and not (source.startswith("tfds:") and len(source) > 5):
        raise ValueError(f"--source: expected 'synthetic', 'lfw' or 'tfds:<name>', got {source!r}")


def run() -> dict:
    """Runs the extraction the flags describe; returns the stats of `extract_to_cache`."""
    from skd_tf.features.extract import check_source, extract_to_cache
    from skd_tf.models import teachers

    validate_flags()
    kwargs = parse_kwargs(FLAGS.teacher_kw)
    spec = teachers.spec(FLAGS.teacher, **kwargs)
    source = make_source(FLAGS.source, spec.input_size, spec.align_padding)
    known = check_source(source, FLAGS.on_corrupt)  # unusable faces fail here, before the teacher is built
    if known:
        print(f"{len(known)} unusable face(s) found before extraction will be left out (--on_corrupt=skip)")
    model = teachers.build(FLAGS.teacher, **kwargs)
    manifest = {"teacher": spec.name, "layer": FLAGS.layer or spec.feature_layer, "feature_dim": spec.feature_dim,
                "teacher_kwargs": kwargs, "input_size": spec.input_size, "align_padding": spec.align_padding}
    print(f"teacher {spec.name} ({spec.input_size}px -> {spec.feature_dim}-D '{manifest['layer']}'), "
          f"source {FLAGS.source}: {len(source)} faces, shards of {FLAGS.shard_size} -> {FLAGS.out_dir}")
    stats = extract_to_cache(model, source, FLAGS.out_dir, manifest=manifest, shard_size=FLAGS.shard_size,
                             batch_size=FLAGS.batch_size, dtype=FLAGS.dtype, progress=FLAGS.progress,
                             on_corrupt=FLAGS.on_corrupt)
    print(f"computed {stats['faces_computed']} faces in {stats['computed_shards']} shards "
          f"({stats['skipped_shards']} shards already done) in {stats['seconds']:.1f} s: "
          f"{stats['faces_per_second']:.1f} faces/s")
    if stats["skipped_faces"]:
        print(f"left out {stats['skipped_faces']} unusable face(s) (--on_corrupt=skip); their row ids and reasons "
              f"are listed under 'skipped' in {FLAGS.out_dir}/manifest.json")
    print(json.dumps({k: v for k, v in stats.items()}, default=float))
    return stats


def main(argv):
    del argv
    run()


if __name__ == "__main__":
    app.run(main)
