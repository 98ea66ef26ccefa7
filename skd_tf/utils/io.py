"""Atomic file writes: every artifact is written to a temporary name in the same folder, then renamed.

A killed run therefore never leaves a half-written file under the final name (brief: "nothing half-written is left
behind"). `os.replace` is atomic on POSIX when source and target are on the same file system.

Permissions: `tempfile` creates its files 0600 and its folders 0700; before the rename they get the mode a plain
`open()` / `mkdir()` would have given under the process's umask (0644 / 0755 under umask 022), so results stay
readable to whoever could read a file written the ordinary way.

JSON (`write_json`): numpy scalars and arrays and `Path`s are converted, and non-finite floats (NaN, +-Infinity, which
the JSON standard does not have) are written as `null`. Anything else that `json` cannot represent raises.

Reading (`read_npy`, `read_npz`): a truncated or corrupt `.npy` / `.npz` raises a `ValueError` naming the file and
what it should hold (numpy's and zipfile's own errors name no file).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import threading
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux: /proc/self/status); elsewhere it is
    set and restored under a lock (the umask is process-global, so a thread creating a file in between could see 0)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _default_mode(path: Path, is_dir: bool) -> None:
    """Gives `path` the mode a plain open()/mkdir() would have given it under the current umask."""
    os.chmod(path, (0o777 if is_dir else 0o666) & ~current_umask())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yields a temporary path beside `path`; on success renames it to `path`, on error removes it.

    `suffix` keeps an extension that a writer insists on (e.g. numpy appends ".npy" when it is missing). The file
    gets the mode `open()` would give it under the current umask (not tempfile's 0600) before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _default_mode(tmp_path, is_dir=tmp_path.is_dir())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary folder beside `path`; on success it replaces `path` (a folder, whose old content is
    removed), on error it is removed. The folder gets the mode `mkdir()` would give it under the current umask (not
    tempfile's 0700); what the caller writes inside keeps the modes it was written with."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        _default_mode(tmp, is_dir=True)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Writes UTF-8 `text` to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def to_json_value(obj: Any) -> Any:
    """`obj` with numpy scalars/arrays as Python numbers/lists, `Path`s and other mapping keys as strings, tuples as
    lists, and non-finite floats (NaN, +-inf) as None (JSON `null`); other objects are returned unchanged."""
    if isinstance(obj, float):  # np.float64 included
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, (str, int)) or obj is None:  # bool is an int
        return obj
    if isinstance(obj, np.ndarray):
        return to_json_value(obj.tolist())
    if isinstance(obj, np.generic):
        return to_json_value(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return {(k if isinstance(k, str) else str(to_json_value(k))): to_json_value(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json_value(v) for v in obj]
    return obj


def dumps_json(obj: Any, indent: int | None = 2) -> str:
    """`obj` as JSON text (see `to_json_value`); raises ValueError rather than writing NaN or Infinity."""
    return json.dumps(to_json_value(obj), indent=indent, sort_keys=False, default=_to_builtin, allow_nan=False)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Writes `obj` as indented JSON to `path` atomically. numpy scalars and arrays and `Path`s are converted;
    non-finite floats (NaN, +-Infinity) are written as `null` (JSON has no such numbers)."""
    write_text(path, dumps_json(obj) + "\n")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Saves `array` in .npy format to `path` atomically."""
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, np.asarray(array), allow_pickle=False)


def _to_builtin(obj: Any) -> Any:
    if isinstance(obj, (np.ndarray, np.generic, Path)):
        return to_json_value(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys: {"train": {"flip": False}} -> {"train.flip": False}."""
    flat = {}
    for k, v in settings.items():
        if isinstance(v, dict) and v:
            flat.update(_flatten(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def check_settings(path: str | os.PathLike, settings: Mapping[str, Any], *, write: bool = True,
                   hint: str = "use another output folder", ignore: tuple[str, ...] | list[str] = (),
                   defaults: Mapping[str, Any] | None = None) -> None:
    """Guards a resumable output folder: records `settings` as JSON at `path` the first time, and afterwards raises
    `ValueError` (naming the file and every differing key as (recorded, requested)) when asked to resume with other
    settings, since what the folder holds was made with the recorded ones. `write=False` only checks (a caller that
    must check several guards before writing anything, or non-chief workers of a distributed run).

    `ignore`: keys not compared (settings that do not change what the folder holds, e.g. verbosity). `defaults`: a
    key missing from the record (written before that setting existed) matches when the requested value equals
    `defaults[key]`. Nested settings are compared key by key under dotted names ("train.flip"), in `ignore`,
    `defaults` and the error alike.
    """
    path = Path(path)
    record = to_json_value(dict(settings))
    settings, defaults = _flatten(record), _flatten(to_json_value(dict(defaults or {})))
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: the recorded settings are not valid JSON ({e}); {hint}") from None
        if not isinstance(old, dict):
            raise ValueError(f"{path}: expected a JSON object of recorded settings, got {type(old).__name__}; {hint}")
        old = _flatten(old)
        diff = {}
        for k in sorted(set(old) | set(settings)):
            if any(k == i or k.startswith(f"{i}.") for i in ignore):
                continue
            recorded = old[k] if k in old else defaults.get(k)
            if recorded != settings.get(k):
                diff[k] = (old.get(k), settings.get(k))
        if diff:
            raise ValueError(f"{path}: this folder was made with other settings {diff} (recorded, requested); {hint}")
    elif write:
        write_json(path, record)


# ---------------------------------------------------------------------------------------------------- reading arrays

#: What numpy / zipfile raise for a truncated or damaged .npy / .npz (none of them names the file).
_ARRAY_READ_ERRORS = (ValueError, EOFError, OSError, KeyError, IndexError, zipfile.BadZipFile, zipfile.LargeZipFile,
                      zlib.error)


def read_npy(path: str | os.PathLike, what: str = "array", *, mmap_mode: str | None = None) -> np.ndarray:
    """The array of a `.npy` file (no pickles), read whole unless `mmap_mode`. A missing file raises
    `FileNotFoundError` and a truncated or corrupt one a `ValueError`, both naming the file and `what` it should
    hold (numpy's own errors, e.g. "Failed to read all data for array", name no file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} file not found (expected a .npy file)")
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except _ARRAY_READ_ERRORS as exc:
        raise ValueError(f"{path}: unreadable {what} (truncated or corrupt .npy file: {exc})") from None


def read_npz(path: str | os.PathLike, keys, what: str = "arrays", *, optional=()) -> dict[str, np.ndarray]:
    """`{key: array}` of the members `keys` (all required) and `optional` (when present) of an `.npz`, each read
    whole. A missing file raises `FileNotFoundError`; a truncated or corrupt archive or member and a missing key
    raise `ValueError`; all name the file and `what` it should hold."""
    path = Path(path)
    keys, optional = tuple(keys), tuple(optional)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} file not found (expected an .npz with arrays {list(keys)})")
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise ValueError(f"{path}: expected an .npz archive of {what} with arrays {list(keys)}, got a .npy")
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise ValueError(f"{path}: expected {what} with arrays {list(keys)}, missing {missing} (has "
                                 f"{sorted(z.files)})")
            return {k: z[k] for k in keys + tuple(k for k in optional if k in z.files)}
    except ValueError as exc:
        if str(exc).startswith(f"{path}: "):
            raise
        raise ValueError(f"{path}: unreadable {what} (truncated or corrupt .npz file: {exc})") from None
    except _ARRAY_READ_ERRORS as exc:
        raise ValueError(f"{path}: unreadable {what} (truncated or corrupt .npz file: "
                         f"{type(exc).__name__}: {exc})") from None
