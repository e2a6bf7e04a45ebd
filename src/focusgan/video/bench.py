"""Sub-commands `segment` (soft motion masks for one video) and `bench-motion` (DAVIS J and F,
synthetic videos, frames/s)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from focusgan.errors import UserError
from focusgan.utils.atomic import atomic_path
from focusgan.video.saliency import MODES
from focusgan.video.segment import SegmentParams


def add_segmenter_options(p: argparse.ArgumentParser) -> None:
    """Options of the segmenter, shared by `segment`, `bench-motion` and `prepare video`."""
    d = SegmentParams()
    g = p.add_argument_group("segmenter")
    g.add_argument(
        "--work-side",
        type=int,
        default=d.work_side,
        help=f"longer side of the frames the segmenter works on (default {d.work_side})",
    )
    g.add_argument(
        "--flow-side",
        type=int,
        default=d.flow_side,
        help=f"longer side of the frames optical flow works on (default {d.flow_side}; "
        "0 = the working side)",
    )
    g.add_argument(
        "--superpixels",
        type=int,
        default=d.n_segments,
        help=f"SLIC superpixels per frame (default {d.n_segments})",
    )
    g.add_argument(
        "--saliency",
        choices=MODES,
        default=d.saliency.mode,
        help="motion saliency: uNLC's two cases, or the residual of a RANSAC camera-"
        f"motion fit (default {d.saliency.mode})",
    )
    g.add_argument(
        "--iterations",
        type=int,
        default=d.voting.iterations,
        help=f"consensus-voting iterations (default {d.voting.iterations})",
    )
    g.add_argument(
        "--colour-weight",
        type=float,
        default=d.colour_weight,
        help="largest weight of the per-shot colour model against the motion votes, 0..1 "
        "(0 = off); lowered where the object's and background's colours overlap "
        f"(default {d.colour_weight})",
    )
    g.add_argument(
        "--fixed-colour-weight",
        action="store_true",
        help="use --colour-weight as it is, even where colour separates object and background "
        "poorly",
    )
    g.add_argument("--no-refine", action="store_true", help="skip the guided-filter refinement")
    g.add_argument(
        "--threads",
        type=int,
        default=d.threads,
        help=f"threads for superpixels (default {d.threads})",
    )


def segmenter_params(args: argparse.Namespace) -> SegmentParams:
    p = SegmentParams()
    if (
        args.work_side < 32
        or not (args.flow_side == 0 or args.flow_side >= 32)
        or args.superpixels < 8
        or args.iterations < 0
        or args.threads < 1
    ):
        raise UserError(
            "--work-side must be >= 32, --flow-side >= 32 (or 0), --superpixels >= 8, "
            "--iterations >= 0, --threads >= 1"
        )
    if not 0 <= args.colour_weight <= 1:
        raise UserError("--colour-weight must be between 0 and 1")
    p.work_side, p.n_segments, p.threads = args.work_side, args.superpixels, args.threads
    p.colour_weight, p.flow_side = args.colour_weight, args.flow_side
    p.colour_adaptive = not args.fixed_colour_weight
    p.saliency.mode = args.saliency
    p.voting.iterations = args.iterations
    p.refine = not args.no_refine
    return p


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
        default=60,
        help="segment long shots in pieces of at most this many frames (default 60)",
    )
    p.add_argument("--no-overlay", action="store_true", help="do not write overlay.mp4")
    add_segmenter_options(p)
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
    p.add_argument("--json", type=Path, default=None, help="also write the numbers to this file")
    add_segmenter_options(p)
    p.set_defaults(func=_bench)


def overlay(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The frame with the background darkened and the foreground tinted, plus the 0.5 contour."""
    m = mask.astype(np.float32)[..., None]
    tint = np.array([255, 64, 64], np.float32)
    out = rgb * (0.35 + 0.65 * m) * (1 - 0.3 * m) + tint * 0.3 * m
    out = np.clip(out, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(
        (mask > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    cv2.drawContours(out, contours, -1, (255, 255, 0), 1)
    return out


def write_png(path: Path, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        ok, data = cv2.imencode(".png", image)
        if not ok:
            raise UserError(f"cannot encode {path}")
        tmp.write_bytes(data.tobytes())


def _segment(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from focusgan.video.io import iter_frames, video_fps
    from focusgan.video.segment import segment_stream

    params = segmenter_params(args)
    if not args.video.exists():
        raise UserError(f"no such video or folder: {args.video}")
    args.out.mkdir(parents=True, exist_ok=True)
    fps = video_fps(args.video)
    writer = None
    overlay_path = args.out / "overlay.mp4"
    tmp_overlay = overlay_path.with_name("overlay.partial.mp4")
    n = unsegmented = 0
    start = time.perf_counter()
    try:
        stream = segment_stream(iter_frames(args.video), params, chunk=args.chunk, fps=fps)
        for frame, mask, _ in tqdm(stream, desc="segment", unit="frame"):
            if mask is None:
                mask = np.zeros(frame.rgb.shape[:2], np.float32)
                unsegmented += 1
            write_png(args.out / f"{frame.name}.png", (mask * 255).round().astype(np.uint8))
            if not args.no_overlay:
                if writer is None:
                    h, w = frame.rgb.shape[:2]
                    writer = cv2.VideoWriter(
                        str(tmp_overlay), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h)
                    )
                writer.write(cv2.cvtColor(overlay(frame.rgb, mask), cv2.COLOR_RGB2BGR))
            n += 1
    except BaseException:
        if writer is not None:
            writer.release()
            tmp_overlay.unlink(missing_ok=True)
        raise
    if writer is not None:
        writer.release()
        tmp_overlay.replace(overlay_path)
    elapsed = time.perf_counter() - start
    note = f" ({unsegmented} single-frame shots left empty)" if unsegmented else ""
    print(
        f"wrote {n} masks to {args.out}{note}"
        + ("" if args.no_overlay else f" and {overlay_path.name}")
        + f" in {elapsed:.1f} s ({n / max(elapsed, 1e-9):.1f} frames/s)"
    )
    return 0


def bench_davis(root: Path, sequences: list[str] | None, params: SegmentParams) -> list[dict]:
    """Segment each DAVIS sequence (no ground truth given) and score it; timed from decoding."""
    from focusgan.video.davis import davis_paths, davis_sequences, read_annotations, sequence_scores
    from focusgan.video.io import read_frames
    from focusgan.video.segment import segment_frames

    names = sequences or davis_sequences(root)
    if not names:
        raise UserError(f"no DAVIS sequences under {root}")
    rows = []
    for name in names:
        frames_dir, ann_dir = davis_paths(root, name)
        start, cpu = time.perf_counter(), time.process_time()
        frames, _ = read_frames(frames_dir)
        seg = segment_frames(frames, params)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        gt = read_annotations(ann_dir)
        if gt.shape != seg.masks.shape:
            raise UserError(f"{name}: {len(gt)} annotations for {len(frames)} frames")
        scores = sequence_scores(seg.masks > 0.5, gt)
        rows.append(
            {
                "sequence": name,
                "J": scores["J"],
                "F": scores["F"],
                "frames": len(frames),
                "size": f"{frames.shape[2]}x{frames.shape[1]}",
                "seconds": elapsed,
                "fps": len(frames) / elapsed,
                "cpu_ms_per_frame": 1000 * cpu / len(frames),
                "colour_weight": seg.colour_weight,
                "stages": {k: round(v, 3) for k, v in seg.timings.items()},
            }
        )
    return rows


def bench_synthetic(
    n: int,
    params: SegmentParams,
    size: tuple[int, int] = (240, 320),
    seed: int = 0,
    shots: tuple[int, ...] = (20, 16, 24),
) -> list[dict]:
    """Score the segmenter on `n` seeded synthetic videos (seeds `seed` ..; shots of `shots`
    frames, cuts detected), next to the trivial baseline: a centred box covering a quarter of
    the frame."""
    from focusgan.video.davis import sequence_scores
    from focusgan.video.io import Frame
    from focusgan.video.segment import segment_stream
    from focusgan.video.synthetic import make_video

    rows = []
    for video_seed in range(seed, seed + n):
        v = make_video(video_seed, size=size, shot_lengths=shots)
        start = time.perf_counter()
        masks = [
            m
            for _, m, _ in segment_stream(
                (Frame(i, f"{i:05d}", f) for i, f in enumerate(v.frames)), params
            )
        ]
        elapsed = time.perf_counter() - start
        pred = np.stack([m if m is not None else np.zeros(size, np.float32) for m in masks]) > 0.5
        gt = v.masks > 127
        box = np.zeros_like(gt)
        h, w = size
        box[:, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True
        s = sequence_scores(pred, gt, all_frames=True)
        b = sequence_scores(box, gt, all_frames=True)
        rows.append(
            {
                "sequence": f"synthetic-{video_seed}",
                "J": s["J"],
                "F": s["F"],
                "box_J": b["J"],
                "box_F": b["F"],
                "frames": len(v.frames),
                "size": f"{w}x{h}",
                "seconds": elapsed,
                "fps": len(v.frames) / elapsed,
                "shots": [x["camera"] for x in v.shots],
            }
        )
    return rows


def _table(rows: list[dict], extra: bool = False) -> list[str]:
    head = f"{'sequence':<16} {'frames':>6} {'size':>8} {'J':>6} {'F':>6}"
    head += f" {'box J':>6} {'box F':>6}" if extra else ""
    lines = [head + f" {'frames/s':>9}"]
    for r in rows:
        line = (
            f"{r['sequence']:<16} {r['frames']:>6} {r['size']:>8} {100 * r['J']:6.1f} "
            f"{100 * r['F']:6.1f}"
        )
        line += f" {100 * r['box_J']:6.1f} {100 * r['box_F']:6.1f}" if extra else ""
        lines.append(line + f" {r['fps']:9.1f}")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("J", "F")}
    fps = sum(r["frames"] for r in rows) / sum(r["seconds"] for r in rows)
    line = (
        f"{'mean':<16} {sum(r['frames'] for r in rows):>6} {'':>8} {100 * mean['J']:6.1f} "
        f"{100 * mean['F']:6.1f}"
    )
    if extra:
        line += (
            f" {100 * np.mean([r['box_J'] for r in rows]):6.1f} "
            f"{100 * np.mean([r['box_F'] for r in rows]):6.1f}"
        )
    lines.append(line + f" {fps:9.1f}")
    return lines


def _summary(rows: list[dict]) -> dict:
    return {
        "J": float(np.mean([r["J"] for r in rows])),
        "F": float(np.mean([r["F"] for r in rows])),
        "fps": sum(r["frames"] for r in rows) / sum(r["seconds"] for r in rows),
    }


def _bench(args: argparse.Namespace) -> int:
    if args.davis is None and not args.synthetic:
        raise UserError("give --davis DIR and/or --synthetic N")
    try:
        synthetic_shots = tuple(int(x) for x in args.synthetic_shots.split(","))
    except ValueError:
        synthetic_shots = ()
    if not synthetic_shots or min(synthetic_shots) < 2:
        raise UserError(
            f"--synthetic-shots wants frame counts of at least 2, like 20,16,24; "
            f"got {args.synthetic_shots!r}"
        )
    params = segmenter_params(args)
    result: dict = {
        "params": {
            "work_side": params.work_side,
            "flow_side": params.flow_side,
            "superpixels": params.n_segments,
            "saliency": params.saliency.mode,
            "iterations": params.voting.iterations,
            "refine": params.refine,
            "colour_weight": params.colour_weight,
            "colour_adaptive": params.colour_adaptive,
            "threads": params.threads,
        },
        "measures": "J = IoU at 0.5, F = DAVIS boundary F (tolerance ceil(0.008 x "
        "diagonal)); DAVIS means skip the first and last frame",
    }
    if args.davis is not None:
        rows = bench_davis(args.davis, args.sequences, params)
        print("DAVIS (J, F x100; frames/s from decoding to masks at input size)")
        print("\n".join(_table(rows)))
        result["davis"] = {"sequences": rows, "mean": _summary(rows)}
    if args.synthetic:
        rows = bench_synthetic(
            args.synthetic, params, seed=args.synthetic_seed, shots=synthetic_shots
        )
        print(
            "synthetic videos (box = centred box of a quarter of the frame, the trivial baseline)"
        )
        print("\n".join(_table(rows, extra=True)))
        result["synthetic"] = {
            "seeds": [args.synthetic_seed, args.synthetic_seed + args.synthetic - 1],
            "shots": list(synthetic_shots),
            "videos": rows,
            "mean": _summary(rows),
        }
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    return 0
