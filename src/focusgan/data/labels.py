"""Per-sample class labels of a dataset file, for class-conditional training (issue 13).

Where a label comes from, in this order:
- a `--labels FILE` given by the user: a text file with one label per line (any token, e.g. a
  class name or number), as many lines as the dataset has samples, in the dataset's order;
- the `category_id` column (COCO instances; names from the file's `extra["category_names"]`);
- the `class_id` column (the classifier filter's top-1 ImageNet class, `prepare ... --min-confidence`).
Labels become class indices 0..K-1 in the sorted order of the distinct labels (numbers sorted as
numbers); `classes` keeps each index's label as stored and `names` a readable name, so a run can
record both and `sample --class person` or `--class 1` can find the index.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from focusgan.data.dataset import read_info, read_metadata
from focusgan.errors import UserError

LABEL_COLUMNS = ("category_id", "class_id")  # a dataset's own labels, in this order


@dataclass(frozen=True)
class Labels:
    index: np.ndarray  # int64 (N,): each sample's class index, 0..K-1
    classes: list[str]  # the label of each class index, as stored ("1", "18", "dog", ...)
    names: list[str]  # a readable name of each class index
    source: str  # "category_id", "class_id" or the labels file's path

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def counts(self) -> np.ndarray:
        """Samples per class index (K,)."""
        return np.bincount(self.index, minlength=self.num_classes)

    @property
    def kind(self) -> str:
        """Where the labels come from: "category_id", "class_id" or "file" (a file may move)."""
        return self.source if self.source in LABEL_COLUMNS else "file"

    def sha256(self) -> str:
        """Hex sha256 of every sample's label as stored, in file order: what a run trains on."""
        text = "\n".join(self.classes[i] for i in self.index.tolist())
        return hashlib.sha256(text.encode()).hexdigest()


def _sort_key(label: str) -> tuple:
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)


def _from_tokens(tokens: list[str], source: str, names: dict[str, str]) -> Labels:
    classes = sorted(set(tokens), key=_sort_key)
    lookup = {c: i for i, c in enumerate(classes)}
    index = np.array([lookup[t] for t in tokens], dtype=np.int64)
    return Labels(index, classes, [names.get(c, c) for c in classes], source)


def load_labels(data: str | os.PathLike, labels_file: str | os.PathLike | None = None) -> Labels:
    """The labels of every sample of a dataset file (see the module doc), or a one-line error."""
    info = read_info(data)
    if labels_file:
        path = Path(labels_file)
        if not path.is_file():
            raise UserError(f"labels file not found: {path}")
        tokens = [line.strip() for line in path.read_text().splitlines()]
        if len(tokens) != info.size or not all(tokens):
            raise UserError(
                f"{path} must have one non-empty label per line for each of the {info.size} "
                f"samples of {data}; it has {len(tokens)} lines"
                + (f", {tokens.count('')} of them empty" if "" in tokens else "")
            )
        return _from_tokens(tokens, str(path), {})
    for column in LABEL_COLUMNS:
        names = info.extra.get("category_names", {}) if column == "category_id" else {}
        if column in info.metadata:
            values = read_metadata(data, column)
            if len(values) and (values >= 0).all():
                return _from_tokens([str(int(v)) for v in values], column, names)
    raise UserError(
        f"{data} has no labels for class-conditional training: prepare it from COCO, or with "
        "--min-confidence (the classifier's top-1 class is stored), or pass --labels FILE"
    )


def class_index(classes: list[str], names: list[str], wanted: str) -> int:
    """The class index of a label as stored (`1`) or its name (`person`), else a one-line error."""
    for i, (label, name) in enumerate(zip(classes, names, strict=True)):
        if wanted == label or wanted.lower() == name.lower():
            return i
    shown = ", ".join(f"{c} ({n})" if n != c else c for c, n in zip(classes, names, strict=True))
    raise UserError(f"unknown class {wanted!r}; this run's classes: {shown}")
