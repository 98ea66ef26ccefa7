"""Pretrained students shipped with the package, loaded by name and offline.

Each student lives in a folder named after it (`S-16-sc`, `S-32-sc`: the paper's naming of Section IV-C, resolution
p and supervision `sc` = softmax + selective regression of Eq. 4-6) holding

* `student.keras`: the Keras student with its `identity` and `mimic` outputs (the softmax layer, which only training
  uses, is stripped: `skd_tf.pretrained.build.strip_softmax`);
* `student_float32.tflite`, `student_int8.tflite`: its TFLite exports (`skd_tf.serving.export_student`; uint8 RGB
  `images` in, float32 `embedding` / `mimic` out);
* `card.json`: the model card (training data and its terms, teacher, recipe and the command that made it, the
  held-out LFW figures measured on each file, the verification threshold, the phone-side preprocessing, sha256 of
  every file) and `README.md`, the card in words.

`load(name)` returns the Keras model, `tflite_path(name, kind)` a TFLite file, `card(name)` the card; nothing is
downloaded. `skd_tf.pretrained.build.make_pretrained` (CLI: `python -m experiments.make_pretrained`) remakes a folder
from a training run.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CARD_FILE = "card.json"
KERAS_FILE = "student.keras"
TFLITE_KINDS = ("float32", "int8")
#: The artifact kinds of a card, as `card["files"]` keys and `kind=` values.
ARTIFACT_KINDS = ("keras",) + TFLITE_KINDS
DEFAULT = "S-32-sc"


def artifact_file(kind: str) -> str:
    """The file name of the artifact of `kind` in a pretrained folder."""
    if kind not in ARTIFACT_KINDS:
        raise ValueError(f"kind: expected one of {ARTIFACT_KINDS}, got {kind!r}")
    return KERAS_FILE if kind == "keras" else f"student_{kind}.tflite"


def names() -> list[str]:
    """The shipped students, by name (folders holding a `card.json`)."""
    return sorted(p.parent.name for p in ROOT.glob(f"*/{CARD_FILE}"))


def folder(name: str) -> Path:
    """The folder of the pretrained student `name`; ValueError listing the shipped ones otherwise."""
    path = ROOT / str(name)
    if not (path / CARD_FILE).is_file():
        raise ValueError(f"pretrained student {name!r}: not shipped with skd_tf (expected one of {names()}, "
                         f"folders with a {CARD_FILE} under {ROOT})")
    return path


def card(name: str) -> dict:
    """The model card of the pretrained student `name` (its `card.json`)."""
    path = folder(name) / CARD_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a valid JSON model card ({e})") from None


def artifact_path(name: str, kind: str = "keras") -> Path:
    """The file of the artifact of `kind` ("keras", "float32" or "int8") of the pretrained student `name`."""
    path = folder(name) / artifact_file(kind)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the {kind} artifact of pretrained student {name!r} is missing (the package "
                                "was installed without its data files?)")
    return path


def tflite_path(name: str, kind: str = "float32") -> Path:
    """The TFLite model (`kind` "float32" or "int8") of the pretrained student `name`."""
    if kind not in TFLITE_KINDS:
        raise ValueError(f"kind: expected one of {TFLITE_KINDS}, got {kind!r}")
    return artifact_path(name, kind)


def threshold(name: str, kind: str = "keras") -> float:
    """The card's verification threshold of artifact `kind` (FAR 1e-3 on the training pairs; `card["score"]` says
    which score it applies to)."""
    return float(card(name)["threshold"]["value"][kind])


def load(name: str = DEFAULT):
    """The Keras student `name` (e.g. "S-32-sc"), from the package's own files: dict outputs `identity`, `mimic`."""
    from skd_tf.serving.loading import load_keras_file

    return load_keras_file(artifact_path(name, "keras"))


__all__ = ["ARTIFACT_KINDS", "CARD_FILE", "DEFAULT", "KERAS_FILE", "ROOT", "TFLITE_KINDS", "artifact_file",
           "artifact_path", "card", "folder", "load", "names", "threshold", "tflite_path"]
