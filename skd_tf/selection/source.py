"""Row access to teacher features for the selection stage (Sec. III-C): in-memory arrays, `.npy` files and
feature-cache directories, read in blocks so a 6 GB UMDFaces-sized file never has to be resident at once.

A `.npy` path is memory-mapped for each block and unmapped again afterwards, so pages touched by one block stop
counting towards the process's resident set when the next block is read (a single long-lived `np.memmap` over the
whole file would end up with every page of the file in the RSS).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np

FeaturesLike = Union[np.ndarray, str, os.PathLike]


class FeatureSource:
    """Read-only `[N, D]` real-valued feature rows, accessed by sorted row indices.

    Build with `FeatureSource.open(x)`, where `x` is an array (including `np.memmap`), a `.npy` path, or a
    feature-cache directory written by `skd_tf.features.cache` (rows in row-id order, as `load_features` returns).
    A `.npy` is streamed (resident memory: one block); a cache directory is assembled once by
    `load_features(dir, mmap=True)` from memory-mapped shards, so it holds one N x D copy (6 GB for UMDFaces float32;
    export it to a single .npy to stream it instead).
    """

    def __init__(self, array: np.ndarray | None = None, npy_path: Path | None = None, name: str = "features"):
        self._array = array
        self._npy_path = npy_path
        self.name = name
        if npy_path is not None:
            with open(npy_path, "rb") as fh:
                try:
                    version = np.lib.format.read_magic(fh)
                    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)
                    shape, fortran, dtype = reader(fh)
                except ValueError as exc:
                    raise ValueError(f"{npy_path}: not a valid .npy file ({exc})") from exc
                self._offset = fh.tell()
            if fortran:
                raise ValueError(f"{npy_path}: features must be stored C-contiguous (fortran_order=True found)")
            self.shape = tuple(int(s) for s in shape)
            self.dtype = np.dtype(dtype)
        else:
            self.shape = tuple(int(s) for s in array.shape)
            self.dtype = array.dtype
        if len(self.shape) != 2:
            raise ValueError(f"{self.name}: expected a 2-D array [N, D] of features, got shape {self.shape}")
        if self.dtype.kind not in "fiu":
            raise ValueError(f"{self.name}: expected a real floating-point dtype, got {self.dtype}")

    @classmethod
    def open(cls, features: FeaturesLike) -> "FeatureSource":
        if isinstance(features, FeatureSource):
            return features
        if isinstance(features, (str, os.PathLike)):
            path = Path(features)
            if path.is_dir():
                try:
                    from skd_tf.features.cache import load_features
                except ImportError as exc:  # pragma: no cover - depends on the teacher issue
                    raise ValueError(f"{path}: a directory was given but skd_tf.features.cache is unavailable") from exc
                feats, _row_ids = load_features(path, mmap=True)
                return cls(array=feats, name=str(path))
            if not path.is_file():
                raise FileNotFoundError(f"{path}: features file not found (expected .npy [N, D] or a cache directory)")
            if path.suffix != ".npy":
                raise ValueError(f"{path}: expected a .npy file [N, D] or a feature-cache directory")
            return cls(npy_path=path, name=str(path))
        arr = features if isinstance(features, np.ndarray) else np.asarray(features)
        return cls(array=arr)

    @property
    def n(self) -> int:
        return self.shape[0]

    @property
    def dim(self) -> int:
        return self.shape[1]

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Rows `idx` (ascending int array) as a new float64 array `[len(idx), D]`."""
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size == 0:
            return np.zeros((0, self.dim), dtype=np.float64)
        if self._array is not None:
            lo, hi = int(idx[0]), int(idx[-1]) + 1
            if hi - lo == idx.size:
                block = self._array[lo:hi]
            else:
                block = self._array[idx]
            return np.array(block, dtype=np.float64, copy=True)
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        row_bytes = self.dim * self.dtype.itemsize
        mm = np.memmap(self._npy_path, dtype=self.dtype, mode="r", offset=self._offset + lo * row_bytes,
                       shape=(hi - lo, self.dim))
        try:
            block = mm if hi - lo == idx.size else mm[idx - lo]
            out = np.array(block, dtype=np.float64, copy=True)
        finally:
            del mm
        return out
