"""The focusgan dataset file: one HDF5 format for every source (DESIGN section 2).

Layout of a file:
- `images`: uint8 (N, H, W, C), C = 4 when channel 3 is the focus mask (0..255 = probability),
  else 3; chunked by sample.
- per-sample metadata, one 1-D dataset of length N each (see `METADATA`).
- attributes: `format`, `format_version`, `resolution`, `channels`, `mask_semantics`,
  `command`, `focusgan_version`, `created`, `filter_summary` (JSON), `extra` (JSON).

`DatasetWriter` appends batches to `FILE.partial` and renames it to `FILE` only when closed
without error, so a file under its final name is always complete. `FocusDataset` reads one as a
PyTorch dataset with 3 or 4 channels; `load_images` loads all images into memory for training.
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from focusgan import __version__
from focusgan.data.summary import FilterSummary
from focusgan.errors import UserError, WorkError
from focusgan.utils.atomic import partial_path, write_failed

if TYPE_CHECKING:
    import torch

FORMAT = "focusgan-dataset"
FORMAT_VERSION = 1
MASK_SEMANTICS = ("binary", "probability", "none")

# name -> (dtype, fill value for samples that do not have it)
METADATA: dict[str, tuple[Any, Any]] = {
    "source": (h5py.string_dtype(), ""),  # file path, video path or dataset name
    "frame": (np.int64, -1),  # frame index within a video, else -1
    "image_id": (np.int64, -1),  # COCO image id, else -1
    "annotation_id": (np.int64, -1),  # COCO annotation id, else -1
    "category_id": (np.int32, -1),  # COCO category id, else -1
    "fg_fraction": (np.float32, np.nan),  # fraction of pixels with mask > 0.5 (NaN without mask)
    "confidence": (np.float32, np.nan),  # classifier filter's top probability, NaN if not run
    "class_id": (np.int32, -1),  # classifier filter's top-1 ImageNet class, -1 if not run
    "key": (h5py.string_dtype(), ""),  # a WebDataset shard member's key (source = the shard)
    "url": (h5py.string_dtype(), ""),  # ... and from its .json: the video's url,
    "caption": (h5py.string_dtype(), ""),  # its caption (or the .txt member),
    "source_id": (h5py.string_dtype(), ""),  # the id the source gave it (e.g. videoID)
}
TEXT = {name for name, (dtype, _) in METADATA.items() if h5py.check_string_dtype(np.dtype(dtype))}


def command_line() -> str:
    """The command that is running, as a shell line (recorded in every file and run)."""
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return shlex.join([prog, *sys.argv[1:]])


@dataclass
class DatasetInfo:
    """What a dataset file says about itself."""

    path: Path
    size: int
    resolution: int
    channels: int
    mask_semantics: str
    command: str
    focusgan_version: str
    created: str
    filter_summary: FilterSummary
    extra: dict[str, Any] = field(default_factory=dict)
    metadata: tuple[str, ...] = ()


def read_info(path: str | os.PathLike) -> DatasetInfo:
    """Read the attributes of a dataset file, with a one-line error when it is not one."""
    with open_h5(path) as f:
        a = f.attrs
        try:
            info = DatasetInfo(
                path=Path(path),
                size=int(f["images"].shape[0]),
                resolution=int(a["resolution"]),
                channels=int(a["channels"]),
                mask_semantics=str(a["mask_semantics"]),
                command=str(a.get("command", "")),
                focusgan_version=str(a.get("focusgan_version", "")),
                created=str(a.get("created", "")),
                filter_summary=FilterSummary.from_json(str(a.get("filter_summary", "{}"))),
                extra=json.loads(str(a.get("extra", "{}"))),
                metadata=tuple(k for k in f.keys() if k != "images"),
            )
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as e:
            raise UserError(f"{path} is a damaged focusgan dataset (attribute: {e!r})") from None
        images = f["images"]
        r, c = info.resolution, info.channels
        if images.dtype != np.uint8 or images.shape[1:] != (r, r, c) or c not in (3, 4):
            raise UserError(
                f"{path} is a damaged focusgan dataset: images are {images.dtype} "
                f"{images.shape[1:]}, its attributes say uint8 ({r}, {r}, {c}) with 3 or 4 "
                "channels; prepare it again"
            )
        if not isinstance(info.extra, dict):
            raise UserError(f"{path} is a damaged focusgan dataset (attribute 'extra')")
        return info


def open_h5(path: str | os.PathLike) -> h5py.File:
    """Open a focusgan dataset file for reading; any other file is a `UserError`."""
    path = Path(path)
    if not path.exists():
        hint = " (an unfinished write left a .partial file)" if partial_path(path).exists() else ""
        raise UserError(f"dataset file not found: {path}{hint}; make one with `focusgan prepare`")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise UserError(f"{path} is not a focusgan dataset (not an HDF5 file: {e})") from None
    if f.attrs.get("format") != FORMAT or "images" not in f:
        f.close()
        raise UserError(f"{path} is not a focusgan dataset (no '{FORMAT}' format attribute)")
    try:
        version = int(f.attrs.get("format_version", 0))
    except (TypeError, ValueError, OverflowError):  # (int(inf) overflows)
        f.close()
        raise UserError(
            f"{path} is a damaged focusgan dataset (attribute 'format_version')"
        ) from None
    if version > FORMAT_VERSION:
        f.close()
        raise UserError(
            f"{path} has dataset format version {version}; this focusgan reads up to "
            f"{FORMAT_VERSION}: upgrade focusgan"
        )
    return f


def check_channels(info: DatasetInfo, channels: int | None) -> int:
    """The number of channels to read: `channels` if the file has them, else a `UserError`."""
    if channels is None:
        return info.channels
    if channels not in (3, 4):
        raise UserError(f"--channels must be 3 or 4, not {channels}")
    if channels > info.channels:
        raise UserError(
            f"{info.path} has {info.channels} channels (no focus mask); cannot read {channels}: "
            "use --channels 3 or prepare the dataset with --channels 4"
        )
    return channels


class DatasetWriter:
    """Append batches of samples to a new dataset file; it appears under its name on `close()`.

    Use as a context manager: leaving the block normally finishes the file (atomic rename);
    leaving it by an exception deletes the temporary file. `summary` is the filter summary
    stored with the file; sources update it as they accept, reject and skip candidates.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        resolution: int,
        channels: int,
        mask_semantics: str,
        command: str | None = None,
        summary: FilterSummary | None = None,
        extra: dict[str, Any] | None = None,
        chunk_samples: int = 1,
    ) -> None:
        if channels not in (3, 4):
            raise UserError(f"channels must be 3 or 4, not {channels}")
        if mask_semantics not in MASK_SEMANTICS:
            raise UserError(f"mask semantics must be one of {MASK_SEMANTICS}, not {mask_semantics}")
        self.path = Path(path)
        self.tmp = partial_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp.unlink(missing_ok=True)
        self.resolution, self.channels = resolution, channels
        self.summary = summary if summary is not None else FilterSummary()
        self.extra = dict(extra or {})
        self.size = 0
        self._file = h5py.File(self.tmp, "w")
        r = resolution
        self._file.create_dataset(
            "images",
            shape=(0, r, r, channels),
            maxshape=(None, r, r, channels),
            dtype=np.uint8,
            chunks=(chunk_samples, r, r, channels),
        )
        for name, (dtype, fill) in METADATA.items():  # a column not given reads as its fill
            self._file.create_dataset(
                name,
                shape=(0,),
                maxshape=(None,),
                dtype=dtype,
                chunks=(4096,),
                fillvalue=None if name in TEXT else fill,
            )
        a = self._file.attrs
        a["format"] = FORMAT
        a["format_version"] = FORMAT_VERSION
        a["resolution"] = resolution
        a["channels"] = channels
        a["mask_semantics"] = mask_semantics if channels == 4 else "none"
        a["command"] = command if command is not None else command_line()
        a["focusgan_version"] = __version__

    def append(self, images: np.ndarray, **metadata: Any) -> None:
        """Append `images` (n, H, W, C) uint8 with per-sample metadata (see `METADATA`)."""
        images = np.asarray(images)
        r, c = self.resolution, self.channels
        if images.ndim == 3:
            images = images[None]
        if images.dtype != np.uint8 or images.shape[1:] != (r, r, c):
            raise ValueError(
                f"expected uint8 images of shape (n, {r}, {r}, {c}), got "
                f"{images.dtype} {images.shape}"
            )
        unknown = set(metadata) - set(METADATA)
        if unknown:
            raise ValueError(f"unknown metadata {sorted(unknown)}; known: {sorted(METADATA)}")
        n = len(images)
        if n == 0:
            return
        if c == 4 and "fg_fraction" not in metadata:
            metadata["fg_fraction"] = (images[..., 3] > 127).mean(axis=(1, 2))
        columns = {}
        for name, (dtype, _) in METADATA.items():
            values = metadata.get(name)
            if values is None:  # the dataset's fill value (strings: ""): only resized below
                continue
            if np.ndim(values) == 0 or isinstance(values, str):
                values = [values] * n
            if len(values) != n:
                raise ValueError(f"metadata {name!r} has {len(values)} values for {n} images")
            columns[name] = np.asarray(values, dtype=object if name in TEXT else dtype)
        start, self.size = self.size, self.size + n
        with self._writing():
            self._file["images"].resize(self.size, axis=0)
            self._file["images"][start:] = images
            for name in METADATA:
                self._file[name].resize(self.size, axis=0)
                if name in columns:
                    self._file[name][start:] = columns[name]

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A failed write (a full disk) discards the unfinished file and says so in one line."""
        try:
            yield
        except OSError as e:
            self.abort()
            raise WorkError(write_failed(self.path, e)) from e

    def close(self) -> Path:
        """Write the final attributes and move the file to its final name."""
        if self._file is None:
            return self.path
        with self._writing():
            a = self._file.attrs
            a["filter_summary"] = self.summary.to_json()
            a["extra"] = json.dumps(self.extra, sort_keys=True)
            a["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"
            )
            self._file.close()
            self._file = None
            with open(self.tmp, "rb+") as f:  # on disk before it gets its final name
                os.fsync(f.fileno())
            os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Discard the unfinished file."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError:  # a full disk can fail the close too; the file is dropped anyway
                pass
            self._file = None
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def load_images(path: str | os.PathLike, channels: int | None = None) -> np.ndarray:
    """All images of a dataset file as one uint8 array (N, H, W, channels)."""
    info = read_info(path)
    channels = check_channels(info, channels)
    with open_h5(path) as f:
        images = f["images"][()]
    return images[..., :channels] if channels < images.shape[-1] else images


def read_metadata(path: str | os.PathLike, name: str) -> np.ndarray:
    """One per-sample metadata column (strings decoded for the `TEXT` columns)."""
    with open_h5(path) as f:
        if name not in f:
            raise UserError(f"{path} has no metadata {name!r}")
        ds = f[name]
        return ds.asstr()[()] if name in TEXT else ds[()]


class FocusDataset:
    """A dataset file as a PyTorch dataset of uint8 tensors (C, H, W), C = 3 or 4.

    A map-style dataset (`len` and indexing), which `torch.utils.data.DataLoader` takes as is.
    The HDF5 file is opened lazily in each process, so it works with DataLoader workers; torch
    is imported only when a sample is read, so tools that just write files do not pay for it.
    """

    def __init__(self, path: str | os.PathLike, channels: int | None = None) -> None:
        self.info = read_info(path)
        self.path = Path(path)
        self.channels = check_channels(self.info, channels)
        self._file: h5py.File | None = None

    def __len__(self) -> int:
        return self.info.size

    def __getitem__(self, index: int) -> torch.Tensor:
        import torch

        if self._file is None:
            self._file = open_h5(self.path)
        image = self._file["images"][index, :, :, : self.channels]
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None}


def merge(inputs: list[str | os.PathLike], out: str | os.PathLike, batch: int = 4096) -> Path:
    """Concatenate dataset files with the same resolution, channels and mask semantics."""
    if not inputs:
        raise UserError("merge needs at least one input file")
    infos = [read_info(p) for p in inputs]
    first = infos[0]
    for info in infos[1:]:
        same = (info.resolution, info.channels, info.mask_semantics)
        if same != (first.resolution, first.channels, first.mask_semantics):
            raise UserError(
                f"cannot merge {info.path} ({info.resolution}px, {info.channels} channels, "
                f"{info.mask_semantics}) with {first.path} ({first.resolution}px, "
                f"{first.channels} channels, {first.mask_semantics})"
            )
    summary = FilterSummary()
    for info in infos:
        summary.update(info.filter_summary)
    extra = {
        "merged_from": [{"path": str(i.path), "size": i.size, "command": i.command} for i in infos]
    }
    names = {k: v for i in infos for k, v in i.extra.get("category_names", {}).items()}
    if names:  # the labels of COCO samples keep their names
        extra["category_names"] = names
    with DatasetWriter(
        out,
        resolution=first.resolution,
        channels=first.channels,
        mask_semantics=first.mask_semantics,
        summary=summary,
        extra=extra,
    ) as w:
        for info in infos:
            with open_h5(info.path) as f:
                for start in range(0, info.size, batch):
                    end = min(start + batch, info.size)
                    meta = {}
                    for name in METADATA:
                        if name in f:
                            col = f[name]
                            meta[name] = (col.asstr() if name in TEXT else col)[start:end]
                    w.append(f["images"][start:end], **meta)
    return Path(out)
