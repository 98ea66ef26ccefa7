"""Who is in these photos? Enrols a gallery folder and ranks its people for each probe (issue 15).

    python -m experiments.identify --gallery=people/ probe1.jpg probes_folder/ --top_k=3
    python -m experiments.identify --gallery=people/ probes/ --student=S-16-sc --kind=int8 --json > result.json

--gallery: one subfolder per person, named after them, holding that person's images (`people/Alice/1.jpg`). Probes:
image files and/or folders (searched recursively). Each photo goes through dlib's detector and 5-point landmarks (the
largest face is used; --aligned for aligned chips); images without a detected face and unreadable ones are counted
and listed, never dropped. The top-1 person is the match when the score clears the threshold (else "unknown"). See
experiments/verify.py for --student, --kind, --threshold, --operating_point. Logic: `skd_tf.recognition.identify`.
"""
from __future__ import annotations

import json

from absl import app, flags

from experiments import verify

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program): verify's, plus the gallery and top-k."""
    verify.define_flags()
    flags.DEFINE_string("gallery", None, "Gallery folder: one subfolder per person.")
    flags.DEFINE_integer("top_k", 5, "People listed per probe.")
    flags.DEFINE_boolean("progress", True, "Progress bar on stderr.")
    flags.mark_flag_as_required("gallery")


def main(argv) -> None:
    if len(argv) < 2:
        raise app.UsageError("expected probe image files or folders after the flags")
    from skd_tf.recognition import format_identification, identify

    result = identify(FLAGS.gallery, argv[1:], student=FLAGS.student, kind=FLAGS.kind, config=FLAGS.config,
                      threshold=FLAGS.threshold, operating_point=FLAGS.operating_point, top_k=FLAGS.top_k,
                      aligned=FLAGS.aligned, upsample=FLAGS.upsample, centred_fallback=FLAGS.centred_fallback,
                      progress=FLAGS.progress)
    print(json.dumps(result, indent=2) if FLAGS.json else format_identification(result), flush=True)


if __name__ == "__main__":
    define_flags()
    app.run(main)
