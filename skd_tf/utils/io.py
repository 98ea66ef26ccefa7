"""Atomic file writes: every artifact is written to a temporary name in the same folder, then renamed.

A killed run therefore never leaves a half-written file under the final name (brief: "nothing half-written is left
behind"). `os.replace` is atomic on POSIX when source and target are on the same file system.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yields a temporary path beside `path`; on success renames it to `path`, on error removes it.

    `suffix` keeps an extension that a writer insists on (e.g. numpy appends ".npy" when it is missing).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Writes UTF-8 `text` to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Writes `obj` as indented JSON to `path` atomically (numpy scalars and arrays are converted)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_to_builtin) + "\n")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Saves `array` in .npy format to `path` atomically."""
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, np.asarray(array), allow_pickle=False)


def _to_builtin(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def check_settings(path: str | os.PathLike, settings: Mapping[str, Any], *, write: bool = True,
                   hint: str = "use another output folder") -> None:
    """Guards a resumable output folder: records `settings` as JSON at `path` the first time, and afterwards raises
    `ValueError` (naming the file and every differing key as (recorded, requested)) when asked to resume with other
    settings, since what the folder holds was made with the recorded ones. `write=False` only checks (non-chief
    workers of a distributed run)."""
    path = Path(path)
    settings = json.loads(json.dumps(dict(settings), default=_to_builtin))
    if path.is_file():
        old = json.loads(path.read_text())
        diff = {k: (old.get(k), settings.get(k)) for k in sorted(set(old) | set(settings))
                if old.get(k) != settings.get(k)}
        if diff:
            raise ValueError(f"{path}: this folder was made with other settings {diff} (recorded, requested); {hint}")
    elif write:
        write_json(path, settings)
