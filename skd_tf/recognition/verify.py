"""Face verification of two image files: same person or not, with the score and the threshold (Section IV-A).

Each file goes through `skd_tf.recognition.faces.FaceFinder` (detection + dlib's 5 landmarks + the student's crop,
or an already aligned chip), both faces through one student (`skd_tf.recognition.students`), and the pair is scored
by `both` (the mean of the identity and mimic cosines) against the student's threshold. A file without a detected
face, or an unreadable one, gives no score: the result's `status` says which file and why.
"""
from __future__ import annotations

import os
from pathlib import Path

from skd_tf import pretrained
from skd_tf.recognition.faces import USABLE, FaceFinder, PhotoFace
from skd_tf.recognition.students import AUTO, auto_student, both_scores, load_recognizer


def face_notes(face: PhotoFace, resolution: int) -> list[str]:
    """What a reader should know about how one face was used: several faces, or a face upscaled to the student."""
    notes = []
    if face.status == "centred_box":
        notes.append(f"{face.path}: no face detected; taken as a centred face crop (landmarks found in the box "
                     f"{face.box})")
    if face.n_faces > 1:
        notes.append(f"{face.path}: {face.n_faces} faces detected, the largest was used")
    if face.native_resolution is not None and face.native_resolution < resolution:
        notes.append(f"{face.path}: the face spans {face.native_resolution:.0f} px, upscaled to the {resolution} px "
                     "student's input")
    return notes


def verify(image_a: str | os.PathLike, image_b: str | os.PathLike, *, student: str = pretrained.DEFAULT,
           kind: str = "keras", config: str | os.PathLike | None = None, threshold: float | None = None,
           operating_point: str = "best_accuracy", aligned: bool = False, upsample: int = 1,
           centred_fallback: bool = False) -> dict:
    """Verifies two image files; returns a JSON-ready dict: `status` ("ok", "no_face", "unreadable"), `decision`
    ("same", "different", or None without a face or a threshold), `score`, `student` (with its threshold), `images`
    (per file: faces found, box, native resolution) and `notes`. Arguments: see `load_recognizer` and `FaceFinder`.
    A path that is not a file raises FileNotFoundError naming it, before any model is loaded."""
    for path in (image_a, image_b):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: image not found")
    recognizer = None if student == AUTO else load_recognizer(student, kind=kind, config=config,
                                                              threshold=threshold, operating_point=operating_point)
    resolutions = ([recognizer.resolution] if recognizer is not None
                   else [int(pretrained.card(n)["resolution"]) for n in pretrained.names()])
    finder = FaceFinder(resolutions, aligned=aligned, upsample=upsample, centred_fallback=centred_fallback)
    faces = [finder(image_a), finder(image_b)]
    result = {"status": "ok", "decision": None, "score": None, "images": [f.describe() for f in faces], "notes": []}
    bad = [f for f in faces if f.status not in USABLE]
    if bad:
        result["status"] = bad[0].status
        result["notes"] = [f"{f.path}: " + ("no face detected" if f.status == "no_face" else f.error) for f in bad]
        if recognizer is not None:
            result["student"] = recognizer.describe()
        return result
    if recognizer is None:
        recognizer = load_recognizer(auto_student([f.native_resolution for f in faces]), kind=kind,
                                     threshold=threshold, operating_point=operating_point)
    p = recognizer.resolution
    feats = [recognizer.features(f.crops[p][None]) for f in faces]
    score = float(both_scores(feats[0], feats[1])[0, 0])
    result.update(score=score, decision=recognizer.decide(score), student=recognizer.describe(),
                  notes=[n for f in faces for n in face_notes(f, p)])
    if recognizer.threshold is None:
        result["notes"].append("no threshold for this student: pass --threshold to decide same/different")
    return result


def format_verification(result: dict) -> str:
    """A readable summary of a `verify` result."""
    lines = []
    student = result.get("student")
    if student:
        thr = "none" if student["threshold"] is None else f"{student['threshold']:.4f}"
        lines.append(f"student    {student['student']} ({student['kind']}, {student['resolution']} px); threshold "
                     f"{thr} [{student['threshold_source']}]")
    for label, image in zip(("image a", "image b"), result["images"]):
        face = image["status"].replace("_", " ")
        if image["native_resolution"] is not None:
            face += f": {image['n_faces']} face(s) detected, native {image['native_resolution']} px"
        lines.append(f"{label:<10} {image['path']}  [{face}]")
    if result["status"] == "ok":
        lines.append(f"score      {result['score']:.4f} (mean cosine of identity and mimic features)")
        lines.append(f"decision   {result['decision'] or 'undecided (no threshold)'}")
    else:
        lines.append(f"decision   none: {result['status'].replace('_', ' ')}")
    lines += [f"note       {n}" for n in result["notes"]]
    return "\n".join(lines)
