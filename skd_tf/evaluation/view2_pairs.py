"""LFW View 2's pairs: the 6,000 official pairs of `pairs.txt` in 10 folds, with the distinct images they use.

The paper evaluates every student by face verification on LFW's 6,000 pairs (3,000 matched, 3,000 mismatched) of
View 2 (Section IV-A/IV-C, Fig. 7). This module selects those pairs (by fold, without the pairs of some people, or a
small matched/mismatched sample for smoke runs) and ties each image to its row of `dlib/landmarks5.csv` (row r = row r
of `dlib/descriptors.npy`), so that every later step (faces, teacher and student features) reads each distinct image
once and indexes pairs by position. The 10-fold accuracy uses the official folds when the selection spans >= 2 of
them, else 10 round-robin subfolds (`skd_tf.grid.subfolds`).

Whether a student saw the people of the test pairs in training cannot be known from the student file. The fold-k
student of `experiments/lfw_lowres.py` was trained on the people of the other nine folds of `people.txt`, so View-2
fold k alone (`folds=[k]`) is its clean test; `exclude_people` (a file of names, `read_people_list`) drops every pair
that involves one of them, for students trained on other LFW people.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from skd_tf import grid
from skd_tf.data.lfw import load_protocol_pairs, read_landmarks_csv, verify_images_exist

IMAGES = "lfw-deepfunneled"
LANDMARKS = "dlib/landmarks5.csv"
NUM_FOLDS = 10


@dataclasses.dataclass(frozen=True)
class View2Pairs:
    """The selected View-2 pairs and the distinct images they use.

    Per distinct image (sorted by landmarks-CSV row): `rows` (int64 CSV row ids = rows of `descriptors.npy`), `paths`
    (relative to `lfw-deepfunneled/`), `landmarks` float32 [M, 5, 2]. Per pair (file order): `pair_a`, `pair_b`
    (positions in `rows`), `is_same`, `fold` (official fold, 1-based), `line` (line in pairs.txt), `name_a`,
    `index_a`, `name_b`, `index_b`. `folds` are the folds asked for, `excluded` the pairs dropped by
    `exclude_people`, `source` the pairs file.
    """

    rows: np.ndarray
    paths: list[str]
    landmarks: np.ndarray
    pair_a: np.ndarray
    pair_b: np.ndarray
    is_same: np.ndarray
    fold: np.ndarray
    line: np.ndarray
    name_a: np.ndarray
    index_a: np.ndarray
    name_b: np.ndarray
    index_b: np.ndarray
    folds: tuple[int, ...]
    excluded: int
    source: str

    def __len__(self) -> int:
        return int(self.is_same.size)

    def cv_folds(self) -> np.ndarray:
        """Fold ids of the 10-fold accuracy: the official folds when >= 2 are present, else `grid.subfolds`."""
        if np.unique(self.fold).size >= 2:
            return self.fold.copy()
        return grid.subfolds(len(self), NUM_FOLDS)

    def cv_description(self) -> str:
        present = np.unique(self.fold).tolist()
        if len(present) >= 2:
            return f"official View-2 folds {present} (threshold tuned on the other folds)"
        return (f"10 round-robin subfolds of the {len(self)} pairs of fold {present} (skd_tf.grid.subfolds; "
                "one official fold only)")

    def summary(self) -> dict:
        return {"n_pairs": len(self), "n_same": int(self.is_same.sum()), "n_different": int((~self.is_same).sum()),
                "n_images": int(self.rows.size), "folds": list(self.folds),
                "pairs_per_fold": {int(k): int(v) for k, v in zip(*np.unique(self.fold, return_counts=True))},
                "excluded_pairs": int(self.excluded), "cv": self.cv_description(), "pairs_file": self.source}


def parse_folds(folds: Sequence[int | str] | str | None) -> tuple[int, ...]:
    """The View-2 folds asked for, 1-based (all ten for None/empty); `ValueError` naming `folds` otherwise."""
    if folds is None:
        return tuple(range(1, NUM_FOLDS + 1))
    items = folds.split(",") if isinstance(folds, str) else list(folds)
    items = [str(f).strip() for f in items if str(f).strip()]
    if not items:
        return tuple(range(1, NUM_FOLDS + 1))
    out = []
    for f in items:
        try:
            k = int(f)
        except ValueError:
            raise ValueError(f"folds: expected integers 1..{NUM_FOLDS} (View-2 folds of pairs.txt), "
                             f"got {f!r}") from None
        if not 1 <= k <= NUM_FOLDS:
            raise ValueError(f"folds: expected integers 1..{NUM_FOLDS} (View-2 folds of pairs.txt), got {k}")
        if k in out:
            raise ValueError(f"folds: fold {k} given twice")
        out.append(k)
    return tuple(sorted(out))


def read_people_list(path: str | os.PathLike) -> set[str]:
    """Names in a people file: one LFW name per line (`Aaron_Eckhart`); `name count` lines (`people.txt`,
    `lfw-names.txt`) are accepted and their counts ignored, as are lines holding a bare integer (`people.txt`'s fold
    counts), blank lines and `#` comments. Raises naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"exclude_people {path}: file not found (expected one LFW name per line)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"exclude_people {path}: not readable as UTF-8 text ({e})") from None
    names: set[str] = set()
    for ln, line in enumerate(text.splitlines(), start=1):
        f = line.split("#", 1)[0].split()
        if not f or (len(f) == 1 and f[0].isdigit()):
            continue
        if len(f) > 2 or (len(f) == 2 and not f[1].isdigit()):
            raise ValueError(f"exclude_people {path}:{ln}: expected one LFW name (words joined by '_', optionally "
                             f"followed by an image count), got {line.strip()!r}")
        names.add(f[0])
    return names


def load_view2_pairs(lfw_root: str | os.PathLike, *, folds: Sequence[int] | None = None,
                     exclude_people: set[str] | None = None, max_pairs: int | None = None,
                     check_images: bool = True) -> View2Pairs:
    """The View-2 pairs of `folds` (1-based; all ten by default) under `lfw_root`, without the pairs that involve a
    name in `exclude_people`, with their distinct images and landmarks.

    `max_pairs` (tests, smoke runs) then keeps the first `max_pairs // 2` matched and the first
    `max_pairs - max_pairs // 2` mismatched pairs of the selection, in file order. Every image must have landmarks
    and (with `check_images`) exist; the selection must hold both matched and mismatched pairs.
    """
    lfw_root = Path(lfw_root)
    folds = parse_folds(folds)
    pairs = load_protocol_pairs(lfw_root, "pairs.txt", images=IMAGES, check_images=False)
    if pairs.n_folds != NUM_FOLDS:
        raise ValueError(f"{pairs.source}: expected View 2 ({NUM_FOLDS} folds), the header says {pairs.n_folds}")
    keep = np.isin(pairs.fold, np.asarray(folds) - 1)
    excluded = 0
    if exclude_people:
        hit = np.isin(pairs.name_a, list(exclude_people)) | np.isin(pairs.name_b, list(exclude_people))
        excluded = int((keep & hit).sum())
        keep &= ~hit
    sel = np.flatnonzero(keep)
    if max_pairs is not None:
        if int(max_pairs) < 2:
            raise ValueError(f"max_pairs: expected >= 2 (one matched and one mismatched pair), got {max_pairs}")
        half = int(max_pairs) // 2
        same, diff = sel[pairs.is_same[sel]], sel[~pairs.is_same[sel]]
        sel = np.sort(np.r_[same[:half], diff[:int(max_pairs) - half]])
    n_same = int(pairs.is_same[sel].sum())
    if n_same == 0 or n_same == sel.size:
        raise ValueError(f"{pairs.source}: folds {list(folds)} leave {n_same} matched and {sel.size - n_same} "
                         f"mismatched pairs after excluding {excluded} (expected both kinds)")
    rel_a, rel_b = pairs.relative_paths()
    a = [rel_a[i] for i in sel]
    b = [rel_b[i] for i in sel]
    csv_path = lfw_root / LANDMARKS
    table_paths, table_landmarks, _ = read_landmarks_csv(csv_path)
    row_of = {p: r for r, p in enumerate(table_paths)}
    for rel, i in zip(a + b, np.r_[sel, sel]):
        if rel not in row_of:
            raise ValueError(f"{pairs.source}:{int(pairs.line[i])}: no landmarks for {rel} in {csv_path}")
    rows = np.array(sorted({row_of[p] for p in a + b}), dtype=np.int64)
    paths = [table_paths[r] for r in rows]
    if check_images:
        verify_images_exist(lfw_root / IMAGES, paths, source=pairs.source)
    pos = {int(r): k for k, r in enumerate(rows)}
    return View2Pairs(
        rows=rows, paths=paths, landmarks=np.asarray(table_landmarks[rows], np.float32),
        pair_a=np.array([pos[row_of[p]] for p in a], np.int64), pair_b=np.array([pos[row_of[p]] for p in b], np.int64),
        is_same=pairs.is_same[sel].astype(bool), fold=pairs.fold[sel].astype(np.int64) + 1,
        line=pairs.line[sel].astype(np.int64), name_a=pairs.name_a[sel], index_a=pairs.index_a[sel],
        name_b=pairs.name_b[sel], index_b=pairs.index_b[sel], folds=folds, excluded=excluded, source=pairs.source)
