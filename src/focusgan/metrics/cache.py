"""Where evaluation keeps what it computed about a dataset file, and how it names it.

Reference statistics and the consistency segmenter are expensive and depend only on the
dataset file's bytes and the settings, so they are stored next to the dataset, named by the
file's sha256 and those settings (a changed file never reuses stale results). When the
dataset's folder is read-only they go to `$XDG_CACHE_HOME/focusgan` (default ~/.cache).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np


def cache_file(data_path: str | os.PathLike, kind: str, key: str, suffix: str) -> Path:
    """The cache file for `kind` (e.g. "refstats") of a dataset; `key` names the settings.

    Beside the dataset when its folder is writable, else in the user cache folder.
    """
    data_path = Path(data_path).resolve()
    name = f"{data_path.name}.{kind}-{key}{suffix}"
    if os.access(data_path.parent, os.W_OK):
        return data_path.parent / name
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "focusgan"
    root.mkdir(parents=True, exist_ok=True)
    return root / name


def read_rows(dataset: h5py.Dataset, indices: np.ndarray, block: int = 4096) -> np.ndarray:
    """Rows `indices` (sorted, unique) of an HDF5 dataset, read in contiguous blocks.

    Much faster than h5py's point selection for many scattered rows of a chunked dataset.
    """
    indices = np.asarray(indices, dtype=np.int64)
    out = np.empty((len(indices), *dataset.shape[1:]), dtype=dataset.dtype)
    pos = 0
    while pos < len(indices):
        start = int(indices[pos])
        end = np.searchsorted(indices, start + block, side="left")
        rows = dataset[start : int(indices[end - 1]) + 1]
        out[pos:end] = rows[indices[pos:end] - start]
        pos = end
    return out
