"""`focusgan prepare video PATH... --out FILE.h5`: 4-channel samples whose focus channel comes
from motion (DESIGN section 3, "Video").

Per video (a file OpenCV decodes, or a folder of frames): shots by PySceneDetect; shots shorter
than `--min-shot` frames are skipped ("shot shorter than N frames"); `--frames-per-shot` evenly
spaced frames of each shot become candidates. Their masks come from exactly the segmentation
that `focusgan segment` writes and `bench-motion` measures: the shot is cut into consecutive
pieces of at most `--segment-frames` frames (`split_evenly`, as `segment_stream` does with
`--chunk`) and each piece holding a candidate is segmented whole (`focusgan.video.segment`);
pieces without a candidate are not segmented. Each candidate's soft mask goes
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
from focusgan.video.segment import CHUNK, SegmentParams, segment_frames, split_evenly


@dataclass(frozen=True)
class VideoOptions:
    """Everything that decides a video dataset's samples (recorded in the resume fingerprint)."""

    size: int = 64
    fit: str = "squash"
    channels: int = 4
    min_shot: int = 10
    segment_frames: int = CHUNK  # consecutive frames segmented together (segment's --chunk)
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


def segmenter_options(params: SegmentParams) -> dict:
    """The segmenter settings the command line can change, as `VideoOptions.segmenter`."""
    return {
        "work_side": params.work_side,
        "flow_side": params.flow_side,
        "n_segments": params.n_segments,
        "colour_weight": params.colour_weight,
        "colour_adaptive": params.colour_adaptive,
        "threads": params.threads,
        "refine": params.refine,
        "saliency.mode": params.saliency.mode,
        "saliency.inside": params.saliency.inside,
        "decision": params.decision,
        "voting.iterations": params.voting.iterations,
    }


def davis_prepare_scores(
    folder: str | Path, annotations: np.ndarray, opts: VideoOptions, out: Path
) -> dict:
    """Run `prepare_video` on one folder of frames with every frame a candidate and score the
    stored masks: IoU at 0.5 against the ground truth (T, H, W) bool brought to the same size
    by the same `to_square`; mean over the stored frames without the sequence's first and
    last (as DAVIS's J). Returns J, the frames scored and the seconds `prepare_video` took."""
    import time

    from focusgan.data.dataset import load_images, read_metadata
    from focusgan.video.davis import iou

    start = time.perf_counter()
    prepare_video([folder], out, opts=opts, workers=1, progress=False)
    seconds = time.perf_counter() - start
    images, frames = load_images(out), read_metadata(out, "frame")
    last = len(annotations) - 1
    scores = []
    for image, f in zip(images, frames, strict=True):
        if 0 < f < last:
            gt = (annotations[f] * np.uint8(255)).astype(np.uint8)
            rgb = np.zeros((*gt.shape, 3), np.uint8)
            truth = to_square(rgb, opts.size, opts.fit, mask=gt)[..., 3] > 127
            scores.append(iou(image[..., 3] > 127, truth))
    return {
        "J": float(np.mean(scores)) if scores else 0.0,
        "frames": len(scores),
        "seconds": seconds,
    }


def evenly(n: int, k: int) -> list[int]:
    """k (or n if fewer) evenly spaced indices of 0..n-1, ends included."""
    if n <= k:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, k).round().astype(int).tolist()))


def shot_samples(
    shot: list, opts: VideoOptions, params: SegmentParams, summary: FilterSummary
) -> tuple[list[np.ndarray], list[int], list[float]]:
    """Segment one shot where it has candidates; its kept samples, frame indices and
    foreground fractions."""
    if len(shot) < opts.min_shot:
        summary.skip(f"shot shorter than {opts.min_shot} frames")
        return [], [], []
    wanted = evenly(len(shot), opts.frames_per_shot)
    masks = {}  # a frame's own flows may miss a small fast object; the votes of the piece's
    # other frames still give its mask (as `segment` writes it), so frames are not dropped alone
    for a, b in split_evenly(len(shot), opts.segment_frames):
        inside = [i for i in wanted if a <= i < b]
        if not inside:
            continue
        if b - a < 2:  # a one-frame piece has no flow (as `segment_stream`)
            continue
        seg = segment_frames(np.stack([f.rgb for f in shot[a:b]]), params)
        if seg.motion_frames == 0:
            continue  # no flow of the piece shows motion: its masks are empty
        for i in inside:
            masks[i] = seg.masks[i - a]
    if not masks:
        summary.skip("no motion in shot")
        return [], [], []
    samples, frames, fgs = [], [], []
    for i in wanted:
        if i not in masks:
            summary.reject("no motion in piece")
            continue
        mask = (masks[i] * 255).round().astype(np.uint8)
        reason = opts.filter.check(mask)
        if reason is not None:
            summary.reject(reason)
            continue
        sample = to_square(shot[i].rgb, opts.size, opts.fit, mask=mask)
        if opts.channels == 3:
            sample = np.ascontiguousarray(sample[..., :3])
        samples.append(sample)
        frames.append(shot[i].index)
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
                if shape is None:
                    shape = shot[0].rgb.shape
                if any(f.rgb.shape != shape for f in shot):
                    raise BadVideo(path, "frames differ in size")
                s, fr, fg = shot_samples(shot, opts, params, summary)
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
        help="consecutive frames of a shot segmented together, as segment's --chunk "
        f"(default {d.segment_frames})",
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
    segmenter = segmenter_options(params)
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
