"""Writes an in-memory face set as a "one folder per identity" image folder plus a 5-point landmarks CSV.

The layout is the one `face_folder_dataset_builder.Builder` reads (that of LFW, CASIA-WebFace, VGGFace2, MS1M
extracts): ``out_dir/<identity>/<identity>_<NNNN>.jpg`` and ``out_dir/landmarks5.csv`` in the exact format of
``../shared/data/lfw/dlib/landmarks5.csv``::

    path,det,x0,y0,x1,y1,x2,y2,x3,y3,x4,y4,left,top,right,bottom
    <identity>/<identity>_0001.jpg,given,157.00,115.00,...,67,80,175,187

so any synthetic or in-memory face set (e.g. `skd_tf.data.synthetic.generate_faces`) can be turned into a TFDS
dataset with the same builder as the real data, and benchmarks can write 20,000-80,000 faces quickly.

Conventions:
* CSV row ``k`` is input face ``k`` (input order, not path order), so the builder's ``row_id`` of an example is the
  index of that face in the arrays given here.
* ``<NNNN>`` is the face's 1-based position among the faces of its identity, in input order (LFW numbering).
* ``det`` is ``given`` (the landmarks were given, not detected). ``left,top,right,bottom`` is the integer bounding
  box, in the image, of the chip that dlib's template maps the landmarks to at padding 0 (brows to chin), clipped
  to the image: a face box in the role of LFW's detector box.
* JPEG at quality `quality` with 4:4:4 chroma sampling (no colour subsampling of small faces).
* Landmarks are written with 2 decimals (as in the LFW file): they come back within 0.005 px.
* Atomic for the folder as a whole: everything is written into a hidden sibling folder that is renamed onto
  `out_dir` at the end, so a killed run never leaves a half-written folder under the final name.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np

from skd_tf.data.align import DLIB_5_TEMPLATE

__all__ = ["CSV_NAME", "CSV_HEADER", "default_names", "face_boxes", "write_face_folder"]

#: The CSV's name inside the folder (the builder's default `landmarks_csv`).
CSV_NAME = "landmarks5.csv"
#: The header of ``../shared/data/lfw/dlib/landmarks5.csv``.
CSV_HEADER = "path,det," + ",".join(f"x{i},y{i}" for i in range(5)) + ",left,top,right,bottom"

_BAD_NAME_CHARS = set('/\\\n\r\0,"')


def default_names(num_classes: int) -> list[str]:
    """``id00000, id00001, ...``: zero-padded so that sorted folder names give back the labels' order (the
    builder numbers classes by sorted folder name)."""
    width = max(5, len(str(max(int(num_classes) - 1, 0))))
    return [f"id{k:0{width}d}" for k in range(int(num_classes))]


def _check_name(name, label: int) -> str:
    if not isinstance(name, str) or not name or name in (".", "..") or name.startswith("."):
        raise ValueError(f"names[{label}]: expected a non-empty folder name not starting with '.', got {name!r}")
    bad = sorted(set(name) & _BAD_NAME_CHARS)
    if bad:
        raise ValueError(f"names[{label}]: {name!r} contains {bad!r} (a folder name without / \\ , \" or newlines "
                         "expected)")
    return name


def _resolve_names(names, labels: np.ndarray) -> dict[int, str]:
    used = sorted(set(labels.tolist()))
    if names is None:
        all_names = default_names(max(used) + 1)
        return {k: all_names[k] for k in used}
    if isinstance(names, Mapping):
        lookup = {int(k): v for k, v in names.items()}
    else:
        lookup = dict(enumerate(list(names)))
    missing = [k for k in used if k not in lookup]
    if missing:
        raise ValueError(f"names: no folder name for label(s) {missing[:20]} (expected a sequence indexed by label "
                         f"with {max(used) + 1} entries, or a mapping label -> name)")
    out = {k: _check_name(lookup[k], k) for k in used}
    seen: dict[str, int] = {}
    for k, name in out.items():
        if name in seen:
            raise ValueError(f"names: labels {seen[name]} and {k} share the folder name {name!r} (expected one "
                             "distinct name per label)")
        seen[name] = k
    return out


def face_boxes(landmarks, heights, widths) -> np.ndarray:
    """int64 ``[N, 4]`` (left, top, right, bottom): the unit square of dlib's template (padding 0, brows to chin)
    mapped into each image by the least-squares similarity from the template to its landmarks (the closed form of
    `skd_tf.data.align.similarity_transform`, vectorised), bounded and clipped to the image."""
    lm = np.asarray(landmarks, dtype=np.float64)
    t = DLIB_5_TEMPLATE - DLIB_5_TEMPLATE.mean(axis=0)
    mean = lm.mean(axis=1)
    d = lm - mean[:, None]
    var = float(np.sum(t * t))
    a = np.einsum("k,nk->n", t[:, 0], d[:, :, 0]) + np.einsum("k,nk->n", t[:, 1], d[:, :, 1])
    b = np.einsum("k,nk->n", t[:, 0], d[:, :, 1]) - np.einsum("k,nk->n", t[:, 1], d[:, :, 0])
    a, b = a / var, b / var
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) - DLIB_5_TEMPLATE.mean(axis=0)
    x = mean[:, None, 0] + a[:, None] * corners[None, :, 0] - b[:, None] * corners[None, :, 1]
    y = mean[:, None, 1] + b[:, None] * corners[None, :, 0] + a[:, None] * corners[None, :, 1]
    hi_x, hi_y = np.asarray(widths) - 1, np.asarray(heights) - 1
    box = np.stack([np.floor(x.min(1)), np.floor(y.min(1)), np.ceil(x.max(1)), np.ceil(y.max(1))], axis=1)
    box = np.clip(box, 0, np.stack([hi_x, hi_y, hi_x, hi_y], axis=1))
    return box.astype(np.int64)


def _as_uint8_rgb(image, k: int) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"images[{k}]: expected an RGB array [H, W, 3], got shape {img.shape}")
    if img.dtype != np.uint8:
        if not (np.issubdtype(img.dtype, np.floating) or np.issubdtype(img.dtype, np.integer)):
            raise ValueError(f"images[{k}]: expected uint8 (or numbers in 0..255), got dtype {img.dtype}")
        img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return img


def write_face_folder(out_dir: str | os.PathLike, images, landmarks, labels, *,
                      names: Sequence[str] | Mapping[int, str] | None = None, quality: int = 95,
                      overwrite: bool = False, num_threads: int | None = None) -> Path:
    """Writes faces as ``out_dir/<name>/<name>_<NNNN>.jpg`` plus ``out_dir/landmarks5.csv``; returns the CSV path.

    Args:
      out_dir: the folder to create. It must not exist or be empty, unless `overwrite` (then the old folder is
        replaced once the new one is complete).
      images: uint8 RGB ``[N, H, W, 3]`` (or a sequence of ``[H, W, 3]`` arrays of any sizes; numbers in 0..255
        of another dtype are rounded).
      landmarks: ``[N, 5, 2]`` (x, y) pixels in dlib's 5-point order (CONTRIBUTING.md), finite.
      labels: ``[N]`` non-negative integer class ids (need not be contiguous).
      names: folder name per label: a sequence indexed by label or a mapping label -> name. Default
        `default_names` (``id00000`` ...), which sort in label order, so the builder's labels equal `labels` when
        these are contiguous. Other names get builder labels in sorted-name order.
      quality: JPEG quality, 1..100 (written with 4:4:4 chroma sampling).
      num_threads: encoder/writer threads (OpenCV and file writes release the GIL); default ``min(8, cpus)``.

    Raises ValueError (naming the argument, the index and what was expected) on bad input and FileExistsError
    when `out_dir` holds something and `overwrite` is False.
    """
    out_dir = Path(out_dir)
    n = len(images)
    lm = np.asarray(landmarks, dtype=np.float64)
    lab = np.asarray(labels)
    if lm.shape != (n, 5, 2):
        raise ValueError(f"landmarks: expected shape ({n}, 5, 2) to match {n} images, got {lm.shape}")
    if not np.all(np.isfinite(lm)):
        bad = int(np.flatnonzero(~np.isfinite(lm).all(axis=(1, 2)))[0])
        raise ValueError(f"landmarks[{bad}]: expected finite (x, y) pixels, got {lm[bad].tolist()}")
    if lab.shape != (n,):
        raise ValueError(f"labels: expected shape ({n},) to match {n} images, got {lab.shape}")
    if n == 0:
        raise ValueError("images: expected at least one face, got 0")
    if not np.issubdtype(lab.dtype, np.integer) or lab.min() < 0:
        raise ValueError(f"labels: expected non-negative integer class ids, got dtype {lab.dtype}, min {lab.min()}")
    quality = int(quality)
    if not 1 <= quality <= 100:
        raise ValueError(f"quality: expected a JPEG quality in 1..100, got {quality}")
    lab = lab.astype(np.int64)
    folder_of = _resolve_names(names, lab)

    if out_dir.exists() and not overwrite:
        if not out_dir.is_dir() or any(out_dir.iterdir()):
            raise FileExistsError(f"{out_dir}: already exists and is not an empty folder (expected a new or empty "
                                  "folder; pass overwrite=True to replace it)")

    counts: dict[int, int] = {}
    rel_paths = []
    for k in range(n):
        c = int(lab[k])
        counts[c] = counts.get(c, 0) + 1
        rel_paths.append((c, counts[c]))
    width = max(4, len(str(max(counts.values()))))
    rel_paths = [f"{folder_of[c]}/{folder_of[c]}_{i:0{width}d}.jpg" for c, i in rel_paths]

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        for c in folder_of.values():
            (tmp / c).mkdir()
        # 4:4:4 chroma: these are source images, a 4:2:0 JPEG would halve the colour resolution of a small face
        params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                  cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]

        def write(k: int) -> tuple[int, int]:
            img = _as_uint8_rgb(images[k], k)
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params)
            if not ok:
                raise ValueError(f"images[{k}]: OpenCV could not encode it as JPEG")
            with open(tmp / rel_paths[k], "wb") as fh:
                fh.write(buf.tobytes())
            return img.shape[0], img.shape[1]

        threads = num_threads or min(8, os.cpu_count() or 1)
        if threads > 1 and n > 64:
            with concurrent.futures.ThreadPoolExecutor(threads) as pool:
                sizes = np.array(list(pool.map(write, range(n))), dtype=np.int64)
        else:
            sizes = np.array([write(k) for k in range(n)], dtype=np.int64)
        boxes = face_boxes(lm, sizes[:, 0], sizes[:, 1])

        lines = [CSV_HEADER]
        for rel, points, box in zip(rel_paths, lm, boxes):
            coords = ",".join(f"{v:.2f}" for v in points.reshape(-1))
            lines.append(f"{rel},given,{coords},{box[0]},{box[1]},{box[2]},{box[3]}")
        (tmp / CSV_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0o700; a dataset folder should be readable like any other

        old = None
        if out_dir.exists():
            if out_dir.is_dir() and not any(out_dir.iterdir()):
                out_dir.rmdir()
            else:  # overwrite: move the old folder aside, then swap the new one in
                old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
                os.replace(out_dir, old / "x")
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return out_dir / CSV_NAME
