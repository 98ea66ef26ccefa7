"""Sharded, resumable cache of teacher features f_i = phi^_t(F_i) (paper Section III-C, Eq. 2-3).

The selection stage (Eq. 3) and the fine-tuning stage (Eq. 4-6) both need the teacher's feature of every
high-resolution training face. Computing them is the most expensive step of a run (a VGGFace forward pass per face),
so they are computed once and stored here.

Layout of a cache directory::

    manifest.json        what the cache holds (teacher, layer, feature_dim, dtype, count, shard_size, num_shards,
                         source description and fingerprint), "skipped": the source's unusable faces left out
                         (row_id, position, reason; `extract_to_cache(on_corrupt='skip')`) and, once finished,
                         "complete": true plus per-shard row counts and checksums
    shard-00000.npz      rows [0, shard_size) of the source (less skipped faces): arrays "features" [n, D],
                         "row_ids" [n] int64 and
    shard-00001.npz      "checksum" (sha256 of both arrays' dtype, shape and bytes)
    ...
    .lock                advisory lock held while a writer runs

Every file is written to a temporary name and renamed (`skd_tf.utils.io.atomic_path`), so a killed writer leaves
only whole shards. The `.npz` files are written byte-for-byte deterministically (stored, not compressed, with fixed
zip timestamps), so a resumed run produces exactly the bytes of an uninterrupted one. Their members are uncompressed,
which also lets `load_features(..., mmap=True)` memory-map them.

A cache built from another source or teacher, a directory that is not a cache, and a shard that is truncated or
whose checksum does not match are all refused with a `ValueError` naming the file.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import struct
import zipfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from skd_tf.utils.io import atomic_path, write_json

FORMAT = "skd-tf-feature-cache"
VERSION = 1
MANIFEST = "manifest.json"
LOCK = ".lock"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

#: Manifest keys that are not compared on resume: completion state, the faces left out as unusable (checked shard by
#: shard on resume), and the human-readable source description (it may name a folder that has moved; what the source
#: *is* is compared through "source_fingerprint").
#: Every other key (format, version, teacher, layer, feature_dim, dtype, count, shard_size, num_shards,
#: source_fingerprint and any extra keys) must agree for a rerun to reuse shards.
NOT_COMPARED = ("complete", "shards", "source", "skipped")


class CacheError(ValueError):
    """A cache directory that cannot be used: foreign, mismatched, incomplete or corrupt."""


def shard_name(index: int) -> str:
    """File name of shard `index`: ``shard-00007.npz``."""
    return f"shard-{int(index):05d}.npz"


def array_checksum(features: np.ndarray, row_ids: np.ndarray) -> str:
    """sha256 hex digest of both arrays' dtype, shape and C-order bytes."""
    h = hashlib.sha256()
    for a in (features, row_ids):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def fingerprint(*parts: Any) -> str:
    """sha256 hex digest of a sequence of arrays / strings / JSON-able objects (order matters)."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            a = np.ascontiguousarray(p)
            h.update(f"ndarray{a.dtype.str}{a.shape}".encode())
            h.update(memoryview(a).cast("B") if a.dtype != object else repr(a.tolist()).encode())
        elif isinstance(p, (bytes, bytearray)):
            h.update(b"bytes%d:" % len(p) + bytes(p))
        else:
            text = json.dumps(p, sort_keys=True, default=str)
            h.update(f"json{len(text)}:".encode() + text.encode())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------------ shard files

def write_shard(path: str | os.PathLike, features: np.ndarray, row_ids: np.ndarray) -> str:
    """Writes one shard atomically and deterministically; returns its checksum."""
    features = np.ascontiguousarray(features)
    row_ids = np.ascontiguousarray(row_ids, dtype=np.int64)
    if features.ndim != 2 or features.shape[0] != row_ids.shape[0]:
        raise ValueError(f"{path}: expected features [n, D] and row_ids [n], got {features.shape} and {row_ids.shape}")
    checksum = array_checksum(features, row_ids)
    members = {"features": features, "row_ids": row_ids, "checksum": np.asarray(checksum)}
    with atomic_path(path, suffix=".npz") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, arr in members.items():
                info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_STORED
                info.external_attr = 0o644 << 16
                info.create_system = 3
                with zf.open(info, "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, arr, allow_pickle=False)
        with open(tmp, "rb+") as fh:  # data must be on disk before the rename makes it visible
            os.fsync(fh.fileno())
    return checksum


def _memmap_member(path: Path, zf: zipfile.ZipFile, name: str) -> np.ndarray:
    """Read-only memory map of an uncompressed .npy member of a zip file."""
    info = zf.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED:
        raise CacheError(f"{path}: member {name} is compressed; cannot memory-map it")
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise CacheError(f"{path}: bad zip local header for {name} (truncated or corrupt shard)")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(fh)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(fh)
        offset = fh.tell()
    if fortran or dtype.hasobject:
        raise CacheError(f"{path}: member {name} is not a C-order plain array")
    if offset + int(np.prod(shape)) * dtype.itemsize > path.stat().st_size:
        raise CacheError(f"{path}: member {name} is truncated")
    if int(np.prod(shape)) == 0:
        return np.empty(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def read_shard(path: str | os.PathLike, *, verify: bool = True, mmap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`(features, row_ids)` of one shard; `CacheError` naming the file when it is truncated or its checksum is off."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if names != {"features.npy", "row_ids.npy", "checksum.npy"}:
                raise CacheError(f"{path}: not a feature-cache shard (members {sorted(names)}, expected features, "
                                 f"row_ids, checksum)")
            with zf.open("checksum.npy") as fh:
                stored = str(np.lib.format.read_array(fh, allow_pickle=False))
            if mmap:
                features = _memmap_member(path, zf, "features.npy")
                row_ids = np.array(_memmap_member(path, zf, "row_ids.npy"))
            else:
                with zf.open("features.npy") as fh:
                    features = np.lib.format.read_array(fh, allow_pickle=False)
                with zf.open("row_ids.npy") as fh:
                    row_ids = np.lib.format.read_array(fh, allow_pickle=False)
    except FileNotFoundError:
        raise
    except CacheError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, zipfile.LargeZipFile) as exc:
        raise CacheError(f"{path}: unreadable shard (truncated or corrupt): {exc}") from exc
    if features.ndim != 2 or row_ids.ndim != 1 or features.shape[0] != row_ids.shape[0]:
        raise CacheError(f"{path}: expected features [n, D] and row_ids [n], got {features.shape} and {row_ids.shape}")
    if verify:
        actual = array_checksum(np.asarray(features), row_ids)
        if actual != stored:
            raise CacheError(f"{path}: checksum mismatch (stored {stored[:12]}..., data {actual[:12]}...); "
                             f"the shard is corrupt: delete it and rerun the extraction to recompute it")
    return features, row_ids


# --------------------------------------------------------------------------------------------------------- manifest

def load_manifest(cache_dir: str | os.PathLike) -> dict[str, Any]:
    """The cache's manifest (`CacheError` when it is missing, unreadable or not a feature-cache manifest)."""
    path = Path(cache_dir) / MANIFEST
    if not path.is_file():
        raise CacheError(f"{path}: no feature-cache manifest (is {cache_dir} a feature cache?)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CacheError(f"{path}: unreadable manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CacheError(f"{path}: field 'format' is {manifest.get('format') if isinstance(manifest, dict) else None!r}"
                         f", expected {FORMAT!r} (not a skd-tf feature cache)")
    if manifest.get("version") != VERSION:
        raise CacheError(f"{path}: field 'version' is {manifest.get('version')!r}, expected {VERSION}")
    return manifest


def make_manifest(*, teacher: str, layer: str, feature_dim: int, dtype: str, count: int, shard_size: int,
                  source: Any, source_fingerprint: str, **extra: Any) -> dict[str, Any]:
    """A fresh (incomplete) manifest. `extra` keys (JSON-able) are recorded and must match on resume too."""
    if int(shard_size) < 1:
        raise ValueError(f"shard_size: expected a positive integer, got {shard_size}")
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "teacher": str(teacher),
        "layer": str(layer),
        "feature_dim": int(feature_dim),
        "dtype": str(np.dtype(dtype).name),
        "count": int(count),
        "shard_size": int(shard_size),
        "num_shards": -(-int(count) // int(shard_size)),
        "source": source,
        "source_fingerprint": str(source_fingerprint),
    }
    for key, value in extra.items():
        if key in manifest or key in ("complete", "shards", "skipped"):
            raise ValueError(f"manifest: extra key {key!r} clashes with a reserved key")
        manifest[key] = value
    manifest["skipped"] = []
    manifest["complete"] = False
    return json.loads(json.dumps(manifest, default=str))  # normalise to what JSON round-trips to


def _identity(manifest: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k not in NOT_COMPARED}


def check_compatible(cache_dir: str | os.PathLike, wanted: Mapping[str, Any]) -> dict[str, Any] | None:
    """Compares an existing cache's manifest with the one a run wants to write.

    Returns the existing manifest (None when `cache_dir` holds no cache yet); raises `CacheError` naming the fields
    that differ when it was built from a different teacher, layer, source, ... , or when the directory holds files
    that are not part of a cache.
    """
    cache_dir = Path(cache_dir)
    if not cache_dir.exists():
        return None
    if not cache_dir.is_dir():
        raise CacheError(f"{cache_dir}: not a directory")
    entries = [p.name for p in cache_dir.iterdir()]
    if MANIFEST not in entries:
        foreign = [e for e in entries if e != LOCK and not _is_temp(e)]
        if foreign:
            raise CacheError(f"{cache_dir}: not empty and has no {MANIFEST} (found {sorted(foreign)[:5]}); refusing to "
                             f"write a feature cache into a foreign directory")
        return None
    existing = load_manifest(cache_dir)
    have, want = _identity(existing), _identity(json.loads(json.dumps(dict(wanted), default=str)))
    diffs = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
    if diffs:
        detail = "; ".join(f"{k}: cache has {_short(have.get(k))}, this run wants {_short(want.get(k))}" for k in diffs)
        raise CacheError(f"{cache_dir / MANIFEST}: the cache was built for something else ({detail}). Use another "
                         f"output directory or delete this one.")
    expected = {shard_name(i) for i in range(existing["num_shards"])} | {MANIFEST, LOCK}
    stray = [e for e in entries if e not in expected and not _is_temp(e)]
    if stray:
        raise CacheError(f"{cache_dir}: unexpected file(s) {sorted(stray)[:5]} in the cache directory")
    return existing


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def _is_temp(name: str) -> bool:
    """Temporary files `atomic_path` creates for our files: `.shard-00001.npz.<random>.tmp.npz`, `.manifest.json...`."""
    return name.startswith((".shard-", "." + MANIFEST + ".")) and ".tmp" in name


@contextlib.contextmanager
def writer_lock(cache_dir: str | os.PathLike) -> Iterator[None]:
    """Exclusive advisory lock on the cache directory (released automatically when the process dies)."""
    import fcntl

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(cache_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise CacheError(f"{cache_dir}: another process is writing this feature cache") from None
            raise
        yield
    finally:
        os.close(fd)


def remove_stale_temp_files(cache_dir: str | os.PathLike) -> list[str]:
    """Deletes half-written temporary files a killed writer left behind (call only while holding `writer_lock`)."""
    removed = []
    for p in Path(cache_dir).iterdir():
        if _is_temp(p.name):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
            removed.append(p.name)
    return removed


def write_manifest(cache_dir: str | os.PathLike, manifest: Mapping[str, Any]) -> None:
    write_json(Path(cache_dir) / MANIFEST, dict(manifest))


# ------------------------------------------------------------------------------------------------------------ reading

def _shard_paths(cache_dir: Path, manifest: Mapping[str, Any], require_complete: bool) -> list[Path]:
    if require_complete and not manifest.get("complete"):
        done = sum((cache_dir / shard_name(i)).is_file() for i in range(manifest["num_shards"]))
        raise CacheError(f"{cache_dir / MANIFEST}: the cache is incomplete ({done} of {manifest['num_shards']} "
                         f"shards); rerun the extraction to finish it")
    return [cache_dir / shard_name(i) for i in range(manifest["num_shards"])]


def iter_shards(cache_dir: str | os.PathLike, *, verify: bool = True,
                mmap: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields `(features, row_ids)` shard by shard (in shard order) from a complete cache."""
    cache_dir = Path(cache_dir)
    manifest = load_manifest(cache_dir)
    recorded = {s["file"]: s["checksum"] for s in manifest.get("shards", [])}
    for path in _shard_paths(cache_dir, manifest, require_complete=True):
        if not path.is_file():
            raise CacheError(f"{path}: shard missing from a cache whose manifest says it is complete")
        features, row_ids = read_shard(path, verify=verify, mmap=mmap)
        if features.shape[1] != manifest["feature_dim"] or features.dtype != np.dtype(manifest["dtype"]):
            raise CacheError(f"{path}: features are {features.dtype} [*, {features.shape[1]}], manifest says "
                             f"{manifest['dtype']} [*, {manifest['feature_dim']}]")
        if verify and path.name in recorded and recorded[path.name] != array_checksum(np.asarray(features), row_ids):
            raise CacheError(f"{path}: checksum differs from the one {MANIFEST} recorded (shard replaced or corrupt)")
        yield features, row_ids


def load_features(cache_dir: str | os.PathLike, mmap: bool = False,
                  verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """`(features [N, D], row_ids [N] int64)` of a complete cache, sorted by row id.

    N is the manifest's count less the faces it lists as skipped (unusable faces left out by the extraction; a table
    that still needs one is refused by the row-id join). With `mmap=True` shards are memory-mapped instead of read into
    memory first, so the only copy is the result itself (peak memory about N * D * itemsize instead of twice that).
    `verify` checks every shard's checksum.
    """
    cache_dir = Path(cache_dir)
    manifest = load_manifest(cache_dir)
    skipped = manifest.get("skipped") or []
    n, d = manifest["count"] - len(skipped), manifest["feature_dim"]
    features = np.empty((n, d), dtype=np.dtype(manifest["dtype"]))
    row_ids = np.empty(n, dtype=np.int64)
    pos = 0
    for f, r in iter_shards(cache_dir, verify=verify, mmap=mmap):
        if pos + len(r) > n:
            raise CacheError(f"{cache_dir}: shards hold more rows than the manifest's count {n}"
                             + (f" (less {len(skipped)} skipped)" if skipped else ""))
        features[pos:pos + len(r)] = f
        row_ids[pos:pos + len(r)] = r
        pos += len(r)
    if pos != n:
        less = f" less {len(skipped)} skipped" if skipped else ""
        raise CacheError(f"{cache_dir}: shards hold {pos} rows, the manifest's count{less} is {n}")
    order = np.argsort(row_ids, kind="stable")
    if not np.all(order == np.arange(n)):
        features, row_ids = features[order], row_ids[order]
    if n > 1 and np.any(row_ids[1:] == row_ids[:-1]):
        dup = row_ids[1:][row_ids[1:] == row_ids[:-1]][0]
        raise CacheError(f"{cache_dir}: row id {dup} appears more than once")
    return features, row_ids
