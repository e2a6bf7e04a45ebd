"""The items of `prepare video`: video files, folders of frames, WebDataset shards, parts.

`video_items(paths, split_mb, summary)` turns the command's inputs into `VideoItem`s, the work
units the pipeline schedules (locally or on Ray):

- **Patterns**: an input that does not exist as written is expanded as a brace pattern
  (`shards/{00000..00127}.tar`, the `braceexpand` package, as webdataset and video2dataset
  write them) and as a glob (`shards/*.tar`); nothing matching is a one-line error.
- **WebDataset shards** (`.tar`, as video2dataset writes them: `000000000.mp4`,
  `000000000.json`, `000000000.txt`, ... grouped by key): each member whose extension is a
  video's (`mp4`, `webm`, `mkv`, `avi`, ...) is an item, found by reading the tar headers only
  (`tarfile`, seeking over the data) and read later by its offset and size, so any worker reads
  any member without unpacking the shard (the bytes go to a temporary file in /dev/shm, which
  OpenCV decodes and which is removed at once). The key, and from the member's `.json` the
  `url`, the `caption` (else the `.txt` member) and the source's id (`SOURCE_ID_FIELDS`) are
  stored per sample as strings (metadata `key`, `url`, `caption`, `source_id`). A folder holding
  `.tar` files is read as those shards (video2dataset's output folder). Counted skips: a
  truncated shard ("truncated shard": the members before the damage are kept), a file that is
  no tar ("unreadable shard"), a sample with no video member ("not a video (.EXT)").
- **Parts**: a video file (or shard member) larger than `split_mb` MB is `ceil(size / split_mb)`
  items, each a consecutive `1/parts` of its frames (by the header's frame count), so one long
  video is done by several workers at once instead of holding the job's tail. A part owns the
  shots that *start* in its frames, and follows its last one past its end: its shot detector
  starts `MARGIN` frames before the part (the video is sought there), so it
  finds the cuts the whole video's detector finds, and the samples are those of the unsplit
  video (tested; a cut within `MIN_SHOT` frames of another near a part's edge may differ). A
  truncated video is counted by the part that reaches the damage (the parts before it keep their
  samples); without a frame count in the header, part 0 does the whole video. Folders of frames
  are never split.
- **Two decodings** (`open_item`, `ItemVideo`): an item is decoded once for its shots alone
  (no frame held), then again for the frames of the pieces that hold a candidate, one piece at a
  time (the one segmented and the next), so memory holds two pieces of frames at most however
  long a shot (a shard member's temporary file is kept until both are done).
"""

from __future__ import annotations

import glob
import json
import math
import os
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import cv2

from focusgan.data.summary import FilterSummary
from focusgan.errors import UserError
from focusgan.video.io import VIDEO_EXTS, BadVideo, Frame, find_videos, iter_frames
from focusgan.video.shots import MIN_SHOT

SOURCE_ID_FIELDS = ("videoID", "videoid", "video_id", "youtube_id", "id")  # first one present
FIELDS = ("key", "url", "caption", "source_id")  # per-sample string metadata of shard members
MB = 1 << 20
MARGIN = 2 * MIN_SHOT  # frames a part's shot detector sees before the part


@dataclass(frozen=True)
class VideoItem:
    """One unit of `prepare video` work: a video, or part `part` of `parts` of its frames."""

    path: str  # the video file, folder of frames, or the shard holding the member
    part: int = 0
    parts: int = 1
    member: str = ""  # a shard's member: its name in the tar, where its bytes start, their size
    offset: int = 0
    size: int = 0  # bytes of the video file or member (0 for a folder of frames)
    key: str = ""  # its WebDataset key, and fields of its .json (or .txt)
    url: str = ""
    caption: str = ""
    source_id: str = ""

    def fields(self) -> dict[str, str]:
        """The per-sample string metadata this item gives its samples."""
        return {name: getattr(self, name) for name in FIELDS}


def expand(path: str | os.PathLike) -> list[Path]:
    """`path` itself when it exists, else its brace and glob expansions (sorted)."""
    import braceexpand

    text = str(path)
    if Path(text).exists():
        return [Path(text)]
    found = [
        Path(p) for pattern in braceexpand.braceexpand(text) for p in sorted(glob.glob(pattern))
    ]
    if not found:
        raise UserError(f"no such file or folder: {text}")
    return found


def index_shard(shard: Path, summary: FilterSummary) -> list[VideoItem]:
    """The video members of a WebDataset shard (headers only), with their keys' .json fields."""
    size = shard.stat().st_size
    samples: dict[str, dict] = {}
    try:
        tf = tarfile.open(shard, "r:")
    except (tarfile.TarError, OSError):
        summary.skip("unreadable shard")
        return []
    with tf:
        while True:
            try:
                m = tf.next()
            except (tarfile.TarError, EOFError, OSError):
                summary.skip("truncated shard")
                break
            if m is None:
                break
            if not m.isfile():
                continue
            if m.offset_data + m.size > size:
                summary.skip("truncated shard")
                break
            name = m.name.rsplit("/", 1)[-1]
            key, _, ext = name.partition(".")
            key = m.name[: len(m.name) - len(name)] + key  # the folder is part of the key
            s = samples.setdefault(key, {"media": []})
            ext = ext.lower()
            if ext in ("json", "txt"):
                s[ext] = tf.extractfile(m).read().decode("utf-8", "replace")
            else:
                s["media"].append((m, ext))
    items = []
    for key, s in samples.items():
        videos = [(m, ext) for m, ext in s["media"] if "." + ext.rsplit(".", 1)[-1] in VIDEO_EXTS]
        if not videos:
            exts = sorted({ext for _, ext in s["media"]}) or ["no media"]
            summary.skip(f"not a video (.{exts[0]})")
            continue
        try:
            meta = json.loads(s.get("json", "{}"))
        except ValueError:
            meta = {}
        meta = meta if isinstance(meta, dict) else {}
        source_id = next((meta[f] for f in SOURCE_ID_FIELDS if meta.get(f) not in (None, "")), "")
        caption = meta.get("caption") or s.get("txt", "")
        for m, _ in videos:
            member = VideoItem(str(shard), member=m.name, offset=m.offset_data, size=m.size,
                               key=key, url=str(meta.get("url") or ""), caption=str(caption),
                               source_id=str(source_id))  # fmt: skip
            items.append(member)
    return items


def video_items(
    paths: list[str | os.PathLike], split_mb: float, summary: FilterSummary
) -> list[VideoItem]:
    """The items of the inputs `paths` (see the module docstring); shard problems are counted
    in `summary`."""
    items: list[VideoItem] = []
    for found in map(expand, paths):
        for p in found:
            shards = [p] if p.suffix == ".tar" else sorted(p.glob("*.tar")) if p.is_dir() else []
            for shard in shards:
                items += index_shard(shard, summary)
            if p.suffix != ".tar":
                others = find_videos([p])
                items += [
                    VideoItem(str(v), size=v.stat().st_size if v.is_file() else 0) for v in others
                ]
    out = []
    for item in items:
        parts = max(1, math.ceil(item.size / (split_mb * MB))) if split_mb > 0 else 1
        out += [replace(item, part=i, parts=parts) for i in range(parts)]
    return out


def _temp_dir() -> str | None:
    """Where a shard member's bytes are put for OpenCV: memory (/dev/shm) where there is one."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


@dataclass(frozen=True)
class ItemVideo:
    """The frames of an item, read twice: `shots` finds its shots, then `pieces` reads the
    frames of the ranges asked for, so a long shot is never held whole."""

    path: Path  # the file or folder decoded (a shard member's temporary copy)
    seek: int = 0  # first frame decoded (a part: `MARGIN` frames before its start)
    start: int = 0  # the item's shots are those that start in frames start..stop-1
    stop: int | None = None

    def frames(self) -> Iterator[Frame]:
        return iter_frames(self.path, start=self.seek)

    def shots(self, threshold: float, ratio: float) -> list[tuple[int, int]]:
        """The item's shots (first frame, end) by the shot detector alone (`shot_spans`, no
        frame held); a part follows its last shot past its end. Raises `BadVideo`."""
        from focusgan.video.shots import shot_spans

        if self.stop is not None and self.stop <= self.start:
            return []
        out, frames = [], self.frames()
        try:
            for a, b in shot_spans(frames, threshold, ratio):
                if self.stop is not None and a >= self.stop:
                    break  # the next part's
                if a >= self.start:
                    out.append((a, b))
        finally:
            frames.close()  # releases the capture before its file goes
        return out

    def pieces(self, ranges: list[tuple[int, int]]) -> Iterator[list[Frame]]:
        """The frames of each (first frame, end) of `ranges` (sorted, disjoint), one range at a
        time, decoding on from `seek` as `shots` did (so the frames are the same)."""
        todo = iter(ranges)
        span, piece = next(todo, None), []
        if span is None:
            return
        frames = self.frames()
        try:
            for f in frames:
                if f.index >= span[0]:
                    piece.append(f)
                if f.index == span[1] - 1:
                    yield piece
                    span, piece = next(todo, None), []
                    if span is None:
                        return
            raise BadVideo(self.path, "unreadable video", "fewer frames at a second decoding")
        finally:
            frames.close()


@contextmanager
def open_item(item: VideoItem) -> Iterator[ItemVideo]:
    """`item`'s frames (`ItemVideo`): of a whole video, of a shard member (through a temporary
    file, removed on exit), or of a part (see the module docstring)."""
    tmp = None
    try:
        path = item.path
        if item.member:
            with open(item.path, "rb") as f:
                f.seek(item.offset)
                data = f.read(item.size)
            if len(data) < item.size:
                raise BadVideo(item.path, "truncated shard", item.member)
            fd, tmp = tempfile.mkstemp(suffix=Path(item.member).suffix, dir=_temp_dir())
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            path = tmp
        if item.parts == 1:
            yield ItemVideo(Path(path))
            return
        cap = cv2.VideoCapture(str(path))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
        cap.release()
        if n == 0 and item.part > 0:  # no frame count in the header: part 0 does it all
            yield ItemVideo(Path(path), stop=0)
            return
        start = item.part * n // item.parts
        stop = (item.part + 1) * n // item.parts if n and item.part < item.parts - 1 else None
        # the detector starts MARGIN frames early, to see a cut at `start` as the whole
        # video's detector does; the video is sought there (`iter_frames`), not decoded from
        # its first frame (which made a video of P parts cost P / 2 decodings of it)
        yield ItemVideo(Path(path), max(0, start - MARGIN), start, stop)
    finally:
        if tmp is not None:
            os.unlink(tmp)
