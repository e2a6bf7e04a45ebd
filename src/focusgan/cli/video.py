"""Sub-commands `segment` (soft motion masks for one video) and `bench-motion` (DAVIS J and F,
synthetic videos, frames/s). The segmenter's options are `SegmenterOptions`' fields."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from focusgan.cli.options import add_options, from_args
from focusgan.errors import UserError
from focusgan.video.options import SegmenterOptions
from focusgan.video.segment import CHUNK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment",
        help="soft motion masks (8-bit PNGs) and an overlay video for "
        "one video file or folder of frames",
    )
    p.add_argument("video", type=Path, help="a video file or a folder of frames")
    p.add_argument("--out", type=Path, required=True, help="folder for the masks and the overlay")
    p.add_argument(
        "--chunk",
        type=int,
        default=CHUNK,
        help=f"segment long shots in pieces of at most this many frames (default {CHUNK})",
    )
    p.add_argument("--no-overlay", action="store_true", help="do not write overlay.mp4")
    add_options(p, SegmenterOptions, title="segmenter")
    p.set_defaults(func=_segment)

    p = sub.add_parser(
        "bench-motion",
        help="measure the motion segmenter: DAVIS J and F, synthetic videos, frames/s",
    )
    p.add_argument(
        "--davis",
        type=Path,
        default=None,
        help="a DAVIS root (JPEGImages/480p/<seq>, Annotations/480p/<seq>)",
    )
    p.add_argument("--sequences", nargs="+", default=None, help="DAVIS sequences (default all)")
    p.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="also score N seeded synthetic videos (240x320, static and panning shots)",
    )
    p.add_argument(
        "--synthetic-seed",
        type=int,
        default=0,
        metavar="S",
        help="seeds of the synthetic videos: S .. S+N-1 (default 0)",
    )
    p.add_argument(
        "--synthetic-shots",
        default="20,16,24",
        metavar="L,L,..",
        help="frames of each shot of a synthetic video, hard cuts between (default 20,16,24)",
    )
    p.add_argument(
        "--prepare",
        action="store_true",
        help="with --davis: also run `prepare video` on each sequence (frame filters off, every "
        "frame a candidate) and score its stored 64x64 masks against the ground truth squared "
        "the same way",
    )
    p.add_argument(
        "--chunk",
        type=int,
        default=CHUNK,
        help=f"as segment's: shots segmented in pieces of at most this many frames (default {CHUNK})",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the numbers to this file")
    add_options(p, SegmenterOptions, title="segmenter")
    p.set_defaults(func=_bench)


def _segment(args: argparse.Namespace) -> int:
    from focusgan.video.export import segment_video

    params = from_args(SegmenterOptions, args).params()
    line = segment_video(
        args.video, args.out, params, chunk=args.chunk, overlay_video=not args.no_overlay
    )
    print(line)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from focusgan.utils.atomic import atomic_path
    from focusgan.video.bench import bench_motion

    try:
        shots = tuple(int(x) for x in args.synthetic_shots.split(","))
    except ValueError:
        raise UserError(
            f"--synthetic-shots wants frame counts of at least 2, like 20,16,24; "
            f"got {args.synthetic_shots!r}"
        ) from None
    if args.prepare and args.davis is None:
        raise UserError("--prepare scores DAVIS sequences: give --davis DIR too")
    segmenter = from_args(SegmenterOptions, args)
    result, lines = bench_motion(
        segmenter,
        args.davis,
        args.sequences,
        args.synthetic,
        args.synthetic_seed,
        shots,
        args.chunk,
    )
    print("\n".join(lines), flush=True)
    if args.prepare:
        from focusgan.prepare.video import bench_prepare

        result["prepare"], lines = bench_prepare(
            args.davis, result["davis"]["sequences"], segmenter, args.chunk
        )
        print("\n".join(lines))
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    return 0
