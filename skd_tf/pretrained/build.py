"""Remaking a pretrained student's folder from a training run of `experiments/lfw_lowres.py` (reproducible shipping).

`make_pretrained(run_dir, name, out_root)` takes `run_dir/students/<name>/student.keras` and writes
`out_root/<name>/` (see `skd_tf.pretrained`):

1. `student.keras`: the student without its softmax layer (`strip_softmax`; on LFW its 5,148 x 128 weights, 2.6 MB,
   are read only by the softmax loss of Eq. 1 / 6), so it keeps the two feature layers the paper verifies
   with (identity and mimic, Section IV-A), and `target_mean.npy`, the training mean the regression targets were
   centred by (cross-resolution scores against the teacher need it, `skd_tf.evaluation.lfw_view2`);
2. `student_float32.tflite` and `student_int8.tflite` from `skd_tf.serving.export_student`, the full-int8 model
   calibrated on 200 faces of the *training* people;
3. per artifact, the verification thresholds chosen on the View-2 pairs of the training folds and the figures of
   the held-out fold (`skd_tf.pretrained.evaluate`), measured on that file;
4. `card.json` (everything above, the training data and its terms, the teacher, the recipe and commands, the
   phone-side preprocessing, sha256 of each file) and `README.md` (`card_readme`).

The folder is written atomically (`skd_tf.utils.io.atomic_dir`): a failed run leaves the shipped one unchanged.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from skd_tf.pretrained import ARTIFACT_KINDS, CARD_FILE, KERAS_FILE, TFLITE_KINDS, artifact_file
from skd_tf.pretrained import evaluate as card_eval
from skd_tf.pretrained.evaluate import DEFAULT_OPERATING_POINT, OPERATING_POINTS

TARGET_MEAN_FILE = "target_mean.npy"
CALIBRATION_FACES = 200
LFW_TERMS = ("LFW (Labeled Faces in the Wild, University of Massachusetts Amherst) is a public research benchmark; "
             "its site asks that it not be used for commercial face-recognition vetting. These weights are derived "
             "from it: use them for research and evaluation, and check LFW's terms (vis-www.cs.umass.edu/lfw) "
             "before any other use.")
TEACHER = {
    "name": "dlib_resnet",
    "what": ("the Keras port of dlib's face-recognition ResNet (dlib_face_recognition_resnet_model_v1, 128-D, "
             "150-px chips; skd_tf.models.teachers), matching real dlib 20.0.1 to cosine >= 0.9999998 on LFW"),
    "weights": "dlib_face_recognition_resnet_model_v1.dat from the PyPI package face-recognition-models 0.3.0",
    "weights_licence": ("the model files are CC0 1.0 (public domain dedication, per dlib's model release); the "
                        "package's metadata licence is MIT"),
}


def strip_softmax(model):
    """The student with only its `identity` and `mimic` outputs (the same layers and weights; the `logits` layer,
    the softmax classifier over the training identities, is dropped)."""
    import keras

    outputs = model.output
    if not isinstance(outputs, Mapping) or not {"identity", "mimic"} <= set(outputs):
        raise ValueError(f"model '{model.name}': expected dict outputs with 'identity' and 'mimic' (a student of "
                         "skd_tf.models.student)")
    return keras.Model(model.inputs[0], {"identity": outputs["identity"], "mimic": outputs["mimic"]}, name=model.name)


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path}: not found (expected the training run's JSON record)") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} {path}: not valid JSON ({e})") from None


def preprocessing(resolution: int) -> dict:
    """The phone-side input contract of a student at `resolution`: what a caller must do to a photo, as numbers."""
    from skd_tf.data.align import DLIB_5_TEMPLATE, REFERENCE_SIZE, TEACHER_CHIP, chip_points
    from skd_tf.data.detect import MIN_FACE_BOX

    p = int(resolution)
    return {
        "input": {"name": "images", "shape": [None, p, p, 3], "dtype": "uint8", "value_range": [0, 255],
                  "colour_order": "RGB", "layout": "NHWC",
                  "normalisation": "inside the model (x / 127.5 - 1); pass raw pixels"},
        "detection": {"detector": "dlib.get_frontal_face_detector() (HOG), upsample 1",
                      "landmarks": "dlib shape_predictor_5_face_landmarks.dat (face-recognition-models 0.3.0)",
                      "several_faces": "largest box first (skd_tf.data.detect.FaceDetector)",
                      "smallest_face_box_px": MIN_FACE_BOX,
                      "code": "skd_tf.data.detect"},
        "alignment": {
            "landmark_order": ("dlib's 5 points, (x, y) pixels with pixel centres at integers: outer and inner corner "
                               "of the eye on the image's right side, outer and inner corner of the other eye, base "
                               "of the nose"),
            "template_unit_square": DLIB_5_TEMPLATE.tolist(),
            "padding": TEACHER_CHIP.padding,
            "reference_size": REFERENCE_SIZE,
            "template_reference_px": chip_points(REFERENCE_SIZE, TEACHER_CHIP.padding).tolist(),
            "rule": ("least-squares similarity T (Umeyama, no reflection) from template_reference_px to the image "
                     "landmarks; scale s = |T's linear part column|, rotation R = linear part / s, centre c = "
                     "T(75, 75), step = (150 s - 1) / 149; input pixel o (0..p-1, both axes) samples the image at "
                     "c + step * R ((o + 0.5) * 150 / p - 0.5 - 74.5); bilinear interpolation, values truncated to "
                     "uint8, black where the 2x2 neighbourhood leaves the image (dlib's get_face_chip at 150 px)"),
            "anti_aliasing": ("render at m * p px with m = ceil(image pixels per input pixel) (1 <= m <= 2048 // p), "
                              "then area-downsample by m (cv2.INTER_AREA)"),
            "code": "skd_tf.data.detect.face_crop (= skd_tf.data.degrade.render_chip)",
        },
        "small_faces": ("a face whose native resolution (skd_tf.data.detect.native_resolution) is below p is "
                        "upscaled by this rule: prefer the student whose p is nearest the face "
                        "(skd_tf.data.detect.nearest_resolution)"),
        "reference_script": "python -m experiments.litert_embed (ai-edge-litert, numpy and cv2 only; no TensorFlow)",
    }


def card_readme(card: Mapping) -> str:
    """The model card in words (README.md beside card.json)."""
    name, p = card["name"], card["resolution"]
    thr = card["threshold"]
    held = card["evaluation"]["held_out"]
    lines = [f"# {name}: pretrained {p} px student", "",
             f"{card['model']}. Trained on {card['training']['data']['what']}.", "",
             f"**Terms.** {card['training']['data']['terms']}", "",
             f"**Teacher.** {card['training']['teacher']['what']}; weights: {card['training']['teacher']['weights']} "
             f"({card['training']['teacher']['weights_licence']}).", "",
             "## Files", "", "| file | bytes | sha256 |", "|---|---|---|"]
    lines += [f"| `{f['file']}` | {f['bytes']:,} | `{f['sha256']}` |" for f in card["files"].values()]
    lines += ["", f"## Held-out figures ({held['what']})", "",
              f"Score: {card['score']['formula']}. Threshold: {thr['operating_point']} ({thr['rule']}), chosen on "
              f"{thr['chosen_on']}.", "",
              "| artifact | AUC | 10-fold acc | TAR@FAR=1e-3 | threshold | held-out TAR / FAR at it |",
              "|---|---|---|---|---|---|"]
    for kind in ARTIFACT_KINDS:
        fig = held["figures"][kind][card["score"]["feature"]]
        at = fig["at_threshold"]
        lines.append(f"| {kind} | {fig['auc']:.2f} | {fig['accuracy_mean']:.2f} +- {fig['accuracy_std']:.2f} | "
                     f"{fig['tar_at_far_1e-3']:.2f} | {thr['value'][kind]:.4f} | {at['tar']:.2f} / {at['far']:.2f} |")
    pre = card["preprocessing"]
    lines += ["", "Figures in percent. Other operating points (same training pairs): " + ", ".join(
        f"{k} {v['value']['keras']:.4f}" for k, v in card["other_operating_points"].items()) + " (Keras).", "",
        "## Phone-side input", "",
        f"uint8 RGB NHWC `[N, {p}, {p}, 3]`, raw 0..255 (normalised inside the model); faces aligned with dlib's "
        f"5-point template, padding {pre['alignment']['padding']}, rendered anti-aliased at {p} px; "
        "`card.json` holds the template and the rule as numbers. Reference: `python -m experiments.litert_embed`.",
        "", "## How it was made", "", "```", card["training"]["command"], card["training"]["shipping_command"], "```",
        ""]
    return "\n".join(lines)


def make_pretrained(run_dir: str | os.PathLike, name: str, out_root: str | os.PathLike, *,
                    training_command: str, shipping_command: str, lfw_root: str | os.PathLike | None = None,
                    seed: int = 0, log: Callable[[str], None] | None = print) -> Path:
    """Writes `out_root/<name>/` from `run_dir/students/<name>/student.keras` (module docstring); returns it.

    `training_command` and `shipping_command` are recorded in the card (the run's own `settings.json` is recorded
    too, so the flags are exact). The held-out fold is the run's `lfw_train_fold` (settings.json); the training
    pairs are the View-2 pairs of the other nine folds.
    """
    from skd_tf import __version__
    from skd_tf.evaluation.view2_students import load_eval_student
    from skd_tf.models.student import count_parameters
    from skd_tf.serving import load_student
    from skd_tf.serving.sidecars import artifact_sha256
    from skd_tf.utils.io import atomic_dir, write_json, write_text
    from skd_tf.utils.paths import lfw_dir

    say = log or (lambda _msg: None)
    run_dir = Path(run_dir)
    src_dir = run_dir / "students" / name
    settings = _read_json(run_dir / "settings.json", "run settings")
    config = _read_json(src_dir / "config.json", "student config")
    selection = _read_json(run_dir / "selection.json", "selection record")
    held_out = settings.get("lfw_train_fold")
    if not isinstance(held_out, int) or not 1 <= held_out <= 10:
        raise ValueError(f"{run_dir / 'settings.json'}: field 'lfw_train_fold' = {held_out!r}; expected the held-out "
                         "View-2 fold 1..10 of an experiments/lfw_lowres.py run")
    training_folds = [k for k in range(1, 11) if k != held_out]
    target_mean = run_dir / TARGET_MEAN_FILE
    if not target_mean.is_file():
        raise FileNotFoundError(f"{target_mean}: not found (the run's centring of the regression targets)")
    student = strip_softmax(load_student(src_dir / KERAS_FILE))
    p = int(student.inputs[0].shape[1])
    root = Path(lfw_root) if lfw_root is not None else lfw_dir()
    say(f"{name}: reading the LFW faces of folds {training_folds} (training pairs) and {held_out} (held out)")
    train_pairs, train_faces = card_eval.landmark_faces(root, training_folds, [p])
    test_pairs, test_faces = card_eval.landmark_faces(root, [held_out], [p])
    calibration = train_faces[p][np.sort(np.random.default_rng(seed).choice(len(train_pairs.rows),
                                                                            CALIBRATION_FACES, replace=False))]
    out = Path(out_root) / name
    with atomic_dir(out) as tmp:
        student.save(tmp / KERAS_FILE)
        shutil.copyfile(target_mean, tmp / TARGET_MEAN_FILE)
        parity = _export_tflite(tmp, p, calibration, seed, {
            "teacher": TEACHER["name"], "training_data": f"LFW people of View-2 folds {training_folds}",
            "pretrained_name": name})
        measured = {kind: _measure(load_eval_student(tmp / artifact_file(kind), name=f"{name}[{kind}]"),
                                   (train_pairs, train_faces[p]), (test_pairs, test_faces[p]))
                    for kind in ARTIFACT_KINDS}
        for kind, (points, figures) in measured.items():
            say(f"{name} [{kind}]: held-out AUC {figures['both']['auc']:.2f}, threshold "
                f"{points[DEFAULT_OPERATING_POINT]['value']:.4f}")
        files = _file_entries(tmp, parity)
        thresholds = {kind: points[DEFAULT_OPERATING_POINT] for kind, (points, _) in measured.items()}
        card = {
            "name": name, "resolution": p,
            "model": (f"the {p} px student of Ge et al., IEEE TIP 2019 (Fig. 3; architecture "
                      f"'{config.get('student_arch', 'paper')}' of skd_tf.models.student, "
                      f"{count_parameters(student, exclude_softmax=False):,} parameters), supervision "
                      f"'{config.get('supervision')}' (Section IV-C: softmax plus the regression of the mimic layer "
                      "onto the teacher's features of the selected faces, Eq. 4-6)"),
            "files": files,
            "training": {
                "data": {"what": f"the LFW people of View-2 folds {training_folds} (people.txt; "
                                 f"{config['resolved'].get('num_classes')} people, "
                                 f"{config['resolved'].get('train_images')} low-resolution training crops)",
                         "source": "LFW deep-funneled images (lfw-deepfunneled), dlib 5-point landmarks",
                         "terms": LFW_TERMS},
                "teacher": TEACHER,
                "selection": {k: selection.get(k) for k in ("lam", "rule", "kept", "faces",
                                                            "kept_fraction_multi_image")},
                "recipe": {"run_settings": settings, "student_config": config},
                "command": training_command, "shipping_command": shipping_command,
                "source_checkpoint_sha256": artifact_sha256(src_dir / KERAS_FILE),
            },
            "score": {"feature": card_eval.HEADLINE_FEATURE, "formula": card_eval.SCORE_FORMULA,
                      "keras_outputs": "cosines of the identity and mimic outputs",
                      "tflite_outputs": "cosines of the embedding (= L2-normalised identity) and mimic outputs"},
            "threshold": {"operating_point": DEFAULT_OPERATING_POINT, "rule": OPERATING_POINTS[DEFAULT_OPERATING_POINT],
                          "chosen_on": f"the {len(train_pairs)} View-2 pairs of the training folds {training_folds} "
                                       "(training people)",
                          "value": {k: v["value"] for k, v in thresholds.items()},
                          "on_training_pairs": {k: {m: v[m] for m in ("tar", "far", "accuracy")}
                                                for k, v in thresholds.items()}},
            "other_operating_points": {key: {"rule": OPERATING_POINTS[key],
                                             "value": {k: points[key]["value"] for k, (points, _) in measured.items()},
                                             "on_training_pairs": {k: {m: points[key][m] for m in ("tar", "far",
                                                                                                   "accuracy")}
                                                                   for k, (points, _) in measured.items()}}
                                       for key in OPERATING_POINTS if key != DEFAULT_OPERATING_POINT},
            "evaluation": {"held_out": {
                "what": f"LFW View-2 fold {held_out}: {len(test_pairs)} pairs, {len(test_pairs.rows)} images, people "
                        "disjoint from training",
                "folds": [held_out], "faces": "aligned with dlib/landmarks5.csv, rendered at p px (eval_lfw's crops)",
                "accuracy_folds": test_pairs.cv_description(), "units": "percent",
                "figures": {kind: figures for kind, (_, figures) in measured.items()}}},
            "preprocessing": preprocessing(p),
            "software": _versions(__version__),
        }
        write_json(tmp / CARD_FILE, card)
        write_text(tmp / "README.md", card_readme(json.loads((tmp / CARD_FILE).read_text(encoding="utf-8"))))
    say(f"wrote {out}")
    return out


def _export_tflite(folder: Path, resolution: int, calibration: np.ndarray, seed: int, metadata: dict) -> dict:
    """Writes the float32 and int8 TFLite files of `folder/student.keras` into `folder` (`export_student`, int8
    calibrated on `calibration`); returns each one's parity with the Keras model as its sidecar recorded it."""
    from skd_tf.serving import export_student

    parity = {}
    with tempfile.TemporaryDirectory(dir=folder) as export_dir:
        paths = export_student(folder / KERAS_FILE, export_dir, resolution=resolution,
                               representative_images=calibration, kinds=TFLITE_KINDS, basename="student", seed=seed,
                               metadata=metadata)
        for kind in TFLITE_KINDS:
            shutil.copyfile(paths[kind], folder / artifact_file(kind))
            side = json.loads(Path(f"{paths[kind]}.json").read_text(encoding="utf-8"))
            parity[kind] = {"vs_keras": side["parity_vs_keras"], "bounds": side["parity_bounds"]}
    return parity


def _measure(student, training: tuple, held_out: tuple) -> tuple[dict, dict]:
    """(operating points on the training pairs, held-out figures at the headline threshold) of one artifact;
    `training` and `held_out` are (pairs, faces at p)."""
    points = card_eval.operating_points(card_eval.pair_scores(student, training[1], training[0])[
        card_eval.HEADLINE_FEATURE], training[0])
    figures = card_eval.held_out_figures(card_eval.pair_scores(student, held_out[1], held_out[0]), held_out[0],
                                         points[DEFAULT_OPERATING_POINT]["value"])
    return points, figures


def _file_entries(folder: Path, parity: dict) -> dict:
    """The card's `files`: per artifact its file name, size, sha256 and what it holds (TFLite: and its parity)."""
    from skd_tf.serving.sidecars import artifact_sha256, artifact_size_bytes

    files = {kind: {"file": artifact_file(kind)} for kind in ARTIFACT_KINDS}
    files["target_mean"] = {"file": TARGET_MEAN_FILE}
    for entry in files.values():
        entry.update(bytes=artifact_size_bytes(folder / entry["file"]), sha256=artifact_sha256(folder / entry["file"]))
    files["keras"]["content"] = ("Keras v3 student, dict outputs identity [N, 128] (linear identity layer) and "
                                 "mimic [N, D]; the softmax layer (training only) is stripped")
    files["target_mean"]["content"] = ("[D] float32 training mean of the teacher features; the mimic layer regresses "
                                       "teacher feature minus this mean")
    for kind in TFLITE_KINDS:
        files[kind]["content"] = "TFLite (skd_tf.serving), signature serving_default: images -> embedding, mimic"
        files[kind]["parity_vs_keras"] = parity[kind]
    return files


def _versions(skd_version: str) -> dict:
    from importlib.metadata import version

    import cv2
    import keras
    import tensorflow as tf

    return {"skd_tf": skd_version, "tensorflow": tf.__version__, "keras": keras.__version__,
            "ai_edge_litert": version("ai-edge-litert"), "opencv": cv2.__version__, "numpy": np.__version__}
