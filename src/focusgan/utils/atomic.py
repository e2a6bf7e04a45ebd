"""Atomic file writes: write to a temporary name beside the target, then rename.

A crash at any moment leaves either the old file or the new one, never a half-written file
under the final name. Temporary names end in `.partial`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def partial_path(path: str | os.PathLike) -> Path:
    """The temporary name used while `path` is being written."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success rename it to `path`, on error delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # flush file contents to disk before the rename
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
