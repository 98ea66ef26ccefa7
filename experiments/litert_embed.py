"""Embeddings of faces with LiteRT alone, no TensorFlow: the phone-side reference (issue 15; `skd_tf.litert_reference`).

    python -m experiments.litert_embed --model=S-32-sc crop_a.png crop_b.png           # aligned 32 x 32 crops
    python -m experiments.litert_embed --model=S-16-sc --kind=int8 \\
        --landmarks=../shared/data/lfw/dlib/landmarks5.csv --image_root=../shared/data/lfw/lfw-deepfunneled \\
        ../shared/data/lfw/lfw-deepfunneled/Abel_Pacheco/Abel_Pacheco_0001.jpg ...

--model: a .tflite exported by skd_tf.serving, or a pretrained name (its --kind file). Without --landmarks the images
are aligned p x p crops; with it (a CSV with columns path, x0, y0, ..., x4, y4, as landmarks5.csv) each photo is
aligned from its 5 points, its path looked up relative to --image_root. Prints JSON: per image its `embedding` and
`mimic`, and for two images their `both` score; --out=PATH.npz saves the arrays too.
"""
from __future__ import annotations

import csv
import json
import os

from absl import app, flags

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the absl flags (only when run as a program)."""
    flags.DEFINE_string("model", "S-32-sc", "A .tflite student, or a pretrained name (skd_tf.pretrained).")
    flags.DEFINE_enum("kind", "float32", ["float32", "int8"], "TFLite file of a pretrained name.")
    flags.DEFINE_string("landmarks", None, "CSV of path,x0,y0,...,x4,y4: the images are photos, aligned here.")
    flags.DEFINE_string("image_root", None, "Folder the CSV's paths are relative to (default: as given).")
    flags.DEFINE_string("out", None, "Also save the arrays (paths, embedding, mimic) to this .npz.")


def main(argv) -> None:
    import numpy as np

    from skd_tf import pretrained
    from skd_tf.data.images import read_rgb
    from skd_tf.litert_reference import LiteRTStudent, both_score, crop_from_landmarks

    paths = argv[1:]
    if not paths:
        raise app.UsageError("expected image files after the flags")
    model = pretrained.tflite_path(FLAGS.model, FLAGS.kind) if FLAGS.model in pretrained.names() else FLAGS.model
    student = LiteRTStudent(model)
    crops = [read_rgb(p) for p in paths]
    if FLAGS.landmarks:
        with open(FLAGS.landmarks, newline="", encoding="utf-8") as f:
            table = {row["path"]: [float(row[f"{a}{k}"]) for k in range(5) for a in "xy"] for row in csv.DictReader(f)}
        keys = [os.path.relpath(p, FLAGS.image_root) if FLAGS.image_root else p for p in paths]
        missing = [k for k in keys if k not in table]
        if missing:
            raise app.UsageError(f"{FLAGS.landmarks}: no row for {missing[:3]} (paths relative to --image_root)")
        crops = [crop_from_landmarks(image, table[k], student.resolution) for image, k in zip(crops, keys)]
    side = (student.resolution, student.resolution, 3)
    wrong = [f"{p} ({c.shape[1]} x {c.shape[0]} px)" for p, c in zip(paths, crops) if c.shape != side]
    if wrong:
        raise app.UsageError(f"{wrong[0]}: expected an aligned {side[0]} x {side[1]} face crop (or --landmarks)")
    out = student.embed(np.stack(crops))
    result = {"model": str(student.path), "resolution": student.resolution,
              "faces": [{"path": p, **{k: v[i].tolist() for k, v in out.items()}} for i, p in enumerate(paths)]}
    if len(paths) == 2:
        result["both"] = float(both_score({k: v[:1] for k, v in out.items()}, {k: v[1:] for k, v in out.items()})[0])
    if FLAGS.out:
        np.savez(FLAGS.out, paths=np.array(paths), **out)
    print(json.dumps(result))


if __name__ == "__main__":
    define_flags()
    app.run(main)
