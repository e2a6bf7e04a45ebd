"""Labels for class-conditional training (issue 13): COCO ids, classifier classes, files, errors."""

from __future__ import annotations

import numpy as np
import pytest

from focusgan.data.dataset import DatasetWriter, merge
from focusgan.data.labels import class_index, load_labels
from focusgan.data.toy import toy_images
from focusgan.errors import UserError


def _write(path, n=6, extra=None, **meta):
    with DatasetWriter(path, resolution=16, channels=4, mask_semantics="binary", extra=extra) as w:
        w.append(toy_images(n, 16), source="test", **meta)
    return path


def test_coco_category_ids_become_contiguous_classes_with_names(tmp_path):
    names = {"1": "person", "18": "dog", "3": "car"}
    path = _write(
        tmp_path / "c.h5", category_id=[18, 1, 1, 3, 18, 1], extra={"category_names": names}
    )
    labels = load_labels(path)
    assert labels.classes == ["1", "3", "18"]  # sorted as numbers
    assert labels.names == ["person", "car", "dog"]
    assert labels.index.tolist() == [2, 0, 0, 1, 2, 0]
    assert labels.counts().tolist() == [3, 1, 2]
    assert labels.source == "category_id"
    assert class_index(labels.classes, labels.names, "dog") == 2
    assert class_index(labels.classes, labels.names, "3") == 1
    with pytest.raises(UserError, match=r"unknown class 'cat'; this run's classes: 1 \(person\)"):
        class_index(labels.classes, labels.names, "cat")
    merged = merge([path, path], tmp_path / "m.h5")  # names survive a merge
    assert load_labels(merged).names == ["person", "car", "dog"]


def test_classifier_classes_are_labels(tmp_path):
    path = _write(tmp_path / "v.h5", class_id=[207, 207, 1, 5, 1, 207])
    labels = load_labels(path)
    assert labels.classes == ["1", "5", "207"] and labels.source == "class_id"
    assert labels.index.tolist() == [2, 2, 0, 1, 0, 2]


def test_a_labels_file_overrides_and_is_checked(tmp_path):
    path = _write(tmp_path / "u.h5", n=4)
    good = tmp_path / "labels.txt"
    good.write_text("dog\ncat\ndog\nbird\n")
    labels = load_labels(path, good)
    assert labels.classes == ["bird", "cat", "dog"] and labels.index.tolist() == [2, 1, 2, 0]
    short = tmp_path / "short.txt"
    short.write_text("dog\ncat\n")
    with pytest.raises(UserError, match="one non-empty label per line for each of the 4 samples"):
        load_labels(path, short)
    with pytest.raises(UserError, match="labels file not found"):
        load_labels(path, tmp_path / "nope.txt")


def test_missing_labels_are_a_one_line_error_naming_the_dataset(tmp_path):
    path = _write(tmp_path / "plain.h5")  # no category_id, no class_id
    with pytest.raises(UserError, match=r"plain\.h5 has no labels") as e:
        load_labels(path)
    assert "\n" not in str(e.value)
    partial = _write(tmp_path / "half.h5", n=2, category_id=np.array([1, -1]))
    with pytest.raises(UserError, match="has no labels"):
        load_labels(partial)
