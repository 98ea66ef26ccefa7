"""TFDS dataset builders (manual download), one folder per dataset as in tensorflow/datasets:
`<name>_dataset_builder.py` and its test, README.md, CITATIONS.bib, TAGS.txt, `dummy_data/` and the
`make_dummy_data.py` that writes it (`builder_layout_test.py` checks every folder).

Each folder is runnable: ``python -m data_builders.<name> --manual_dir=DIR [--data_dir=DIR] [--config=NAME]``
prepares the dataset (the `tfds build` CLI of tensorflow-datasets 4.9.10 needs apache_beam just to start).
"""
from __future__ import annotations

import argparse
from typing import Sequence


def prepare_main(builder_cls, argv: Sequence[str] | None = None, description: str = "") -> None:
    """Command line of ``python -m data_builders.<name>``: builds `builder_cls` from a manual directory."""
    import tensorflow_datasets as tfds

    parser = argparse.ArgumentParser(prog=f"python -m {builder_cls.__module__.rsplit('.', 1)[0]}",
                                     description=description or (builder_cls.__doc__ or "").strip())
    parser.add_argument("--manual_dir", required=True, help="where the manually downloaded files are (see README.md)")
    parser.add_argument("--data_dir", default=None, help="TFDS data directory (default: ~/tensorflow_datasets)")
    parser.add_argument("--config", default=None, help=f"one of {[c.name for c in builder_cls.BUILDER_CONFIGS]}")
    parser.add_argument("--on_corrupt", choices=("fail", "skip"), default="fail",
                        help="a corrupt image: fail naming it, or skip it and list it in info.metadata['skipped']")
    args = parser.parse_args(argv)
    builder = builder_cls(data_dir=args.data_dir, config=args.config, on_corrupt=args.on_corrupt)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=args.manual_dir))
    counts = {name: split.num_examples for name, split in builder.info.splits.items()}
    print(f"prepared {builder.name}/{builder.builder_config.name} in {builder.data_dir}: {counts}")
    skipped = builder.info.metadata.get("skipped")
    if skipped and any(skipped.values() if isinstance(skipped, dict) else skipped):
        print(f"skipped corrupt images: {skipped}")
