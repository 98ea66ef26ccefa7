"""Command-line programs, `python -m experiments.NAME`: absl flags -> a named config (`skd_tf.configs`) -> one call
into the library (`skd_tf.experiments` and friends).

Importing this package (which `python -m experiments.NAME` does before the program's own imports, the first of which
load TensorFlow) quiets the libraries, so that what a program prints is its own progress (absl.logging) and tables:
TensorFlow's C++ INFO and WARNING lines (`TF_CPP_MIN_LOG_LEVEL=2` unless the environment sets it; read when
TensorFlow loads), and the INFO records that TensorFlow and TFDS send through absl.logging (warnings still show).
"""
import importlib.util
import logging
import os
from pathlib import Path

from absl import logging as absl_logging

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_QUIET = tuple(str(Path(spec.origin).parent) + os.sep for spec in map(importlib.util.find_spec,
                                                                      ("tensorflow", "tensorflow_datasets")) if spec)


def _loud_enough(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or not record.pathname.startswith(_QUIET)


absl_logging.get_absl_logger().addFilter(_loud_enough)
logging.getLogger("tensorflow").addFilter(_loud_enough)
