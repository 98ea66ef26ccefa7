"""Extract teacher features into a resumable sharded cache (paper Section III-C, Eq. 2: f_i = phi^_t(F_i)); the run is
`skd_tf.experiments.features` (config `skd_tf.configs.features.FeaturesConfig`, registered as "features").

    python -m experiments.extract_features --teacher=dlib_resnet --source=lfw --out_dir=runs/cache/lfw_dlib
    python -m experiments.extract_features --teacher=compact --teacher_kw=weights=runs/demo/teacher.keras \
        --source=synthetic --num_identities=50 --images_per_identity=20 --out_dir=runs/cache/synth
    python -m experiments.extract_features --teacher=vggface16 --teacher_kw=weights=vgg_face.h5 \
        --source=tfds:umdfaces/aligned_224 --tfds_prealigned --out_dir=runs/cache/umd_vgg

Killing the run and rerunning the same command resumes after the last finished shard. Logs the teacher, the source
and the speed; prints the stats as one JSON line:

    {"count": N, "faces_computed": N, "computed_shards": S, "skipped_shards": 0, "seconds": T, ...}

Flags left unset take the value of the config "features" (no teacher and source: give both).
"""
from __future__ import annotations

import json

from absl import app, flags

from skd_tf.configs import apply_overrides
from skd_tf.configs import flags as config_flags
from skd_tf.experiments import features

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program)."""
    flags.DEFINE_string("out_dir", None, "cache directory (created; resumed when it holds this run's cache)",
                        required=True)
    flags.DEFINE_multi_string("teacher_kw", [], "teacher keyword argument KEY=VALUE (repeatable), e.g. weights=PATH")
    define = config_flags.define_override
    define("teacher", "string", "registered teacher name (skd_tf.models.teachers.names())")
    define("layer", "string", "name recorded for the feature layer (None: the spec's feature_layer)")
    define("source", "string", "'synthetic', 'lfw' or 'tfds:<builder name>'")
    define("shard_size", "int", "faces per shard")
    define("batch_size", "int", "faces per forward pass")
    define("limit", "int", "only the first N (>= 1) faces of the source (quick runs; None: all faces)")
    define("on_corrupt", "enum", "an unusable face (truncated or undecodable image, a landmark far outside its "
           "image, landmarks that cannot be aligned): 'fail' stops naming the file; 'skip' leaves it out and records "
           "its row id and reason in the manifest's 'skipped'", choices=("fail", "skip"))
    define("landmark_margin", "float", "how far (fraction of the image size) a landmark may lie outside its image")
    define("dtype", "enum", "stored feature dtype", choices=("float32", "float16"))
    define("progress", "bool", "show a progress bar")
    define("lfw_dir", "string", "--source=lfw: LFW-layout image folder (None: the shared data's)")
    define("landmarks", "string", "--source=lfw: landmarks CSV (None: the shared data's dlib/landmarks5.csv)")
    define("faceset", "string", "--source=synthetic: a FaceSet .npz (None: one is generated)")
    define("num_identities", "int", "--source=synthetic: identities")
    define("images_per_identity", "int", "--source=synthetic: images per identity")
    define("image_size", "int", "--source=synthetic: image size in pixels")
    define("noisy_fraction", "float", "--source=synthetic: fraction of noisy faces")
    define("seed", "int", "--source=synthetic: generation seed")
    define("tfds_split", "string", "--source=tfds:NAME: split")
    define("tfds_data_dir", "string", "--source=tfds:NAME: data_dir")
    define("image_key", "string", "--source=tfds:NAME: image feature")
    define("landmarks_key", "string", "--source=tfds:NAME: landmarks feature ([5, 2], dlib order)")
    define("id_key", "string", "--source=tfds:NAME: feature holding a row id ('auto': row_id when the dataset has "
           "it, else the position in the split; 'position' forces positions)")
    define("tfds_prealigned", "bool", "--source=tfds:NAME: images are already aligned chips of the teacher's input "
           "size (e.g. umdfaces/aligned_150 for dlib_resnet): used as they are")
    flags.mark_flags_as_required(["teacher", "source"])
    flags.adopt_module_key_flags(config_flags)


def main(argv) -> None:
    del argv
    config = apply_overrides(config_flags.config_from_flags("features"),
                             {"teacher_kwargs": features.parse_kwargs(FLAGS.teacher_kw)})
    print(json.dumps(features.run(config, FLAGS.out_dir), default=float))


if __name__ == "__main__":
    define_flags()
    app.run(main)
