"""Generates the face-folder dummy data: synthetic cartoon faces (no real faces) in the LFW folder + CSV layout.

    .venv/bin/python data_builders/face_folder/make_dummy_data.py            # (re)writes ./dummy_data beside it
    .venv/bin/python data_builders/face_folder/make_dummy_data.py --out=DIR  # anywhere else

Writes, deterministically (same bytes every run), 4 identities x 3 images = 12 faces of 120x120 px drawn by
`skd_tf.data.synthetic.generate_faces` (no noisy faces) with `write_folder.write_face_folder`:
``<identity>/<identity>_000K.jpg`` and ``landmarks5.csv`` (LFW's dlib format, rows in generation order).

The folder names are chosen so that the builder's work is visible in the tests: generator label k gets
``NAMES[k]``, whose sorted order (code points: upper case first) is not the generation order, so the builder's
contiguous labels (by sorted name) differ from the generator's and the CSV rows are not in path order.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from data_builders.face_folder.write_folder import write_face_folder  # noqa: E402
from skd_tf.data.synthetic import generate_faces  # noqa: E402

NUM_IDENTITIES = 4
IMAGES_PER_IDENTITY = 3
IMAGE_SIZE = 120
SEED = 0
#: Folder name of generator label k. Sorted: Ada_Synthetic, Bob_Synthetic, Zoe_Synthetic, mia_synthetic.
NAMES = ("Zoe_Synthetic", "Ada_Synthetic", "mia_synthetic", "Bob_Synthetic")


def make(out: Path, seed: int = SEED) -> Path:
    """Writes the dummy folder to `out` (replacing what is there); returns the CSV path."""
    faces = generate_faces(NUM_IDENTITIES, IMAGES_PER_IDENTITY, image_size=IMAGE_SIZE, noisy_fraction=0.0, seed=seed)
    return write_face_folder(out, faces.images, faces.landmarks, faces.labels, names=NAMES,
                             overwrite=True, num_threads=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "dummy_data")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    csv_path = make(args.out, args.seed)
    print(f"wrote {NUM_IDENTITIES * IMAGES_PER_IDENTITY} images of {NUM_IDENTITIES} identities and {csv_path}")


if __name__ == "__main__":
    main()
