"""Atomic file writes: write to a temporary name beside the target, then rename.

A crash at any moment leaves either the old file or the new one, never a half-written file
under the final name. Temporary names end in `.partial`. A write that fails (a full disk, an I/O
error) is a one-line `WorkError` naming the file and saying that the previous one was kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from focusgan.errors import WorkError


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
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise WorkError(write_failed(path, e)) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_failed(path: Path, error: OSError) -> str:
    """The message for a failed write of `path` (whose temporary file is already removed)."""
    reason = error.strerror or str(error)
    kept = "the previous file is kept as it was" if path.exists() else "no file was written"
    return f"could not write {path} ({reason}); {kept}"
