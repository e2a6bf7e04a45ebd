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

import argparse
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from focusgan.errors import UserError
from focusgan.prepare.filters import (
    THESIS_FRAME_FILTER,
    FilterSummary,
    MaskFilter,
    add_mask_filter_options,
)
from focusgan.prepare.pipeline import ChunkResult
from focusgan.prepare.transform import FITS, to_square
from focusgan.video.io import BadVideo, find_videos, iter_frames, video_fps
from focusgan.video.segment import SegmentParams, segment_frames, split_evenly


@dataclass(frozen=True)
class VideoOptions:
    """Everything that decides a video dataset's samples (recorded in the resume fingerprint)."""

    size: int = 64
    fit: str = "squash"
    channels: int = 4
    min_shot: int = 10
    segment_frames: int = 30
    frames_per_shot: int = 8
    max_side: int = 640  # frames are kept at most this large before squaring
    cut_threshold: float = 27.0
    min_fg: float | None = THESIS_FRAME_FILTER.min_fg
    max_fg: float | None = THESIS_FRAME_FILTER.max_fg
    border: float = THESIS_FRAME_FILTER.border
    max_border_fg: float | None = THESIS_FRAME_FILTER.max_border_fg
    segmenter: dict = field(default_factory=dict, hash=False)

    @property
    def filter(self) -> MaskFilter:
        return MaskFilter(self.min_fg, self.max_fg, self.border, self.max_border_fg)

    def params(self) -> SegmentParams:
        p = SegmentParams()
        for k, v in self.segmenter.items():
            if k.startswith("saliency."):
                setattr(p.saliency, k.split(".", 1)[1], v)
            elif k.startswith("voting."):
                setattr(p.voting, k.split(".", 1)[1], v)
            else:
                setattr(p, k, v)
        return p


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
    params = opts.params()
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
    s, c = opts.size, opts.channels
    images = np.stack(samples) if samples else np.zeros((0, s, s, c), np.uint8)
    return ChunkResult(images, {k: np.asarray(v) for k, v in meta.items()}, summary, len(chunk))


def prepare_video(
    paths: list[str | Path],
    out: str | Path,
    *,
    opts: VideoOptions | None = None,
    workers: int | None = None,
    shard: tuple[int, int] | None = None,
    classifier=None,
    progress: bool = True,
):
    """Write a dataset from videos (see the module docstring); returns a `PrepareReport`."""
    from focusgan.prepare.pipeline import prepare_dataset

    opts = opts or VideoOptions()
    if opts.fit not in FITS:
        raise UserError(f"--fit must be one of {', '.join(FITS)}, not {opts.fit!r}")
    opts.filter.validate()
    if opts.size < 8 or opts.min_shot < 2 or opts.frames_per_shot < 1 or opts.segment_frames < 2:
        raise UserError(
            "need --size >= 8, --min-shot >= 2, --frames-per-shot >= 1, --segment-frames >= 2"
        )
    videos = [str(p) for p in find_videos(paths)]
    if not videos:
        raise UserError("no videos or folders of frames found in the given paths")
    config = {"source": "video", **asdict(opts), "videos": [str(Path(v).resolve()) for v in videos]}
    extra = {"source": "video", "videos": len(videos), **asdict(opts)}
    postprocess = None
    if classifier is not None:
        config["classifier"] = extra["classifier"] = classifier.config()
        postprocess = classifier
    if workers is None or workers > 1:  # one process per core; one superpixel thread each
        opts = VideoOptions(**{**asdict(opts), "segmenter": {**opts.segmenter, "threads": 1}})
    return prepare_dataset(
        videos,
        partial(process_videos, opts=opts),
        out,
        resolution=opts.size,
        channels=opts.channels,
        mask_semantics="probability",
        config=config,
        workers=workers,
        shard=shard,
        chunk_size=1,
        extra=extra,
        postprocess=postprocess,
        progress=progress,
        desc="prepare video",
    )


def register_prepare(sources: argparse._SubParsersAction) -> None:
    from focusgan.prepare.pipeline import add_prepare_options
    from focusgan.video.bench import add_segmenter_options

    d = VideoOptions()
    p = sources.add_parser("video", help="samples from videos, the focus channel from motion")
    p.add_argument(
        "paths",
        nargs="+",
        type=Path,
        help="video files, folders of frames, or folders holding them",
    )
    p.add_argument(
        "--min-shot",
        type=int,
        default=d.min_shot,
        help=f"skip shots shorter than this many frames (default {d.min_shot})",
    )
    p.add_argument(
        "--frames-per-shot",
        type=int,
        default=d.frames_per_shot,
        help=f"candidate samples per shot, evenly spaced (default {d.frames_per_shot})",
    )
    p.add_argument(
        "--segment-frames",
        type=int,
        default=d.segment_frames,
        help=f"frames of a shot segmented together (default {d.segment_frames})",
    )
    p.add_argument(
        "--cut-threshold",
        type=float,
        default=d.cut_threshold,
        help=f"PySceneDetect content threshold for cuts (default {d.cut_threshold:g})",
    )
    add_mask_filter_options(p, THESIS_FRAME_FILTER, "frame filters (default: the thesis's)")
    add_segmenter_options(p)
    add_prepare_options(p)
    p.set_defaults(func=_prepare_video_command)


def _prepare_video_command(args: argparse.Namespace) -> int:
    from focusgan.prepare.pipeline import run_options
    from focusgan.video.bench import segmenter_params

    params = segmenter_params(args)
    segmenter = {
        "work_side": params.work_side,
        "flow_side": params.flow_side,
        "n_segments": params.n_segments,
        "colour_weight": params.colour_weight,
        "colour_adaptive": params.colour_adaptive,
        "threads": params.threads,
        "refine": params.refine,
        "saliency.mode": params.saliency.mode,
        "voting.iterations": params.voting.iterations,
    }
    opts = VideoOptions(
        size=args.size,
        fit=args.fit,
        channels=args.channels,
        min_shot=args.min_shot,
        segment_frames=args.segment_frames,
        frames_per_shot=args.frames_per_shot,
        cut_threshold=args.cut_threshold,
        min_fg=args.min_fg,
        max_fg=args.max_fg,
        border=args.border,
        max_border_fg=args.max_border_fg,
        segmenter=segmenter,
    )
    report = prepare_video(
        args.paths,
        args.out,
        opts=opts,
        **run_options(args),
    )
    for line in report.lines():
        print(line)
    return 0
