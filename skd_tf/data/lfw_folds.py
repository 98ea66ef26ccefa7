"""Identity-disjoint train/test splits of LFW for training students on LFW itself (Fig. 7 on real faces).

LFW View 2 has ten people folds (`people.txt`) and ten pair folds (`pairs.txt`); the pairs of fold k use only the
people of fold k. `fold_split(lfw_root, test_fold)` trains on every image of the people in the other nine folds and
tests on the 600 pairs of fold `test_fold`, so the students never see a test identity (the paper trains on UMDFaces
and tests on LFW, which is identity-disjoint too, Section IV).

Row ids are rows of the landmarks CSV (for `../shared/data/lfw/dlib/landmarks5.csv` that is sorted path order, the
order of the dlib reference files), so features, crops and selection flags join by row id everywhere.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from skd_tf.data.lfw import load_protocol_pairs, read_landmarks_csv, read_people

DEFAULT_LANDMARKS = "dlib/landmarks5.csv"
IMAGES = "lfw-deepfunneled"


@dataclasses.dataclass
class LfwFoldSplit:
    """One held-out fold. `paths`/`landmarks` cover the whole landmarks CSV (index = row id).

    train_rows [N] with contiguous labels train_labels [N] (ids of `train_people`, sorted names);
    test_rows [M] the distinct images of the test pairs; pair_a, pair_b [P] positions in test_rows; is_same [P].
    """
    test_fold: int
    paths: list[str]
    landmarks: np.ndarray
    train_rows: np.ndarray
    train_labels: np.ndarray
    train_people: list[str]
    test_rows: np.ndarray
    pair_a: np.ndarray
    pair_b: np.ndarray
    is_same: np.ndarray
    pair_lines: np.ndarray

    def summary(self) -> dict:
        counts = np.bincount(self.train_labels) if len(self.train_labels) else np.zeros(0, np.int64)
        return {"test_fold": self.test_fold, "train_people": len(self.train_people),
                "train_images": int(len(self.train_rows)),
                "train_people_with_one_image": int(np.sum(counts == 1)),
                "test_images": int(len(self.test_rows)), "test_pairs": int(len(self.is_same)),
                "test_same": int(self.is_same.sum())}


def fold_split(lfw_root: str | Path, test_fold: int, *, landmarks_csv: str | Path | None = None,
               max_train_people: int | None = None, max_test_pairs: int | None = None,
               min_train_images: int = 1, seed: int = 0) -> LfwFoldSplit:
    """Splits LFW for held-out fold `test_fold` (1..10; the paper's folds are 1-based in our flags).

    `min_train_images` drops training people with fewer images (LFW's 4,069 one-image people have no same-class
    pair, so Eq. 3 can never select them); `max_train_people` then keeps a seeded random subset of the training people
    (smoke runs); `max_test_pairs` keeps the first pairs of each kind (half same, half different) of the test fold.
    Every image named must have landmarks.
    """
    lfw_root = Path(lfw_root)
    protocol = lfw_root / "protocol"
    folds = read_people(protocol / "people.txt")
    if not 1 <= int(test_fold) <= len(folds):
        raise ValueError(f"test_fold: expected 1..{len(folds)} (folds of {protocol / 'people.txt'}), "
                         f"got {test_fold}")
    k = int(test_fold) - 1
    csv_path = Path(landmarks_csv) if landmarks_csv else lfw_root / DEFAULT_LANDMARKS
    paths, landmarks, _ = read_landmarks_csv(csv_path)
    row_of = {p: r for r, p in enumerate(paths)}

    people = sorted(name for j, fold in enumerate(folds) if j != k for name, n in fold.items()
                    if n >= int(min_train_images))
    if max_train_people is not None and max_train_people < len(people):
        pick = np.random.default_rng((int(seed), 11)).choice(len(people), int(max_train_people), replace=False)
        people = [people[i] for i in sorted(pick)]
    counts = {name: n for j, fold in enumerate(folds) if j != k for name, n in fold.items()}
    train_rows, train_labels = [], []
    for label, name in enumerate(people):
        for index in range(1, counts[name] + 1):
            rel = f"{name}/{name}_{index:04d}.jpg"
            if rel not in row_of:
                raise ValueError(f"{csv_path}: no landmarks for {rel} (listed by {protocol / 'people.txt'})")
            train_rows.append(row_of[rel])
            train_labels.append(label)

    pairs = load_protocol_pairs(lfw_root, "pairs.txt", images=IMAGES, check_images=False)
    in_fold = np.flatnonzero(pairs.fold == k)
    if max_test_pairs is not None:
        same, diff = in_fold[pairs.is_same[in_fold]], in_fold[~pairs.is_same[in_fold]]
        half = int(max_test_pairs) // 2
        in_fold = np.sort(np.r_[same[:half], diff[:int(max_test_pairs) - half]])
    rel_a, rel_b = pairs.relative_paths()
    a = [rel_a[i] for i in in_fold]
    b = [rel_b[i] for i in in_fold]
    for rel, i in zip(a + b, np.r_[in_fold, in_fold]):
        if rel not in row_of:
            raise ValueError(f"{pairs.source}:{int(pairs.line[i])}: no landmarks for {rel} in {csv_path}")
    test_rows = np.array(sorted({row_of[p] for p in a + b}), dtype=np.int64)
    pos = {int(r): i for i, r in enumerate(test_rows)}
    train_set = set(people)
    leaked = sorted(pairs.names() & train_set & {n for i in in_fold for n in (pairs.name_a[i], pairs.name_b[i])})
    if leaked:
        raise ValueError(f"{protocol}: test fold {test_fold} shares people with the training folds: {leaked[:5]}")
    return LfwFoldSplit(
        test_fold=int(test_fold), paths=list(paths), landmarks=landmarks,
        train_rows=np.asarray(train_rows, np.int64), train_labels=np.asarray(train_labels, np.int64),
        train_people=people, test_rows=test_rows,
        pair_a=np.array([pos[row_of[p]] for p in a], np.int64), pair_b=np.array([pos[row_of[p]] for p in b], np.int64),
        is_same=pairs.is_same[in_fold].astype(bool), pair_lines=pairs.line[in_fold].astype(np.int64))
