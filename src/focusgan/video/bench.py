"""The motion segmenter's benchmark harness (`focusgan bench-motion`): DAVIS J and F, seeded
synthetic videos with true masks, frames/s."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from focusgan.errors import UserError
from focusgan.video.options import SegmenterOptions
from focusgan.video.segment import CHUNK, SegmentParams


@dataclass
class SequenceMasks:
    """One video segmented as `segment` does it (`segment_pieces`)."""

    masks: np.ndarray  # (T, H, W) float32; zeros for a one-frame piece
    pieces: list[tuple[int, int]]  # (start, end) of each piece segmented together
    timings: dict[str, float]  # seconds per stage, summed over the pieces
    colour_weight: float  # colour model's exponent, mean over the frames


def segment_sequence(
    path: Path, params: SegmentParams, chunk: int = CHUNK, frames: list | None = None
) -> SequenceMasks:
    """Segment a video file or folder of frames exactly as `focusgan segment` does (shots,
    pieces of at most `chunk` frames, the frames' own size): the instrument of `bench-motion`
    and `benchmarks/motion_cv.py`. `frames` (io.Frame, already read) skips the decoding."""
    from focusgan.video.io import iter_frames
    from focusgan.video.segment import segment_pieces

    masks, pieces, timings, weights = [], [], {}, []
    for piece, seg in segment_pieces(
        iter_frames(path) if frames is None else frames, params, chunk
    ):
        start = len(masks)
        pieces.append((start, start + len(piece)))
        if seg is None:
            masks += [np.zeros(f.rgb.shape[:2], np.float32) for f in piece]
            continue
        masks += list(seg.masks)
        weights += [seg.colour_weight] * len(piece)
        for k, v in seg.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    shapes = {m.shape for m in masks}
    if len(shapes) > 1:
        raise UserError(f"{path}: frames differ in size {sorted(shapes)[:3]}; cannot score")
    weight = float(np.mean(weights)) if weights else 0.0
    return SequenceMasks(np.stack(masks), pieces, timings, weight)


def bench_davis(
    root: Path, sequences: list[str] | None, params: SegmentParams, chunk: int = CHUNK
) -> list[dict]:
    """Segment each DAVIS sequence as `segment` does (no ground truth given) and score it;
    timed from decoding."""
    from focusgan.video.davis import davis_paths, davis_sequences, read_annotations, sequence_scores

    names = sequences or davis_sequences(root)
    if not names:
        raise UserError(f"no DAVIS sequences under {root}")
    rows = []
    for name in names:
        frames_dir, ann_dir = davis_paths(root, name)
        start, cpu = time.perf_counter(), time.process_time()
        seg = segment_sequence(frames_dir, params, chunk)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        gt = read_annotations(ann_dir)
        if gt.shape != seg.masks.shape:
            raise UserError(f"{name}: {len(gt)} annotations for {len(seg.masks)} frames")
        scores = sequence_scores(seg.masks > 0.5, gt)
        box = sequence_scores(centre_box(gt.shape), gt)
        n = len(seg.masks)
        rows.append(
            {
                "sequence": name,
                "J": scores["J"],
                "F": scores["F"],
                "box_J": box["J"],
                "box_F": box["F"],
                "frames": n,
                "size": f"{gt.shape[2]}x{gt.shape[1]}",
                "pieces": seg.pieces,
                "seconds": elapsed,
                "fps": n / elapsed,
                "cpu_ms_per_frame": 1000 * cpu / n,
                "colour_weight": seg.colour_weight,
                "stages": {k: round(v, 3) for k, v in seg.timings.items()},
            }
        )
    return rows


def centre_box(shape: tuple[int, ...]) -> np.ndarray:
    """The trivial baseline: masks (..., H, W) that are a centred box covering a quarter of
    each frame (half its height and width)."""
    box = np.zeros(shape, bool)
    h, w = shape[-2:]
    box[..., h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True
    return box


def bench_synthetic(
    n: int,
    params: SegmentParams,
    size: tuple[int, int] = (240, 320),
    seed: int = 0,
    shots: tuple[int, ...] = (20, 16, 24),
    chunk: int = CHUNK,
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
                (Frame(i, f"{i:05d}", f) for i, f in enumerate(v.frames)), params, chunk
            )
        ]
        elapsed = time.perf_counter() - start
        pred = np.stack([m if m is not None else np.zeros(size, np.float32) for m in masks]) > 0.5
        gt = v.masks > 127
        s = sequence_scores(pred, gt, all_frames=True)
        b = sequence_scores(centre_box(gt.shape), gt, all_frames=True)
        rows.append(
            {
                "sequence": f"synthetic-{video_seed}",
                "J": s["J"],
                "F": s["F"],
                "box_J": b["J"],
                "box_F": b["F"],
                "frames": len(v.frames),
                "size": f"{size[1]}x{size[0]}",
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


def bench_motion(
    opts: SegmenterOptions,
    davis: Path | None = None,
    sequences: list[str] | None = None,
    synthetic: int = 0,
    synthetic_seed: int = 0,
    synthetic_shots: tuple[int, ...] = (20, 16, 24),
    chunk: int = CHUNK,
) -> tuple[dict, list[str]]:
    """Measure the segmenter on DAVIS sequences and/or `synthetic` generated videos; returns
    the numbers (as `--json` writes them) and the tables to print."""
    from dataclasses import asdict

    if davis is None and not synthetic:
        raise UserError("give --davis DIR and/or --synthetic N")
    if not synthetic_shots or min(synthetic_shots) < 2:
        raise UserError(
            f"--synthetic-shots wants frame counts of at least 2, like 20,16,24; "
            f"got {','.join(map(str, synthetic_shots))!r}"
        )
    if chunk < 2:
        raise UserError(f"--chunk must be >= 2 (frames segmented together), got {chunk}")
    params = opts.params()
    result: dict = {
        "params": asdict(opts),
        "chunk": chunk,
        "measures": "J = IoU at 0.5, F = DAVIS boundary F (disk(ceil(0.008 x diagonal)) as "
        "davis2017-evaluation); DAVIS means skip the first and last frame",
    }
    lines: list[str] = []
    if davis is not None:
        rows = bench_davis(davis, sequences, params, chunk)
        lines.append(
            f"DAVIS (J, F x100; as `segment`: shots, pieces of at most {chunk} frames; box = "
            "centred box of a quarter of the frame, the trivial baseline; frames/s from decoding "
            "to masks at input size)"
        )
        lines += _table(rows, extra=True)
        result["davis"] = {"sequences": rows, "mean": _summary(rows)}
    if synthetic:
        rows = bench_synthetic(
            synthetic, params, seed=synthetic_seed, shots=synthetic_shots, chunk=chunk
        )
        lines.append(
            "synthetic videos (box = centred box of a quarter of the frame, the trivial baseline)"
        )
        lines += _table(rows, extra=True)
        result["synthetic"] = {
            "seeds": [synthetic_seed, synthetic_seed + synthetic - 1],
            "shots": list(synthetic_shots),
            "videos": rows,
            "mean": _summary(rows),
        }
    return result, lines
