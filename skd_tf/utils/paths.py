"""Where the real shared data lives (never copied into the project)."""
from __future__ import annotations

import os
from pathlib import Path

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """`$SKD_SHARED_DATA`, else `../shared/data` beside the project root (where CI lays it)."""
    env = os.environ.get("SKD_SHARED_DATA")
    return Path(env) if env else _PROJECT_ROOT.parent / "shared" / "data"


def lfw_dir() -> Path:
    """The LFW folder of the shared data: `lfw-deepfunneled/`, `protocol/`, `dlib/`."""
    return shared_data_dir() / "lfw"
