"""Generates the UMDFaces dummy data: synthetic cartoon faces (no real faces) in the official still-image layout.

    .venv/bin/python data_builders/umdfaces/make_dummy_data.py            # (re)writes ./dummy_data beside it
    .venv/bin/python data_builders/umdfaces/make_dummy_data.py --out=DIR  # anywhere else

Writes, deterministically (same bytes every run), ``umdfaces_batch{1,2,3}/`` each with ``umdfaces_batchK_ultraface.csv``
(the official columns: SUBJECT_ID, FILE, FACE_X, FACE_Y, FACE_WIDTH, FACE_HEIGHT, YAW, PITCH, ROLL, P1X, P1Y, VIS1, ...,
P21X, P21Y, VIS21, PR_MALE, PR_FEMALE) and the images it names (``<subject folder>/<subject folder>_NNNN.jpg``, 48x48
JPEGs). 2 subjects per batch, 2 images each: 12 faces of 6 subjects. Keypoints follow the AFLW 21-point scheme with
P7-P9 on the image's left eye; one keypoint per face is marked invisible.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from data_builders.umdfaces.umdfaces_csv import COLUMNS, format_row  # noqa: E402

SIZE = 48
SUBJECTS = {1: (101, 102), 2: (203, 204), 3: (305, 306)}
IMAGES_PER_SUBJECT = 2

# AFLW 21 points as offsets (in units of the inter-ocular distance) from the midpoint between the eyes, x to the
# image's right, y down; P7-P12 are the eye corners/centres, P15 the nose centre, P18-P20 the mouth.
_OFFSETS = np.array(
    [
        [-0.85, -0.45], [-0.5, -0.55], [-0.2, -0.45], [0.2, -0.45], [0.5, -0.55], [0.85, -0.45],  # brows
        [-0.75, 0.0], [-0.5, 0.0], [-0.25, 0.0], [0.25, 0.0], [0.5, 0.0], [0.75, 0.0],  # eyes
        [-1.05, 0.35], [-0.2, 0.72], [0.0, 0.75], [0.2, 0.72], [1.05, 0.35],  # ear, nose, ear
        [-0.4, 1.1], [0.0, 1.1], [0.4, 1.1], [0.0, 1.6],  # mouth, chin
    ]
)


def _face(subject: int, index: int, seed: int):
    style = np.random.default_rng(7000 + subject)
    skin, eyes, background = (style.integers(60, 235, 3) for _ in range(3))
    rng = np.random.default_rng([seed, subject, index])
    d = SIZE * rng.uniform(0.30, 0.36)
    centre = np.array([SIZE / 2 + rng.uniform(-2, 2), SIZE * 0.40 + rng.uniform(-2, 2)])
    roll = rng.uniform(-8, 8)
    c, s = np.cos(np.deg2rad(roll)), np.sin(np.deg2rad(roll))
    rot = np.array([[c, -s], [s, c]])
    points = centre + d * _OFFSETS @ rot.T
    img = np.empty((SIZE, SIZE, 3), np.uint8)
    img[:] = background
    face_centre = tuple(int(round(v)) for v in centre + d * np.array([0.0, 0.6]) @ rot.T)
    cv2.ellipse(img, face_centre, (int(d * 1.05), int(d * 1.4)), roll, 0, 360, skin.tolist(), -1)
    for i in (7, 10):  # eye centres (0-based 7 = P8, 10 = P11)
        cv2.circle(img, tuple(int(round(v)) for v in points[i]), 2, eyes.tolist(), -1)
    cv2.circle(img, tuple(int(round(v)) for v in points[14]), 1, (skin * 0.6).astype(int).tolist(), -1)
    cv2.line(img, tuple(int(round(v)) for v in points[17]), tuple(int(round(v)) for v in points[19]), (50, 40, 150), 1)
    x0, y0 = points.min(axis=0) - 0.3 * d
    x1, y1 = points.max(axis=0) + 0.3 * d
    visible = np.ones(21, int)
    visible[rng.integers(0, 21)] = 0
    pose = (rng.uniform(-20, 20), rng.uniform(-10, 10), roll)
    return img, points, (x0, y0, x1 - x0, y1 - y0), visible, pose


def make(out: Path, seed: int = 0) -> int:
    count = 0
    for batch, subjects in SUBJECTS.items():
        folder = out / f"umdfaces_batch{batch}"
        rows = [format_row(COLUMNS)]
        for subject in subjects:
            name = f"synthetic_person_{subject}"
            for k in range(1, IMAGES_PER_SUBJECT + 1):
                img, points, box, visible, pose = _face(subject, k, seed)
                rel = f"{name}/{name}_{k:04d}.jpg"
                path = folder / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 75, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
                assert ok
                path.write_bytes(buf.tobytes())
                kp = [v for (x, y), vis in zip(points, visible) for v in (f"{x:.2f}", f"{y:.2f}", int(vis))]
                male = round(float(np.random.default_rng(subject).uniform()), 4)
                values = [subject, rel, *(f"{v:.2f}" for v in box), *(f"{v:.3f}" for v in pose), *kp, male,
                          round(1 - male, 4)]
                rows.append(format_row(values))
                count += 1
        (folder / f"umdfaces_batch{batch}_ultraface.csv").write_text("".join(rows))
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "dummy_data")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"wrote {make(args.out, args.seed)} images and 3 CSVs under {args.out}")


if __name__ == "__main__":
    main()
