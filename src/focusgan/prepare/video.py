"""`focusgan prepare video PATH... --out FILE.h5`: 4-channel samples whose focus channel comes
from motion (DESIGN section 3, "Video").

Per video (a file OpenCV decodes, or a folder of frames), at the frames' own size, as `segment`
reads them: shots by PySceneDetect (a change of frame size is a cut too); shots shorter
than `--min-shot` frames are skipped ("shot shorter than N frames"); `--frames-per-shot` evenly
spaced frames of each shot become candidates. Their masks come from exactly the segmentation
that `focusgan segment` writes and `bench-motion` measures: the shot is cut into consecutive
pieces of at most `--segment-frames` frames (`shots.shot_pieces`, as `segment_stream` does with
`--chunk`) and each piece holding a candidate is segmented whole (`focusgan.video.segment`);
pieces without a candidate are not segmented. The shots' lengths are needed before the
candidates are chosen, so each item is decoded twice (`video_items.ItemVideo`): once for its
shots alone, then for the frames of the pieces to segment, one piece at a time (memory: two
pieces of frames at most, however long a shot). Each candidate's soft mask goes
through the thesis's frame filter (`THESIS_FRAME_FILTER`: foreground 10%..80%, at most 10% of the
outer 5% border; options --min-fg/--max-fg/--border/--max-border-fg), then the frame and mask
are made square (`to_square`, `--fit`) and stored with the mask as a probability (0..255).
Metadata: source = the video path (or its shard), frame = the frame's index in the video, and
for a WebDataset shard's member its key, url, caption and source id (`video_items`).

Bad input is skipped and counted by reason: unreadable or truncated videos and shards, shots
where no flow shows motion ("no motion in shot"), shots too short (e.g. the few frames of a
folder whose frame size changes). The work items are videos, shard members, and parts of videos
larger than `--split-mb` (each part takes the shots that start in it: `video_items`); each item is
one resumable chunk (`focusgan.prepare.pipeline`): an interrupted job, run again, redoes only
unfinished items. `--workers` runs items in parallel processes (or `--executor ray` on a
cluster); `--min-confidence` adds the classifier filter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from focusgan.data.summary import FilterSummary
from focusgan.errors import UserError
from focusgan.prepare.filters import THESIS_FRAME_FILTER, MaskFilter
from focusgan.prepare.pipeline import ChunkResult, Job, RunOptions, SampleOptions
from focusgan.prepare.transform import to_square
from focusgan.prepare.video_items import FIELDS, ItemVideo, VideoItem, open_item, video_items
from focusgan.utils.options import option
from focusgan.video.io import BadVideo
from focusgan.video.options import SegmenterOptions
from focusgan.video.segment import CHUNK, SegmentParams, segment_frames
from focusgan.video.shots import CUT_RATIO, CUT_THRESHOLD, shot_pieces


@dataclass(frozen=True, kw_only=True)
class VideoOptions(SampleOptions):
    """Everything that decides a video dataset's samples (recorded in the resume fingerprint)."""

    paths: list[Path] = option(
        help="video files, folders of frames, folders holding them, or WebDataset shards "
        "(.tar, globs, brace patterns such as 'shards/{00000..00127}.tar')",
        positional=True,
    )
    split_mb: float = option(
        32.0, "run a video larger than this many MB as parts of about this size (0 = never)"
    )
    min_shot: int = option(10, "skip shots shorter than this many frames")
    frames_per_shot: int = option(8, "candidate samples per shot, evenly spaced")
    segment_frames: int = option(
        CHUNK, "consecutive frames of a shot segmented together, as segment's --chunk"
    )
    cut_threshold: float = option(
        CUT_THRESHOLD, "smallest content change that can be a cut (PySceneDetect's content score)"
    )
    cut_ratio: float = option(
        CUT_RATIO, "a cut's content change over the mean of its 4 neighbours' (AdaptiveDetector)"
    )
    filter: MaskFilter = option(THESIS_FRAME_FILTER, group="frame filters (default: the thesis's)")
    segmenter: SegmenterOptions = option(SegmenterOptions(), group="segmenter")

    def record(self) -> dict:
        """The settings as stored in the dataset file's `extra` (flat, as ever)."""
        d = asdict(self)
        for key in ("paths", "filter", "segmenter", "reduced_decode", "decode_margin"):
            d.pop(key)
        return {**d, **asdict(self.filter), "segmenter": self.segmenter.record()}

    def job(self, run: RunOptions) -> Job:
        return video_job(self, run)


def evenly(n: int, k: int) -> list[int]:
    """k (or n if fewer) evenly spaced indices of 0..n-1, ends included."""
    if n <= k:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, k).round().astype(int).tolist()))


def candidate(rgb: np.ndarray, prob: np.ndarray, opts: VideoOptions) -> str | tuple:
    """One candidate frame and its soft mask: the frame filter's reason to reject it, or the
    sample (`to_square`) and its foreground fraction."""
    mask = (prob * 255).round().astype(np.uint8)
    reason = opts.filter.check(mask)
    if reason is not None:
        return reason
    sample = to_square(rgb, opts.size, opts.fit, mask=mask)
    if opts.channels == 3:
        return np.ascontiguousarray(sample[..., :3]), np.nan
    return sample, float((sample[..., 3] > 127).mean())


def item_samples(
    video: ItemVideo, opts: VideoOptions, params: SegmentParams, summary: FilterSummary
) -> tuple[list[np.ndarray], list[int], list[float]]:
    """An item's kept samples, frame indices and foreground fractions: its shots first (no
    frame held), then each piece holding a candidate segmented whole, one at a time."""
    plans, pieces = [], []  # per shot long enough: its candidates; the pieces to segment
    for a, b in video.shots(opts.cut_threshold, opts.cut_ratio):
        if b - a < opts.min_shot:
            summary.skip(f"shot shorter than {opts.min_shot} frames")
            continue
        wanted = [a + i for i in evenly(b - a, opts.frames_per_shot)]
        plans.append(wanted)
        for x, y in shot_pieces(b - a, opts.segment_frames):
            # a one-frame piece has no flow (as `segment_stream`)
            if y - x > 1 and any(a + x <= i < a + y for i in wanted):
                pieces.append((a + x, a + y))
    wanted = {i for w in plans for i in w}
    found = {}  # a frame's own flows may miss a small fast object; the votes of the piece's
    # other frames still give its mask (as `segment` writes it), so frames are not dropped alone
    for piece in video.pieces(pieces):
        seg = segment_frames(np.stack([f.rgb for f in piece]), params)
        if seg.motion_frames == 0:
            continue  # no flow of the piece shows motion: its masks are empty
        for f, prob in zip(piece, seg.masks, strict=True):
            if f.index in wanted:
                found[f.index] = candidate(f.rgb, prob, opts)
    samples, frames, fgs = [], [], []
    for shot in plans:
        if not any(i in found for i in shot):
            summary.skip("no motion in shot")
            continue
        for i in shot:
            if i not in found:
                summary.reject("no motion in piece")
            elif isinstance(found[i], str):
                summary.reject(found[i])
            else:
                samples.append(found[i][0])
                frames.append(i)
                fgs.append(found[i][1])
                summary.keep()
    return samples, frames, fgs


def process_videos(chunk: list[VideoItem], opts: VideoOptions) -> ChunkResult:
    """The work function: samples for a chunk of videos (runs in worker processes)."""
    summary = FilterSummary()
    params = opts.segmenter.params()
    samples, meta = [], {"source": [], "frame": [], "fg_fraction": [], **{k: [] for k in FIELDS}}
    for item in chunk:
        counts = FilterSummary()  # counted only when the whole item is read
        try:
            with open_item(item) as video:
                s, fr, fg = item_samples(video, opts, params, counts)
        except BadVideo as e:
            summary.skip(e.reason)
            continue  # nothing of a bad video is kept
        summary.update(counts)
        samples += s
        meta["source"] += [str(item.path)] * len(s)
        meta["frame"] += fr
        meta["fg_fraction"] += fg
        for k, value in item.fields().items():
            meta[k] += [value] * len(s)
    return ChunkResult.collect(samples, meta, summary, len(chunk), opts)


def video_job(opts: VideoOptions, run: RunOptions) -> Job:
    """The work of a video dataset (see the module docstring): one item per video."""
    opts.validate()
    opts.filter.validate()
    opts.segmenter.params()  # its one-line errors now, not in a worker
    if opts.min_shot < 2 or opts.frames_per_shot < 1 or opts.segment_frames < 2:
        raise UserError("need --min-shot >= 2, --frames-per-shot >= 1, --segment-frames >= 2")
    if not (opts.cut_threshold >= 0 and opts.cut_ratio > 0):
        raise UserError("need --cut-threshold >= 0 and --cut-ratio > 0")
    found = FilterSummary()  # shard problems
    items = video_items(opts.paths, opts.split_mb, found)
    videos = sorted({str(Path(i.path).resolve()) for i in items})
    if not items:
        raise UserError("no videos or folders of frames found in the given paths")
    record = opts.record()
    config = {"source": "video", **record, "videos": videos}
    extra = {"source": "video", "videos": len({(i.path, i.member) for i in items}), **record}
    if run.workers is None or run.workers > 1:  # one process per core; one superpixel thread each
        opts = replace(opts, segmenter=replace(opts.segmenter, threads=1))
    return Job(
        items,
        partial(process_videos, opts=opts),
        "probability",
        config,
        extra,
        found,
        chunk_size=1,
        # the report counts and rates items: parts, once a long video is split
        unit="video part" if any(i.parts > 1 for i in items) else "video",
    )


def davis_prepare_scores(
    folder: str | Path, annotations: np.ndarray, opts: VideoOptions, out: Path
) -> dict:
    """Run `prepare video` on one folder of frames and score the stored masks: IoU at 0.5
    against the ground truth (T, H, W) bool brought to the same size by the same `to_square`;
    mean over the stored frames without the sequence's first and last (as DAVIS's J). Returns
    J, the frames scored and the seconds `prepare` took."""
    import time

    from focusgan.data.dataset import load_images, read_metadata
    from focusgan.prepare.pipeline import prepare
    from focusgan.video.davis import iou

    start = time.perf_counter()
    prepare(replace(opts, paths=[Path(folder)]), out, run=RunOptions(workers=0, progress=False))
    seconds = time.perf_counter() - start
    images, frames = load_images(out), read_metadata(out, "frame")
    last = len(annotations) - 1
    scores = []
    for image, f in zip(images, frames, strict=True):
        if 0 < f < last:
            gt = annotations[f].astype(np.uint8) * np.uint8(255)
            rgb = np.zeros((*gt.shape, 3), np.uint8)
            truth = to_square(rgb, opts.size, opts.fit, mask=gt)[..., 3] > 127
            scores.append(iou(image[..., 3] > 127, truth))
    return {
        "J": float(np.mean(scores)) if scores else 0.0,
        "frames": len(scores),
        "seconds": seconds,
    }


def bench_prepare(
    root: Path, rows: list[dict], segmenter: SegmenterOptions, chunk: int = CHUNK
) -> tuple[dict, list[str]]:
    """The production path (`bench-motion --prepare`): `prepare video` on each DAVIS sequence of
    `rows` (frame filters off, every frame a candidate, 64x64 squash), its stored masks scored
    against the ground truth squared the same way, beside `segment`'s J of the same sequences.
    Returns the numbers and the table to print."""
    import tempfile

    from focusgan.video.davis import davis_paths, read_annotations

    opts = VideoOptions(
        paths=[],
        min_shot=2,
        frames_per_shot=1_000_000,
        segment_frames=chunk,
        filter=MaskFilter(),  # every rule off
        segmenter=segmenter,
    )
    out = []
    lines = [
        f"prepare video ({opts.size}x{opts.size} masks, IoU at 0.5 x100) vs segment's J",
        f"{'sequence':<16} {'segment J':>9} {'prepare J':>9} {'frames':>6} {'frames/s':>9}",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for r in rows:
            frames_dir, ann_dir = davis_paths(root, r["sequence"])
            s = davis_prepare_scores(
                frames_dir, read_annotations(ann_dir), opts, Path(tmp) / f"{r['sequence']}.h5"
            )
            s.update(sequence=r["sequence"], segment_J=r["J"], fps=r["frames"] / s["seconds"])
            out.append(s)
            lines.append(
                f"{s['sequence']:<16} {100 * r['J']:9.1f} {100 * s['J']:9.1f} {s['frames']:>6} "
                f"{s['fps']:9.1f}"
            )
    seg_j, prep_j = (float(np.mean([s[k] for s in out])) for k in ("segment_J", "J"))
    lines.append(f"{'mean':<16} {100 * seg_j:9.1f} {100 * prep_j:9.1f}")
    return {"sequences": out, "mean": {"segment_J": seg_j, "J": prep_j}}, lines
