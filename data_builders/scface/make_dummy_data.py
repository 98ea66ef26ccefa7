"""Generates the SCface dummy data: synthetic cartoon faces (no real faces) in the official release layout.

    .venv/bin/python data_builders/scface/make_dummy_data.py            # (re)writes ./dummy_data beside it
    .venv/bin/python data_builders/scface/make_dummy_data.py --out=DIR  # anywhere else

Writes, deterministically (seeded: same bytes every run):

* ``mugshot_frontal_cropped_all/NNN_frontal.JPG`` (130 visible mugshots),
* ``surveillance_cameras_distance_D/camK/NNN_camK_D.jpg`` (K = 1..7, D = 1..3; cam6/cam7 grey, as infrared),
* ``surveillance_cameras_IR_cam8/NNN_cam8.jpg`` (130 grey infrared mugshots),
* ``scface_annotations.txt``: the official annotation format (a ``#`` comment line, then ``NNN_<image>`` and eight
  integers: right eye x y, left eye x y, nose x y, mouth x y; CRLF line ends; the real file's row order), with the
  coordinates of the drawn features.

130 subjects x 23 images, as the real database, so the paper's protocol yields exactly 80 gallery faces and 1,200
probes. Images are tiny (24-48 pixels) to keep the repository small; each subject has its own colours so the faces
are separable. Needs only numpy and OpenCV.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

NUM_SUBJECTS = 130
# (width, height, inter-ocular distance in pixels) per image kind; distances: 1 = far, 2 = medium, 3 = close.
GEOMETRY = {"frontal": (40, 48, 14), "cam8": (32, 40, 11), 1: (24, 28, 6), 2: (28, 32, 8), 3: (32, 40, 11)}


def _subject_style(subject: int) -> dict:
    rng = np.random.default_rng(1000 + subject)
    return {
        "skin": rng.integers(90, 235, size=3),
        "hair": rng.integers(0, 256, size=3),
        "eyes": rng.integers(0, 140, size=3),
        "background": rng.integers(0, 256, size=3),
        "aspect": float(rng.uniform(0.75, 0.95)),  # face width / height
    }


def _draw(width: int, height: int, d: float, style: dict, rng: np.random.Generator, grey: bool):
    """Draws one face; returns (BGR image, annotation [right eye, left eye, nose, mouth] as ints)."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = style["background"]
    cx = width / 2 + rng.uniform(-0.08, 0.08) * width
    ey = height * 0.42 + rng.uniform(-0.05, 0.05) * height
    d = d * rng.uniform(0.92, 1.08)
    roll = np.deg2rad(rng.uniform(-6, 6))
    c, s = np.cos(roll), np.sin(roll)

    def at(dx, dy):  # offsets in units of d from the eye-line centre, rotated by the roll
        return np.array([cx + d * (c * dx - s * dy), ey + d * (s * dx + c * dy)])

    centre = at(0.0, 0.45)
    axes = (int(round(d * 1.05 * style["aspect"] / 0.85)), int(round(d * 1.25)))
    cv2.ellipse(img, tuple(int(round(v)) for v in at(0.0, -0.55)), (axes[0], max(1, axes[1] // 2)),
                float(np.rad2deg(roll)), 180, 360, style["hair"].tolist(), -1)
    cv2.ellipse(img, tuple(int(round(v)) for v in centre), axes, float(np.rad2deg(roll)), 0, 360,
                style["skin"].tolist(), -1)
    right_eye, left_eye = at(-0.5, 0.0), at(0.5, 0.0)  # subject's right eye is on the image's left
    nose, mouth = at(0.0, 0.54), at(0.0, 1.09)
    r = max(1, int(round(d * 0.14)))
    for eye in (right_eye, left_eye):
        cv2.circle(img, tuple(int(round(v)) for v in eye), r, style["eyes"].tolist(), -1)
    cv2.circle(img, tuple(int(round(v)) for v in nose), max(1, r - 1), (style["skin"] * 0.6).astype(int).tolist(), -1)
    half = at(0.3, 1.09) - mouth
    cv2.line(img, tuple(int(round(v)) for v in mouth - half), tuple(int(round(v)) for v in mouth + half),
             (40, 40, 160), max(1, r - 1))
    if grey:
        img = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    points = np.round(np.stack([right_eye, left_eye, nose, mouth])).astype(int)
    return img, points


# The real file lists three adjacent pairs of subjects out of order; the dummy file keeps its exact row order.
_ROW_SWAPS = {"frontal": [(87, 88), (95, 96)], "cam1_1": [(16, 17)]}


def _names_in_official_order():
    """Row order of the real annotation file: all frontal, all cam8, then cam1_1..cam7_1, cam1_2.., cam1_3.."""
    blocks = ["frontal", "cam8"] + [f"cam{k}_{d}" for d in (1, 2, 3) for k in range(1, 8)]
    out = []
    for block in blocks:
        subjects = list(range(1, NUM_SUBJECTS + 1))
        for a, b in _ROW_SWAPS.get(block, []):
            subjects[a - 1], subjects[b - 1] = b, a
        out.extend((block, f"{subject:03d}_{block}") for subject in subjects)
    return out


def _relpath(block: str, name: str) -> str:
    if block == "frontal":
        return f"mugshot_frontal_cropped_all/{name}.JPG"
    if block == "cam8":
        return f"surveillance_cameras_IR_cam8/{name}.jpg"
    cam, dist = block[3], block[5]
    return f"surveillance_cameras_distance_{dist}/cam{cam}/{name}.jpg"


def make(out: Path, seed: int = 0) -> int:
    rows = ["# Synthetic SCface dummy data in the official annotation format (make_dummy_data.py; no real faces)."]
    count = 0
    blocks = {}
    for block, name in _names_in_official_order():
        subject = int(name[:3])
        block_index = blocks.setdefault(block, len(blocks))
        rng = np.random.default_rng([seed, subject, block_index])
        if block in ("frontal", "cam8"):
            width, height, d = GEOMETRY[block]
            grey = block == "cam8"
        else:
            width, height, d = GEOMETRY[int(block[5])]
            grey = int(block[3]) in (6, 7)
        img, pts = _draw(width, height, d, _subject_style(subject), rng, grey)
        path = out / _relpath(block, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 60, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
        if not ok:
            raise RuntimeError(f"could not encode {path}")
        path.write_bytes(buf.tobytes())
        rows.append(name + "\t" + "\t".join(str(int(v)) for v in pts.reshape(-1)))
        count += 1
    (out / "scface_annotations.txt").write_bytes(("\r\n".join(rows) + "\r\n").encode("ascii"))
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "dummy_data")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = make(args.out, args.seed)
    print(f"wrote {n} images and scface_annotations.txt under {args.out}")


if __name__ == "__main__":
    main()
