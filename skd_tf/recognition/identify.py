"""Identification: enrol a gallery folder, then rank its people for each probe image (top-k with scores).

The gallery is one subfolder per person (`gallery/<person>/*.jpg`, the subfolder's name is the person's; the layout
of LFW and of the `face_folder` builder). Every image goes through `skd_tf.recognition.faces.FaceFinder`; a person's
template is the mean of the L2-normalised identity features and of the mimic features of their enrolled faces, and
a probe is scored against each template by `both` (the mean of the two cosines, Section IV-A), so the ranking is
the closed-set identification of Section IV-E with the verification score. The top-1 person is reported as the
`match` when the score clears the student's threshold, else the probe is "unknown" (open set).

Files without a detected face and unreadable files are counted and listed for the gallery and the probes; a person
none of whose images gives a face is listed as not enrolled.
"""
from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from skd_tf import pretrained
from skd_tf.recognition.faces import STATUSES, USABLE, FaceFinder, PhotoFace, gallery_files, image_files
from skd_tf.recognition.students import AUTO, auto_student, both_scores, load_recognizer
from skd_tf.recognition.verify import face_notes


def _find_all(finder: FaceFinder, files: Sequence[Path], desc: str, progress: bool) -> list[PhotoFace]:
    from tqdm import tqdm

    return [finder(f) for f in tqdm(files, desc=desc, unit="image", disable=not progress, file=sys.stderr)]


def _counts(faces: Sequence[PhotoFace]) -> dict:
    return {status: [f.path for f in faces if f.status == status] for status in STATUSES if status != "ok"}


def identify(gallery: str | os.PathLike, probes: Sequence[str | os.PathLike], *, student: str = pretrained.DEFAULT,
             kind: str = "keras", config: str | os.PathLike | None = None, threshold: float | None = None,
             operating_point: str = "best_accuracy", top_k: int = 5, aligned: bool = False, upsample: int = 1,
             centred_fallback: bool = False, progress: bool = False) -> dict:
    """Enrols `gallery` and ranks its people for each probe (files, or folders searched recursively); returns a
    JSON-ready dict with `student`, `gallery` (people, images, enrolled, no_face / unreadable lists), `probes` (per
    probe: status, faces found, `top` [{person, score}], `match`) and `summary` counts. Arguments: see
    `load_recognizer` and `FaceFinder`; "auto" picks the student nearest the probes' median face resolution."""
    if int(top_k) < 1:
        raise ValueError(f"top_k: expected a positive integer, got {top_k}")
    entries = gallery_files(gallery)
    probe_files = image_files(probes, what="probes")
    recognizer = None if student == AUTO else load_recognizer(student, kind=kind, config=config,
                                                              threshold=threshold, operating_point=operating_point)
    resolutions = ([recognizer.resolution] if recognizer is not None
                   else [int(pretrained.card(n)["resolution"]) for n in pretrained.names()])
    finder = FaceFinder(resolutions, aligned=aligned, upsample=upsample, centred_fallback=centred_fallback)
    gallery_faces = _find_all(finder, [f for _, f in entries], "gallery", progress)
    probe_faces = _find_all(finder, probe_files, "probes", progress)
    if recognizer is None:
        natives = [f.native_resolution for f in probe_faces if f.status in USABLE]
        if not natives:
            raise ValueError(f"student {AUTO!r}: no face in any of the {len(probe_faces)} probes to choose by")
        recognizer = load_recognizer(auto_student([statistics.median(natives)]), kind=kind, threshold=threshold,
                                     operating_point=operating_point)
    p = recognizer.resolution
    people = sorted({person for person, _ in entries})
    ok = [(person, face) for (person, _), face in zip(entries, gallery_faces) if face.status in USABLE]
    enrolled = sorted({person for person, _ in ok})
    if not enrolled:
        raise ValueError(f"gallery {gallery}: no face detected in any of its {len(entries)} images")
    feats = recognizer.features(np.stack([face.crops[p] for _, face in ok]))
    owner = np.array([enrolled.index(person) for person, _ in ok])
    templates = {k: np.stack([v[owner == i].mean(0) for i in range(len(enrolled))]) for k, v in feats.items()}
    probe_ok = [f for f in probe_faces if f.status in USABLE]
    scores = (both_scores(recognizer.features(np.stack([f.crops[p] for f in probe_ok])), templates)
              if probe_ok else np.zeros((0, len(enrolled))))
    rows, k = [], min(int(top_k), len(enrolled))
    probe_scores = iter(scores)
    for face in probe_faces:
        row = face.describe()
        if face.status in USABLE:
            s = next(probe_scores)
            best = np.argsort(-s, kind="stable")[:k]
            row["top"] = [{"person": enrolled[i], "score": float(s[i])} for i in best]
            top = row["top"][0]
            row["match"] = (None if recognizer.threshold is None or top["score"] <= recognizer.threshold
                            else top["person"])
            row["notes"] = face_notes(face, p)
        rows.append(row)
    missing = _counts(probe_faces)
    return {
        "student": recognizer.describe(),
        "gallery": {"folder": str(gallery), "layout": "one subfolder per person", "people": len(people),
                    "enrolled_people": len(enrolled), "not_enrolled_people": sorted(set(people) - set(enrolled)),
                    "images": len(entries), "enrolled_images": len(ok), **_counts(gallery_faces)},
        "probes": rows,
        "summary": {"probes": len(probe_faces), "with_face": len(probe_ok),
                    **{status: len(paths) for status, paths in missing.items()},
                    "matched": sum(1 for r in rows if r.get("match"))},
    }


def format_identification(result: dict) -> str:
    """A readable table of an `identify` result: one line per probe, then what was left out and why."""
    student, gallery, summary = result["student"], result["gallery"], result["summary"]
    thr = "none" if student["threshold"] is None else f"{student['threshold']:.4f}"
    lines = [f"student  {student['student']} ({student['kind']}, {student['resolution']} px); threshold {thr} "
             f"[{student['threshold_source']}]",
             f"gallery  {gallery['folder']}: {gallery['enrolled_people']} of {gallery['people']} people enrolled "
             f"from {gallery['enrolled_images']} of {gallery['images']} images "
             f"(no face: {len(gallery['no_face'])}, unreadable: {len(gallery['unreadable'])}, centred box: "
             f"{len(gallery['centred_box'])})"]
    width = max([5] + [len(r["path"]) for r in result["probes"]]) + 2
    lines.append(f"{'probe':<{width}}{'match':<24}top (person score)")
    for row in result["probes"]:
        if row["status"] not in USABLE:
            lines.append(f"{row['path']:<{width}}-- {row['status'].replace('_', ' ')} --")
            continue
        match = row["match"] or ("unknown" if student["threshold"] is not None else "-")
        top = ", ".join(f"{t['person']} {t['score']:.3f}" for t in row["top"])
        lines.append(f"{row['path']:<{width}}{match:<24}{top}")
    lines.append(f"{summary['probes']} probes: {summary['with_face']} with a face ({summary['centred_box']} from the "
                 f"centred box), {summary['no_face']} without, {summary['unreadable']} unreadable; "
                 f"{summary['matched']} matched above the threshold")
    for what, paths in (("gallery images without a face", gallery["no_face"]),
                        ("gallery images taken as centred crops", gallery["centred_box"]),
                        ("unreadable gallery images", gallery["unreadable"]),
                        ("people not enrolled", gallery["not_enrolled_people"])):
        if paths:
            lines.append(f"{what}: {', '.join(paths)}")
    return "\n".join(lines)
