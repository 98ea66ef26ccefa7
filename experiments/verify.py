"""Are two photos the same person? Prints "same"/"different" with the score and the threshold (issue 15).

    python -m experiments.verify photo_a.jpg photo_b.jpg                      # the shipped S-32-sc, offline
    python -m experiments.verify a.jpg b.jpg --student=auto --json            # student nearest the faces' size
    python -m experiments.verify a.png b.png --student=run/S-16-sc/student.keras --threshold=0.9

Photos go through dlib's detector and 5-point landmarks (`pip install 'skd-tf[detect]'`; the largest face of a photo
is used), or are taken as aligned face chips with --aligned. --student: a pretrained name (`skd_tf.pretrained`;
--kind picks its keras / float32 / int8 file), "auto", or a .keras / .weights.h5 (+ --config) / .tflite file. The
score is the mean cosine of the identity and mimic features; the threshold is the model card's (by default the one
that maximises accuracy on the training pairs; --operating_point=far_1e-3 for a strict one) unless --threshold is
given. Exit status 2 when a photo has no detected face or
cannot be read. Logic: `skd_tf.recognition.verify`.
"""
from __future__ import annotations

import json

from absl import app, flags, logging

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program)."""
    flags.DEFINE_string("student", "S-32-sc", "Pretrained name, 'auto', or a .keras / .weights.h5 / .tflite file.")
    flags.DEFINE_enum("kind", "keras", ["keras", "float32", "int8"], "Artifact of a pretrained student.")
    flags.DEFINE_string("config", None, "Training config.json of a .weights.h5 student (default: beside it).")
    flags.DEFINE_float("threshold", None, "Decision threshold on the score (default: the model card's).")
    flags.DEFINE_enum("operating_point", "best_accuracy", ["far_1e-3", "far_1e-2", "best_accuracy"],
                      "Which of the card's thresholds (all chosen on training pairs).")
    flags.DEFINE_boolean("aligned", False, "The images are aligned face chips (dlib template, padding 0.25).")
    flags.DEFINE_integer("upsample", 1, "dlib detector upsampling (2 finds faces down to ~20 px, slower).")
    flags.DEFINE_boolean("centred_fallback", False, "When no face is detected, take the photo as a centred face crop "
                         "framed like LFW (landmarks searched in LFW's median face box); reported per photo.")
    flags.DEFINE_boolean("json", False, "Print the result as JSON.")


def main(argv) -> int:
    if len(argv) != 3:
        raise app.UsageError("expected two image files: python -m experiments.verify A.jpg B.jpg")
    from skd_tf.recognition import format_verification, verify

    result = verify(argv[1], argv[2], student=FLAGS.student, kind=FLAGS.kind, config=FLAGS.config,
                    threshold=FLAGS.threshold, operating_point=FLAGS.operating_point, aligned=FLAGS.aligned,
                    upsample=FLAGS.upsample, centred_fallback=FLAGS.centred_fallback)
    for note in result["notes"]:
        logging.info(note)
    print(json.dumps(result, indent=2) if FLAGS.json else format_verification(result), flush=True)
    return 0 if result["status"] == "ok" else 2


if __name__ == "__main__":
    define_flags()
    app.run(main)
