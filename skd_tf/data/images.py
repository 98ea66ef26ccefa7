"""The one image reader of the project, landmark / box frame checks, and the corrupt-face policy.

Every dataset reader (LFW folders and feature extraction, SCface, UCCS, the TFDS builders, the benchmarks) decodes
images here, so a damaged file is refused the same way everywhere instead of becoming a silently wrong face:

- `decode_rgb(data, source)` / `read_rgb(path)` -> uint8 RGB `[H, W, 3]`. Pixels are OpenCV's decode
  (`cv2.imdecode(..., IMREAD_COLOR)`, EXIF orientation applied, the same pixels as `cv2.imread`), but the encoded data
  is first checked to be *complete*: libjpeg decodes a truncated JPEG partially (grey bottom rows, only a "Premature
  end of JPEG file" warning on stderr), and which OpenCV versions then return the partial image differs. The check
  walks the file's structure: a JPEG's segments and entropy-coded scans must reach the end-of-image marker (FFD9;
  anything after it, e.g. zero padding, is ignored), a PNG's chunks must be whole, their CRCs right, and reach IEND,
  a BMP / WebP must hold the bytes its header promises. Anything that fails raises `CorruptImageError` (a
  `ValueError`) naming the file and what is wrong.
- `image_size(data, source)` -> `(height, width)` of the decoded image from the header alone (after the same
  completeness check; EXIF orientation 5-8 swaps the sides, as the decoder does), for checks made before the
  expensive work.
- `check_landmarks(points, image_shape, where, margin)` / `check_box(...)`: a point may lie outside the image by at
  most `margin` x the image's size (the image spans -0.5 .. W - 0.5 in pixel-centre coordinates); default
  `DEFAULT_MARGIN` = 0.5, generous enough for every real LFW and SCface annotation, while a landmark far outside
  (which aligns to an all-black chip) raises `CorruptFaceError` naming `where` (the file and the annotation line).
- The corrupt-face policy `on_corrupt`: 'fail' (default) raises naming the file; 'skip' leaves the face out, counts
  it and records it (`{"file": ..., "reason": ..., ...}`) in the reader's output (`skip_or_raise`).
"""
from __future__ import annotations

import os
import re
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = [
    "DEFAULT_MARGIN",
    "ON_CORRUPT",
    "CorruptFaceError",
    "CorruptImageError",
    "check_on_corrupt",
    "check_margin",
    "check_complete",
    "decode_rgb",
    "read_rgb",
    "image_size",
    "read_image_size",
    "check_landmarks",
    "check_box",
    "skip_or_raise",
]

#: A landmark (or box corner) may lie outside the image by at most this fraction of the image's width / height.
DEFAULT_MARGIN = 0.5
#: The corrupt-face policies: raise naming the file, or leave the face out and record it.
ON_CORRUPT = ("fail", "skip")


class CorruptFaceError(ValueError):
    """A face that cannot be used: its image does not decode completely, or its landmarks / box are unusable.

    The message names the file (and the annotation line where there is one) and what is wrong. Readers with an
    `on_corrupt='skip'` policy catch exactly this error."""


class CorruptImageError(CorruptFaceError):
    """An image file that is empty, truncated, corrupt or in no format OpenCV decodes."""


def check_on_corrupt(value: str, name: str = "on_corrupt") -> str:
    """`value` when it is 'fail' or 'skip'; ValueError naming the setting otherwise."""
    if value not in ON_CORRUPT:
        raise ValueError(f"{name}={value!r}: expected 'fail' (raise naming the file) or 'skip' (leave the face out, "
                         f"count it and record it)")
    return value


def check_margin(margin: float, name: str = "margin") -> float:
    """`margin` as a float when it is finite and >= 0; ValueError otherwise."""
    try:
        m = float(margin)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={margin!r}: expected a number >= 0 (a fraction of the image size)") from None
    if not np.isfinite(m) or m < 0:
        raise ValueError(f"{name}={margin!r}: expected a finite number >= 0 (a fraction of the image size)")
    return m


# ----------------------------------------------------------------------------------------------- structural checks

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
#: In entropy-coded data 0xFF is followed by 0x00 (stuffing) or a restart marker D0-D7; anything else is a marker.
_SCAN_MARKER = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _exif_orientation(payload: bytes) -> int:
    """EXIF orientation (1..8) from an APP1 payload, 1 when absent or unreadable."""
    if not payload.startswith(b"Exif\x00\x00") or len(payload) < 14:
        return 1
    tiff = payload[6:]
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None:
        return 1
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd + 2 > len(tiff):
        return 1
    count = int.from_bytes(tiff[ifd:ifd + 2], order)
    for k in range(count):
        e = ifd + 2 + 12 * k
        if e + 12 > len(tiff):
            return 1
        if int.from_bytes(tiff[e:e + 2], order) == 0x0112:
            value = int.from_bytes(tiff[e + 8:e + 10], order)
            return value if 1 <= value <= 8 else 1
    return 1


def _jpeg(data: bytes) -> tuple[str | None, tuple[int, int] | None]:
    """(problem or None, (height, width) as decoded or None) of JPEG data (starting with FFD8)."""
    n, pos = len(data), 2
    size, orientation = None, 1
    while True:
        # the next marker: 0xFF, optional fill 0xFFs, the marker byte (libjpeg skips stray bytes before it)
        ff = data.find(b"\xff", pos)
        if ff < 0:
            return "truncated JPEG (no end-of-image marker)", None
        pos = ff
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            return "truncated JPEG (no end-of-image marker)", None
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI: the image is complete; trailing bytes (padding) are ignored
            break
        if marker == 0x00 or marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length field
            continue
        if pos + 2 > n:
            return "truncated JPEG (no end-of-image marker)", None
        length = (data[pos] << 8) | data[pos + 1]
        if length < 2:
            return f"corrupt JPEG (segment FF{marker:02X} at byte {pos - 2} has length {length})", None
        end = pos + length
        if end > n:
            return "truncated JPEG (no end-of-image marker)", None
        if marker in _JPEG_SOF and length >= 7 and size is None:
            size = ((data[pos + 3] << 8) | data[pos + 4], (data[pos + 5] << 8) | data[pos + 6])
        elif marker == 0xE1 and orientation == 1:
            orientation = _exif_orientation(data[pos + 2:end])
        pos = end
        if marker == 0xDA:  # start of scan: skip the entropy-coded data up to the next real marker
            m = _SCAN_MARKER.search(data, pos)
            if m is None:
                return "truncated JPEG (no end-of-image marker)", None
            pos = m.start()
    if size is None or size[0] < 1 or size[1] < 1:
        return "corrupt JPEG (no frame header with the image size)", None
    if orientation in (5, 6, 7, 8):
        size = (size[1], size[0])
    return None, size


def _png(data: bytes) -> tuple[str | None, tuple[int, int] | None]:
    n, pos, size = len(data), 8, None
    view = memoryview(data)
    while pos + 8 <= n:
        length = int.from_bytes(data[pos:pos + 4], "big")
        ctype = bytes(data[pos + 4:pos + 8])
        end = pos + 12 + length
        name = ctype.decode("latin-1")
        if end > n:
            return f"truncated PNG (chunk {name} runs past the end of the data)", None
        if zlib.crc32(view[pos + 4:pos + 8 + length]) != int.from_bytes(data[end - 4:end], "big"):
            return f"corrupt PNG (CRC mismatch in chunk {name} at byte {pos})", None
        if ctype == b"IHDR" and length >= 8:
            size = (int.from_bytes(data[pos + 12:pos + 16], "big"), int.from_bytes(data[pos + 8:pos + 12], "big"))
        if ctype == b"IEND":
            if size is None:
                return "corrupt PNG (no IHDR chunk)", None
            return None, size
        pos = end
    return "truncated PNG (no IEND chunk)", None


def _bmp(data: bytes) -> tuple[str | None, tuple[int, int] | None]:
    n = len(data)
    if n < 26:
        return "truncated BMP (incomplete header)", None
    file_size = int.from_bytes(data[2:6], "little")
    offset = int.from_bytes(data[10:14], "little")
    dib = int.from_bytes(data[14:18], "little")
    if dib == 12:
        width, height = int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
        bpp, compression = int.from_bytes(data[24:26], "little"), 0
    else:
        if n < 34:
            return "truncated BMP (incomplete header)", None
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)
        bpp, compression = int.from_bytes(data[28:30], "little"), int.from_bytes(data[30:34], "little")
    if width < 1 or height == 0:
        return f"corrupt BMP (image size {width}x{height})", None
    if compression in (0, 3, 6):  # uncompressed rows: the pixel array's size is known
        needed = offset + ((width * bpp + 31) // 32) * 4 * abs(height)
        if needed > n:
            return f"truncated BMP ({n} bytes, the header promises {needed})", None
    elif file_size and file_size > n:
        return f"truncated BMP ({n} bytes, the header promises {file_size})", None
    return None, (abs(height), width)


def _problem(data: bytes) -> tuple[str | None, tuple[int, int] | None, str]:
    """(problem or None, size from the header or None, format name) of encoded image data."""
    if not data:
        return "empty file", None, "?"
    if data[:2] == b"\xff\xd8":
        return (*_jpeg(data), "JPEG")
    if data[:8] == _PNG_SIGNATURE:
        return (*_png(data), "PNG")
    if data[:2] == b"BM":
        return (*_bmp(data), "BMP")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        promised = int.from_bytes(data[4:8], "little") + 8
        if promised > len(data):
            return f"truncated WebP ({len(data)} bytes, the header promises {promised})", None, "WebP"
        return None, None, "WebP"
    return None, None, "?"


def check_complete(data: bytes, source: str) -> None:
    """Raises `CorruptImageError` naming `source` when JPEG / PNG / BMP / WebP data is empty, truncated or
    structurally corrupt (module docstring). Other formats are left to the decoder."""
    problem, _, _ = _problem(data)
    if problem:
        raise CorruptImageError(f"{source}: corrupt or unreadable image: {problem} ({len(data)} bytes)")


# ---------------------------------------------------------------------------------------------------------- readers

def decode_rgb(data: bytes, source: str) -> np.ndarray:
    """Decodes a whole encoded image (JPEG, PNG, BMP, WebP, ...) to RGB uint8 `[H, W, 3]`.

    Pixels are exactly `cv2.imread`'s (OpenCV's decoder, EXIF orientation applied, converted BGR -> RGB); truncated,
    corrupt or undecodable data raises `CorruptImageError` (a ValueError) naming `source` and what is wrong.
    """
    import cv2

    data = bytes(data)
    check_complete(data, source)
    arr = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(arr, cv2.IMREAD_COLOR)
    if image is None or image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise CorruptImageError(f"{source}: corrupt or unreadable image: not a decodable image ({len(data)} bytes "
                                f"that OpenCV cannot decode; expected JPEG, PNG, BMP, WebP, TIFF, ...)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _read_bytes(path: str | os.PathLike) -> tuple[bytes, str]:
    text = os.fspath(path)
    if not os.path.isfile(text):
        raise FileNotFoundError(f"{text}: image not found")
    return Path(text).read_bytes(), text


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as uint8 RGB `[H, W, 3]` (`decode_rgb` of its bytes); FileNotFoundError when it is missing."""
    data, text = _read_bytes(path)
    return decode_rgb(data, text)


def image_size(data: bytes, source: str) -> tuple[int, int]:
    """`(height, width)` of the decoded image, from the header (JPEG, PNG, BMP; other formats are decoded), after
    `check_complete`. Cheap: nothing is decoded for the common formats."""
    problem, size, _ = _problem(data)
    if problem:
        raise CorruptImageError(f"{source}: corrupt or unreadable image: {problem} ({len(data)} bytes)")
    if size is None:
        h, w = decode_rgb(data, source).shape[:2]
        return int(h), int(w)
    return int(size[0]), int(size[1])


def read_image_size(path: str | os.PathLike) -> tuple[int, int]:
    """`image_size` of a file's bytes; FileNotFoundError when it is missing."""
    data, text = _read_bytes(path)
    return image_size(data, text)


# --------------------------------------------------------------------------------------------------- frame checks

def _bounds(image_shape: Sequence[int], margin: float) -> tuple[int, int, float, float, float, float]:
    h, w = int(image_shape[0]), int(image_shape[1])
    return h, w, -0.5 - margin * w, w - 0.5 + margin * w, -0.5 - margin * h, h - 0.5 + margin * h


def check_landmarks(points, image_shape: Sequence[int], where: str, margin: float = DEFAULT_MARGIN,
                    what: str = "landmark") -> np.ndarray:
    """The points as float64 `[K, 2]` when every one is finite and lies within `margin` x the image size of the
    image (`image_shape` = `(height, width, ...)`); otherwise `CorruptFaceError` naming `where`, the point and the
    accepted range. Pixel centres are at integer coordinates, so the image itself spans -0.5 .. W - 0.5."""
    margin = check_margin(margin)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 1:
        raise CorruptFaceError(f"{where}: {what}s: expected (x, y) points [K, 2], got shape {pts.shape}")
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CorruptFaceError(f"{where}: {what} {i} is not finite ({pts[i].tolist()})")
    h, w, x0, x1, y0, y1 = _bounds(image_shape, margin)
    bad = (pts[:, 0] < x0) | (pts[:, 0] > x1) | (pts[:, 1] < y0) | (pts[:, 1] > y1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CorruptFaceError(
            f"{where}: {what} {i} at (x={pts[i, 0]:.2f}, y={pts[i, 1]:.2f}) lies outside the {w}x{h} image by more "
            f"than {margin:g} x its size (expected {x0:g} <= x <= {x1:g} and {y0:g} <= y <= {y1:g})")
    return pts


def check_box(box: Sequence[float], image_shape: Sequence[int], where: str, margin: float = DEFAULT_MARGIN) -> None:
    """A face box `(x, y, width, height)` must have positive sides and both corners within `margin` x the image
    size of the image (`check_landmarks` of its corners); `CorruptFaceError` naming `where` otherwise."""
    x, y, bw, bh = (float(v) for v in box)
    if not (np.isfinite([x, y, bw, bh]).all() and bw > 0 and bh > 0):
        raise CorruptFaceError(f"{where}: face box (x={x:g}, y={y:g}, w={bw:g}, h={bh:g}) must be finite with "
                               f"positive width and height")
    check_landmarks([[x, y], [x + bw, y + bh]], image_shape, where, margin, what="box corner")


def skip_or_raise(error: CorruptFaceError, on_corrupt: str, skipped: list, **record: Any) -> None:
    """The corrupt-face policy: re-raises `error` for 'fail'; for 'skip' appends `{**record, "reason": str(error)}`
    to `skipped` (the reader's record of what it left out)."""
    if on_corrupt != "skip":
        raise error
    skipped.append({**record, "reason": str(error)})
