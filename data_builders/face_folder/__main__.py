"""``python -m data_builders.face_folder --manual_dir=DIR [--images_subdir=SUB] [--landmarks_csv=CSV]
[--data_dir=DIR] [--config=aligned_150] [--on_corrupt=fail]``: prepares a one-folder-per-identity face dataset.

The shared `data_builders.prepare_main` cannot pass this builder's `images_subdir` / `landmarks_csv` kwargs (nor can
the `tfds build` CLI), hence this command line. The real LFW, read in place:

    .venv/bin/python -m data_builders.face_folder --manual_dir=../shared/data/lfw \\
        --images_subdir=lfw-deepfunneled --landmarks_csv=../shared/data/lfw/dlib/landmarks5.csv \\
        --data_dir=~/tensorflow_datasets/lfw_folder --config=aligned_150
"""
from __future__ import annotations

import argparse
import os
from typing import Sequence

from data_builders.face_folder.face_folder_dataset_builder import DEFAULT_CSV, Builder


def main(argv: Sequence[str] | None = None) -> Builder:
    """Parses `argv` (default sys.argv), builds the dataset, prints its split sizes; returns the builder."""
    import tensorflow_datasets as tfds

    parser = argparse.ArgumentParser(prog="python -m data_builders.face_folder",
                                     description=(Builder.__doc__ or "").strip())
    parser.add_argument("--manual_dir", required=True, help="the folder holding the identity folders (or "
                        "--images_subdir) and, by default, the CSV")
    parser.add_argument("--images_subdir", default="", help="folder of the identity folders, relative to "
                        "--manual_dir (default: the identity folders are directly in it)")
    parser.add_argument("--landmarks_csv", default=None, help=f"the 5-point landmarks CSV (default: "
                        f"MANUAL_DIR/{DEFAULT_CSV}); relative paths are relative to the current directory")
    parser.add_argument("--data_dir", default=None, help="TFDS data directory (default: ~/tensorflow_datasets); "
                        "use one per source, since the dataset is always named face_folder")
    parser.add_argument("--config", default=None, help=f"one of {[c.name for c in Builder.BUILDER_CONFIGS]} "
                        f"(default {Builder.DEFAULT_BUILDER_CONFIG_NAME})")
    parser.add_argument("--on_corrupt", choices=("fail", "skip"), default="fail",
                        help="an unusable image: fail naming it, or skip it and list it in info.metadata['skipped']")
    args = parser.parse_args(argv)
    data_dir = os.path.expanduser(args.data_dir) if args.data_dir else None
    builder = Builder(data_dir=data_dir, config=args.config, on_corrupt=args.on_corrupt,
                      images_subdir=args.images_subdir, landmarks_csv=args.landmarks_csv)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=os.path.expanduser(args.manual_dir)))
    counts = {name: split.num_examples for name, split in builder.info.splits.items()}
    meta = builder.info.metadata
    print(f"prepared {builder.name}/{builder.builder_config.name} in {builder.data_dir}: {counts}, "
          f"{meta.get('num_classes')} identities")
    if meta.get("skipped"):
        print(f"skipped {len(meta['skipped'])} unusable images: " + "; ".join(s["reason"] for s in meta["skipped"]))
    return builder


if __name__ == "__main__":
    main()
