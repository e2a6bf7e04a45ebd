"""`focusgan prepare video PATH... --out FILE.h5`: 4-channel samples whose focus channel comes
from motion (DESIGN section 3, "Video").

Per video (a file OpenCV decodes, or a folder of frames): shots by PySceneDetect; shots shorter
than `--min-shot` frames are skipped ("shot shorter than N frames"); up to `--segment-frames`
evenly spaced frames of each shot are segmented together (`focusgan.video.segment`); of those,
`--frames-per-shot` evenly spaced frames become candidates. Each candidate's soft mask goes
through the thesis's frame filter (`THESIS_FRAME_FILTER`: foreground 10%..80%, at most 10% of the
outer 5% border; options --min-fg/--max-fg/--border/--max-border-fg), then the frame and mask
are made square (`to_square`, `--fit`) and stored with the mask as a probability (0..255).
Metadata: source = the video path, frame = the frame's index in the video.

Bad input is skipped and counted by reason: unreadable or truncated videos, frames of different
sizes, shots where no flow shows motion ("no motion in shot"). Each video is one resumable
chunk (`focusgan.prepare.pipeline`): an interrupted job, run again, redoes only unfinished videos.
`--workers` runs videos in parallel processes; `--min-confidence` adds the classifier filter.
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
from focusgan.utils.options import option
from focusgan.video.io import BadVideo, find_videos, iter_frames, video_fps
from focusgan.video.options import SegmenterOptions
from focusgan.video.segment import SegmentParams, segment_frames, split_evenly


@dataclass(frozen=True, kw_only=True)
class VideoOptions(SampleOptions):
    """Everything that decides a video dataset's samples (recorded in the resume fingerprint)."""

    paths: list[Path] = option(
        help="video files, folders of frames, or folders holding them", positional=True
    )
    min_shot: int = option(10, "skip shots shorter than this many frames")
    frames_per_shot: int = option(8, "candidate samples per shot, evenly spaced")
    segment_frames: int = option(30, "frames of a shot segmented together")
    cut_threshold: float = option(27.0, "PySceneDetect content threshold for cuts")
    max_side: int = option(640, cli=False)  # frames are kept at most this large before squaring
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


def shot_samples(
    shot: list, opts: VideoOptions, params: SegmentParams, summary: FilterSummary
) -> tuple[list[np.ndarray], list[int], list[float]]:
    """Segment one shot and return its kept samples, frame indices and foreground fractions."""
    if len(shot) < opts.min_shot:
        summary.skip(f"shot shorter than {opts.min_shot} frames")
        return [], [], []
    chosen = [shot[i] for i in evenly(len(shot), opts.segment_frames)]
    seg = segment_frames(np.stack([f.rgb for f in chosen]), params)
    if seg.motion_frames == 0:
        summary.skip("no motion in shot")
        return [], [], []
    samples, frames, fgs = [], [], []
    for i in evenly(len(chosen), opts.frames_per_shot):
        if seg.kinds[i] == "none":
            summary.reject("no motion in frame")
            continue
        mask = (seg.masks[i] * 255).round().astype(np.uint8)
        reason = opts.filter.check(mask)
        if reason is not None:
            summary.reject(reason)
            continue
        sample = to_square(chosen[i].rgb, opts.size, opts.fit, mask=mask)
        if opts.channels == 3:
            sample = np.ascontiguousarray(sample[..., :3])
        samples.append(sample)
        frames.append(chosen[i].index)
        fgs.append(float((sample[..., 3] > 127).mean()) if opts.channels == 4 else np.nan)
        summary.keep()
    return samples, frames, fgs


def process_videos(chunk: list[str], opts: VideoOptions) -> ChunkResult:
    """The work function: samples for a chunk of videos (runs in worker processes)."""
    from focusgan.video.shots import iter_shots

    summary = FilterSummary()
    params = opts.segmenter.params()
    samples, meta = [], {"source": [], "frame": [], "fg_fraction": []}
    for path in chunk:
        video_samples, video_meta = [], {"source": [], "frame": [], "fg_fraction": []}
        try:
            frames = iter_frames(path, max_side=opts.max_side)
            shape = None
            for shot in iter_shots(frames, threshold=opts.cut_threshold, fps=video_fps(path)):
                for a, b in split_evenly(len(shot), 10 * opts.segment_frames):
                    piece = shot[a:b]
                    if shape is None:
                        shape = piece[0].rgb.shape
                    if any(f.rgb.shape != shape for f in piece):
                        raise BadVideo(path, "frames differ in size")
                    s, fr, fg = shot_samples(piece, opts, params, summary)
                    video_samples += s
                    video_meta["source"] += [str(path)] * len(s)
                    video_meta["frame"] += fr
                    video_meta["fg_fraction"] += fg
        except BadVideo as e:
            summary.skip(e.reason)
            continue  # nothing of a bad video is kept
        samples += video_samples
        for k in meta:
            meta[k] += video_meta[k]
    return ChunkResult.collect(samples, meta, summary, len(chunk), opts)


def video_job(opts: VideoOptions, run: RunOptions) -> Job:
    """The work of a video dataset (see the module docstring): one item per video."""
    opts.validate()
    opts.filter.validate()
    opts.segmenter.params()  # its one-line errors now, not in a worker
    if opts.min_shot < 2 or opts.frames_per_shot < 1 or opts.segment_frames < 2:
        raise UserError("need --min-shot >= 2, --frames-per-shot >= 1, --segment-frames >= 2")
    videos = [str(p) for p in find_videos(opts.paths)]
    if not videos:
        raise UserError("no videos or folders of frames found in the given paths")
    record = opts.record()
    config = {"source": "video", **record, "videos": [str(Path(v).resolve()) for v in videos]}
    extra = {"source": "video", "videos": len(videos), **record}
    if run.workers is None or run.workers > 1:  # one process per core; one superpixel thread each
        opts = replace(opts, segmenter=replace(opts.segmenter, threads=1))
    return Job(
        videos, partial(process_videos, opts=opts), "probability", config, extra, chunk_size=1
    )
