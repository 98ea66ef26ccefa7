"""LFW protocol files and image folder (paper Section IV-A: 6,000 LFW pairs; the experiment is Section IV-C).

Readers for the official protocol text files (see `../shared/data/README.md`):
- `pairs.txt` (View 2): header `10\\t300`, then 10 folds of 300 matched lines `name i j` followed by 300 mismatched
  lines `name1 i name2 j`; `pairsDevTrain.txt` / `pairsDevTest.txt` (View 1): header `N`, N matched then N mismatched
  lines (one fold).
- `people.txt`: header `10`, then per fold a count line and `name count` lines; `peopleDevTrain.txt` /
  `peopleDevTest.txt`: header `N` then N `name count` lines (one fold). `lfw-names.txt`: `name count` lines, no header.
- an LFW-layout image folder `<root>/<Name>/<Name>_<NNNN>.jpg` (image index is 1-based);
- a landmarks CSV (`path,det,x0,y0,...,x4,y4[,left,top,right,bottom]`, paths relative to the image folder), such
  as `../shared/data/lfw/dlib/landmarks5.csv` (dlib 5-point order, see CONTRIBUTING.md): `read_landmarks_table`
  (with each row's line, and with `image_root` a check that every image is complete and holds its landmarks
  within the frame margin of `skd_tf.data.images`), `read_landmarks_csv` (the arrays).

Every malformed line raises `ValueError` naming the file and the 1-based line number; a missing image raises
`FileNotFoundError` naming it (and the protocol line that asked for it, where there is one); a truncated image or a
landmark far outside its image raises `skd_tf.data.images.CorruptFaceError` naming the image and the CSV line.

Length: over 400 lines because it holds every reader of the LFW release's text files (pairs, people, names, the
landmarks table), each short and all sharing the same line and field checks.
"""
from __future__ import annotations

import csv
import dataclasses
import os
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from skd_tf.data.images import (
    DEFAULT_MARGIN,
    CorruptFaceError,
    check_landmarks,
    check_margin,
    check_on_corrupt,
    read_image_size,
    read_rgb,
)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def image_relpath(name: str, index: int, ext: str = ".jpg") -> str:
    """`<name>/<name>_<index:04d>.jpg`, the LFW relative path of image `index` (1-based) of `name`."""
    return f"{name}/{name}_{int(index):04d}{ext}"


def image_path(root: str | os.PathLike, name: str, index: int) -> Path:
    """Absolute-or-root-relative path of LFW image `index` (1-based) of `name` under the image folder `root`."""
    return Path(root) / image_relpath(name, index)


def _read_lines(path: str | os.PathLike) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    with open(path, encoding="utf-8") as fh:
        return fh.read().splitlines()


def _int_field(text: str, path: Path, lineno: int, field: str, minimum: int = 0) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{path}:{lineno}: {field} must be an integer, got {text!r}") from None
    if value < minimum:
        raise ValueError(f"{path}:{lineno}: {field} must be >= {minimum}, got {value}")
    return value


def _content_lines(lines: Sequence[str]) -> list[tuple[int, list[str]]]:
    """(1-based line number, whitespace-split fields) of every non-blank line."""
    return [(i + 1, line.split()) for i, line in enumerate(lines) if line.strip()]


@dataclasses.dataclass(frozen=True)
class LfwPairs:
    """Parsed pairs file: one entry per pair, in file order.

    Arrays: `name_a`, `name_b` (str), `index_a`, `index_b` (int64, 1-based image numbers), `is_same` (bool),
    `fold` (int64, 0-based fold id; all 0 for View 1), `line` (int64, the pair's 1-based line in `source`).
    """

    name_a: np.ndarray
    index_a: np.ndarray
    name_b: np.ndarray
    index_b: np.ndarray
    is_same: np.ndarray
    fold: np.ndarray
    line: np.ndarray
    source: str
    n_folds: int
    pairs_per_class: int

    def __len__(self) -> int:
        return int(self.is_same.size)

    def relative_paths(self) -> tuple[list[str], list[str]]:
        """(paths of image a, paths of image b) relative to the image folder, `<name>/<name>_<NNNN>.jpg`."""
        a = [image_relpath(n, i) for n, i in zip(self.name_a, self.index_a)]
        b = [image_relpath(n, i) for n, i in zip(self.name_b, self.index_b)]
        return a, b

    def image_paths(self, root: str | os.PathLike) -> tuple[list[Path], list[Path]]:
        """(paths of image a, paths of image b) under the LFW-layout image folder `root`."""
        root = Path(root)
        a, b = self.relative_paths()
        return [root / p for p in a], [root / p for p in b]

    def distinct_relative_paths(self) -> list[str]:
        """Sorted distinct relative paths of all images the pairs use."""
        a, b = self.relative_paths()
        return sorted(set(a) | set(b))

    def verify_images(self, root: str | os.PathLike) -> None:
        """Raises `FileNotFoundError` naming the first missing image and the pairs-file line that uses it."""
        a, b = self.relative_paths()
        verify_images_exist(root, a + b, source=self.source, lines=np.r_[self.line, self.line])

    def row_indices(self, index_paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Rows of images a and b in a feature table whose row r holds image `index_paths[r]` (relative paths)."""
        lookup = {p: r for r, p in enumerate(index_paths)}
        a, b = self.relative_paths()
        out = []
        for paths in (a, b):
            rows = np.empty(len(paths), dtype=np.int64)
            for k, p in enumerate(paths):
                r = lookup.get(p)
                if r is None:
                    raise ValueError(f"{self.source}:{int(self.line[k])}: image {p} has no row in the feature index")
                rows[k] = r
            out.append(rows)
        return out[0], out[1]

    def names(self) -> set[str]:
        return set(self.name_a.tolist()) | set(self.name_b.tolist())


def read_pairs(path: str | os.PathLike, *, known_names: Mapping[str, int] | None = None,
               root: str | os.PathLike | None = None) -> LfwPairs:
    """Parses an LFW pairs file (`pairs.txt`, `pairsDevTrain.txt`, `pairsDevTest.txt`).

    Args:
      path: the pairs file.
      known_names: optional name -> image count (e.g. `read_names('lfw-names.txt')`); an unknown name or an image
        index above the count raises `ValueError` naming the file and line.
      root: optional LFW-layout image folder; every image named must exist there (`FileNotFoundError` otherwise).
    """
    path = Path(path)
    rows = _content_lines(_read_lines(path))
    if not rows:
        raise ValueError(f"{path}: empty pairs file (expected a header line 'N' or 'n_folds N')")
    lineno, header = rows[0]
    if len(header) == 1:
        n_folds, per = 1, _int_field(header[0], path, lineno, "header pairs per class", 1)
    elif len(header) == 2:
        n_folds = _int_field(header[0], path, lineno, "header fold count", 1)
        per = _int_field(header[1], path, lineno, "header pairs per class", 1)
    else:
        raise ValueError(f"{path}:{lineno}: header must be 'N' or 'n_folds N', got {len(header)} fields")
    expected = n_folds * 2 * per
    body = rows[1:]
    if len(body) != expected:
        where = f"line {body[expected][0]}" if len(body) > expected else "end of file"
        raise ValueError(f"{path}: header promises {n_folds} folds x ({per} + {per}) = {expected} pairs, found "
                         f"{len(body)} pair lines (first discrepancy at {where})")
    name_a, index_a, name_b, index_b, same, fold, lines = [], [], [], [], [], [], []
    for k, (ln, f) in enumerate(body):
        fold_id, pos = divmod(k, 2 * per)
        matched = pos < per
        if matched:
            if len(f) != 3:
                raise ValueError(f"{path}:{ln}: expected a matched pair 'name i j' (3 fields, fold {fold_id + 1}, "
                                 f"pair {pos + 1} of {per} matched), got {len(f)} fields")
            na, ia, nb, ib = f[0], f[1], f[0], f[2]
        else:
            if len(f) != 4:
                raise ValueError(f"{path}:{ln}: expected a mismatched pair 'name1 i name2 j' (4 fields, fold "
                                 f"{fold_id + 1}, pair {pos - per + 1} of {per} mismatched), got {len(f)} fields")
            na, ia, nb, ib = f
            if na == nb:
                raise ValueError(f"{path}:{ln}: mismatched pair names the same person twice ({na})")
        ia_i = _int_field(ia, path, ln, "image index", 1)
        ib_i = _int_field(ib, path, ln, "image index", 1)
        if matched and ia_i == ib_i:
            raise ValueError(f"{path}:{ln}: matched pair uses the same image twice ({na} {ia_i})")
        if known_names is not None:
            for n, i in ((na, ia_i), (nb, ib_i)):
                if n not in known_names:
                    raise ValueError(f"{path}:{ln}: unknown name {n!r} (not in the list of known people)")
                if i > known_names[n]:
                    raise ValueError(f"{path}:{ln}: image index {i} for {n} exceeds its {known_names[n]} images")
        name_a.append(na), index_a.append(ia_i), name_b.append(nb), index_b.append(ib_i)
        same.append(matched), fold.append(fold_id), lines.append(ln)
    pairs = LfwPairs(
        name_a=np.asarray(name_a, dtype=str), index_a=np.asarray(index_a, dtype=np.int64),
        name_b=np.asarray(name_b, dtype=str), index_b=np.asarray(index_b, dtype=np.int64),
        is_same=np.asarray(same, dtype=bool), fold=np.asarray(fold, dtype=np.int64),
        line=np.asarray(lines, dtype=np.int64), source=str(path), n_folds=n_folds, pairs_per_class=per)
    if root is not None:
        pairs.verify_images(root)
    return pairs


def load_protocol_pairs(lfw_root: str | os.PathLike, name: str = "pairs.txt", *, images: str = "lfw-deepfunneled",
                        check_images: bool = True) -> LfwPairs:
    """An official pairs file under `<lfw_root>/protocol/`, with names checked against `lfw-names.txt` and (by
    default) every image checked in `<lfw_root>/<images>/`. `lfw_root` is e.g. `skd_tf.utils.paths.lfw_dir()`."""
    lfw_root = Path(lfw_root)
    names = read_names(lfw_root / "protocol" / "lfw-names.txt")
    return read_pairs(lfw_root / "protocol" / name, known_names=names,
                      root=lfw_root / images if check_images else None)


def _person_line(f: list[str], path: Path, ln: int) -> tuple[str, int]:
    if len(f) != 2:
        raise ValueError(f"{path}:{ln}: expected 'name count' (2 fields), got {len(f)} fields")
    return f[0], _int_field(f[1], path, ln, f"image count of {f[0]}", 1)


def read_people(path: str | os.PathLike) -> list[dict[str, int]]:
    """Parses `people.txt` (10 identity-disjoint folds) or `peopleDevTrain/DevTest.txt` (one fold).

    Returns a list of folds, each a dict name -> image count in file order. A name repeated anywhere raises.
    """
    path = Path(path)
    rows = _content_lines(_read_lines(path))
    if not rows:
        raise ValueError(f"{path}: empty people file (expected a header line with a count)")
    ln, header = rows[0]
    if len(header) != 1:
        raise ValueError(f"{path}:{ln}: header must be a single count, got {len(header)} fields")
    n = _int_field(header[0], path, ln, "header count", 1)
    multi_fold = len(rows) > 1 and len(rows[1][1]) == 1
    folds: list[dict[str, int]] = []
    seen: dict[str, int] = {}
    pos = 1
    for fold_id in range(n if multi_fold else 1):
        if multi_fold:
            if pos >= len(rows):
                raise ValueError(f"{path}: header promises {n} folds, file ends after {fold_id}")
            ln, f = rows[pos]
            if len(f) != 1:
                raise ValueError(f"{path}:{ln}: expected the person count of fold {fold_id + 1}, got {len(f)} fields")
            count = _int_field(f[0], path, ln, f"person count of fold {fold_id + 1}", 1)
            pos += 1
        else:
            count = n
        fold: dict[str, int] = {}
        for _ in range(count):
            if pos >= len(rows):
                raise ValueError(f"{path}: fold {fold_id + 1} promises {count} people, file ends after {len(fold)}")
            ln, f = rows[pos]
            name, images = _person_line(f, path, ln)
            if name in seen:
                raise ValueError(f"{path}:{ln}: {name} already listed at line {seen[name]}")
            seen[name] = ln
            fold[name] = images
            pos += 1
        folds.append(fold)
    if pos != len(rows):
        raise ValueError(f"{path}:{rows[pos][0]}: unexpected extra line after the {len(folds)} fold(s) the header "
                         f"promises")
    return folds


def read_names(path: str | os.PathLike) -> dict[str, int]:
    """Parses `lfw-names.txt` (`name count` per line, no header): name -> number of images."""
    path = Path(path)
    out: dict[str, int] = {}
    for ln, f in _content_lines(_read_lines(path)):
        name, count = _person_line(f, path, ln)
        if name in out:
            raise ValueError(f"{path}:{ln}: {name} listed twice")
        out[name] = count
    if not out:
        raise ValueError(f"{path}: no names found")
    return out


def list_images(root: str | os.PathLike) -> list[str]:
    """Sorted (Python `sorted`, code-point order) relative paths `<Name>/<Name>_<NNNN>.jpg` under an LFW folder.

    Hidden files are ignored; any other file that does not follow the LFW naming raises `ValueError`.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: LFW image folder not found")
    out = []
    for person in os.scandir(root):
        if person.name.startswith("."):
            continue
        if not person.is_dir():
            raise ValueError(f"{root / person.name}: expected only person folders in the LFW image folder")
        pattern = re.compile(re.escape(person.name) + r"_\d{4,}\.(jpg|jpeg|png)", re.IGNORECASE)
        for entry in os.scandir(person.path):
            if entry.name.startswith("."):
                continue
            if not entry.is_file() or not pattern.fullmatch(entry.name):
                raise ValueError(f"{Path(entry.path)}: expected '{person.name}_NNNN.jpg' in LFW folder layout")
            out.append(f"{person.name}/{entry.name}")
    if not out:
        raise ValueError(f"{root}: no images found (expected <Name>/<Name>_NNNN.jpg)")
    return sorted(out)


def verify_images_exist(root: str | os.PathLike, paths: Iterable[str | os.PathLike], *,
                        source: str | None = None, lines: Sequence[int] | None = None) -> None:
    """Raises `FileNotFoundError` naming the first of `paths` (relative to `root`) that is not a file.

    `source`/`lines` (the protocol file and the line of each path) are added to the message when given.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: image folder not found")
    paths = list(paths)
    missing = [k for k, p in enumerate(paths) if not (root / p).is_file()]
    if missing:
        k = missing[0]
        where = ""
        if source is not None:
            where = f" (named in {source}" + (f" line {int(lines[k])}" if lines is not None else "") + ")"
        n_distinct = len({str(paths[m]) for m in missing})
        raise FileNotFoundError(f"{root / paths[k]}: image not found{where}; {n_distinct} missing in all")


_LANDMARK_COLUMNS = [f"{c}{i}" for i in range(5) for c in ("x", "y")]
_BOX_COLUMNS = ["left", "top", "right", "bottom"]


@dataclasses.dataclass(frozen=True)
class LandmarksTable:
    """A 5-point landmarks CSV (`read_landmarks_table`): row r is the r-th data row of `source` (0-based).

    `paths` (relative to the image folder), `landmarks` float32 [N, 5, 2] (dlib order), `det` [N] str (empty when
    the CSV has no `det` column), `boxes` int64 [N, 4] (`left, top, right, bottom`; -1 when absent), `lines` int64
    [N] (each row's 1-based line in the file, for error messages).
    """

    paths: list[str]
    landmarks: np.ndarray
    det: np.ndarray
    boxes: np.ndarray
    lines: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.paths)

    def where(self, row: int, root: str | os.PathLike | None = None) -> str:
        """`<image> (<csv> line L, data row r)`: what an error about row `row` names."""
        image = Path(root) / self.paths[row] if root is not None else self.paths[row]
        return f"{image} ({self.source} line {int(self.lines[row])}, data row {int(row)})"

    def check_in_frame(self, row: int, image_shape: Sequence[int], root: str | os.PathLike | None = None,
                       margin: float = DEFAULT_MARGIN) -> None:
        """`CorruptFaceError` naming the image and the CSV line when a landmark of `row` lies outside an image of
        `image_shape` by more than `margin` x its size (`skd_tf.data.images.check_landmarks`)."""
        check_landmarks(self.landmarks[row], image_shape, self.where(row, root), margin)

    def read_image(self, root: str | os.PathLike, row: int, margin: float = DEFAULT_MARGIN) -> np.ndarray:
        """The RGB image of `row` under the image folder `root` (`skd_tf.data.images.read_rgb`: a truncated or
        corrupt file raises `CorruptImageError`), with its landmarks checked against the image's frame."""
        image = read_rgb(Path(root) / self.paths[row])
        self.check_in_frame(row, image.shape, root, margin)
        return image

    def frame_problems(self, root: str | os.PathLike, rows: Iterable[int] | None = None,
                       margin: float = DEFAULT_MARGIN, on_corrupt: str = "fail") -> dict[int, str]:
        """Checks `rows` (all by default) before any decoding: each image under `root` must be complete (the
        structural check of `skd_tf.data.images`; only its header is parsed) and the row's landmarks within
        `margin` x its size of its frame. 'fail' raises the first problem (`CorruptFaceError` naming the image and
        the CSV line); 'skip' returns `{row: reason}` of the unusable rows. A missing image raises FileNotFoundError."""
        check_on_corrupt(on_corrupt)
        problems: dict[int, str] = {}
        for r in (range(len(self.paths)) if rows is None else rows):
            r = int(r)
            try:
                try:
                    shape = read_image_size(Path(root) / self.paths[r])
                except CorruptFaceError as err:
                    raise type(err)(f"{err} (named in {self.source} line {int(self.lines[r])}, data row "
                                    f"{r})") from None
                self.check_in_frame(r, shape, root, margin)
            except CorruptFaceError as err:
                if on_corrupt == "fail":
                    raise
                problems[r] = str(err)
        return problems


def read_landmarks_table(path: str | os.PathLike, *, image_root: str | os.PathLike | None = None,
                         margin: float = DEFAULT_MARGIN) -> LandmarksTable:
    """Parses a 5-point landmarks CSV into a `LandmarksTable` (format: `read_landmarks_csv`).

    With `image_root` (the image folder the paths are relative to), every row's image is also checked before
    anything is decoded (`LandmarksTable.frame_problems`): it must exist and be complete, and no landmark may lie
    outside it by more than `margin` x its size; the first problem raises, naming the image and the CSV line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: landmarks CSV not found")
    margin = check_margin(margin)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ValueError(f"{path}: empty landmarks CSV (expected a header line)") from None
        missing = [c for c in ["path"] + _LANDMARK_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}:1: header lacks column(s) {', '.join(missing)}")
        col = {c: header.index(c) for c in header}
        has_det = "det" in col
        has_box = all(c in col for c in _BOX_COLUMNS)
        paths, dets, pts, boxes, lines, seen = [], [], [], [], [], {}
        for row in reader:
            ln = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise ValueError(f"{path}:{ln}: expected {len(header)} comma-separated fields, got {len(row)}")
            rel = row[col["path"]].strip()
            if not rel:
                raise ValueError(f"{path}:{ln}: empty path")
            if rel in seen:
                raise ValueError(f"{path}:{ln}: {rel} already listed at line {seen[rel]}")
            seen[rel] = ln
            values = []
            for c in _LANDMARK_COLUMNS:
                text = row[col[c]]
                try:
                    v = float(text)
                except ValueError:
                    raise ValueError(f"{path}:{ln}: column {c} must be a number, got {text!r}") from None
                if not np.isfinite(v):
                    raise ValueError(f"{path}:{ln}: column {c} must be finite, got {text!r}")
                values.append(v)
            box = [-1, -1, -1, -1]
            if has_box:
                box = [_int_field(row[col[c]].strip(), path, ln, f"column {c}", minimum=-(10 ** 9))
                       for c in _BOX_COLUMNS]
            paths.append(rel)
            dets.append(row[col["det"]].strip() if has_det else "")
            pts.append(values)
            boxes.append(box)
            lines.append(ln)
    if not paths:
        raise ValueError(f"{path}: no landmark rows found")
    table = LandmarksTable(paths=paths, landmarks=np.asarray(pts, dtype=np.float32).reshape(-1, 5, 2),
                           det=np.asarray(dets, dtype=str), boxes=np.asarray(boxes, dtype=np.int64).reshape(-1, 4),
                           lines=np.asarray(lines, dtype=np.int64), source=str(path))
    if image_root is not None:
        verify_images_exist(image_root, paths, source=str(path), lines=lines)
        table.frame_problems(image_root, margin=margin, on_corrupt="fail")
    return table


def read_landmarks_csv(path: str | os.PathLike, *, with_boxes: bool = False,
                       image_root: str | os.PathLike | None = None, margin: float = DEFAULT_MARGIN):
    """Parses a 5-point landmarks CSV: `(paths, landmarks float32 [N, 5, 2], det kinds [N] str)`.

    Required columns: `path`, `x0,y0,...,x4,y4` (pixels, dlib 5-point order); optional `det` (empty string when
    absent) and `left,top,right,bottom` (returned as int64 [N, 4] as a 4th item when `with_boxes=True`; -1 when
    absent). Rows keep file order; a repeated path raises. With `image_root`, each row's image must exist, be
    complete and hold its landmarks within `margin` x its size (`read_landmarks_table`), else the CSV is refused
    naming the image and the line.
    """
    table = read_landmarks_table(path, image_root=image_root, margin=margin)
    if with_boxes:
        return table.paths, table.landmarks, table.det, table.boxes
    return table.paths, table.landmarks, table.det


def landmarks_for(paths: Sequence[str], table_paths: Sequence[str], landmarks: np.ndarray,
                  source: str = "landmarks CSV") -> np.ndarray:
    """Landmarks `[len(paths), 5, 2]` for `paths`, looked up in a table read by `read_landmarks_csv`."""
    lookup = {p: r for r, p in enumerate(table_paths)}
    rows = []
    for p in paths:
        r = lookup.get(str(p))
        if r is None:
            raise ValueError(f"{source}: no landmarks for image {p}")
        rows.append(r)
    return np.asarray(landmarks)[np.asarray(rows, dtype=np.int64)]
