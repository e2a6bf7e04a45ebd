"""Motion segmenter speed per stage, and the speed/quality trade-off of the working size.

Run: .venv/bin/python benchmarks/motion.py [--davis ../shared/data/davis]
Prints frames/s per stage (decode, flow, saliency, superpixels, voting = descriptors + k-NN graph
+ consensus voting, refine) for 854x480 and 320x240 input, plain baselines measured in the same
run (scikit-image SLIC at its defaults on one thread; scipy's k-d tree k-NN as in the reference
code), and J / F / frames/s on the DAVIS sequences for several working sizes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import cKDTree
from skimage.segmentation import slic

from focusgan.video.cli import bench_davis
from focusgan.video.io import read_frames, resize_max_side
from focusgan.video.segment import SegmentParams, segment_frames
from focusgan.video.superpixels import slic_sequence
from focusgan.video.voting import VotingParams, region_descriptors

ROOT = Path(__file__).resolve().parents[1]


def frames_for(davis: Path, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    folder = davis / "JPEGImages" / "480p" / "blackswan"
    t = time.perf_counter()
    frames, _ = read_frames(folder)
    decode = (time.perf_counter() - t) / len(frames)
    if frames.shape[1:3] != size:
        frames = np.stack([cv2.resize(f, size[::-1], interpolation=cv2.INTER_AREA) for f in frames])
    return frames, decode


def stages(frames: np.ndarray, decode_s: float) -> None:
    seg = segment_frames(frames, SegmentParams())
    n = len(frames)
    t = dict(seg.timings)
    per = {
        "decode (JPEG)": decode_s * n,
        "resize": t["resize"],
        "flow": t["flow"],
        "saliency": t["saliency"],
        "superpixels": t["superpixels"],
        "voting": t["descriptors"] + t["graph"] + t["voting"],
        "refine": t["refine"],
    }
    total = sum(per.values())
    for k, v in per.items():
        print(f"  {k:<16} {v / n * 1000:7.1f} ms/frame  {n / max(v, 1e-9):8.1f} frames/s")
    print(f"  {'total':<16} {total / n * 1000:7.1f} ms/frame  {n / total:8.1f} frames/s")


def baselines(frames: np.ndarray) -> None:
    small = np.stack([resize_max_side(f, 256) for f in frames[:20]])
    t = time.perf_counter()
    for f in small:
        slic(f, n_segments=300, start_label=0)
    plain = (time.perf_counter() - t) / len(small)
    t = time.perf_counter()
    labels = slic_sequence(small, threads=2, n_segments=300, iterations=4)
    ours = (time.perf_counter() - t) / len(small)
    print(
        f"  SLIC 256px: skimage defaults 1 thread {plain * 1000:.1f} ms/frame; "
        f"4 iterations 2 threads {ours * 1000:.1f} ms/frame ({plain / ours:.1f}x)"
    )
    vp = VotingParams()
    desc = np.concatenate(
        [region_descriptors(f, lab, vp) for f, lab in zip(small, labels, strict=False)]
    )
    q = desc[: len(desc) // len(small)]
    t = time.perf_counter()
    cKDTree(desc).query(q, vp.neighbours + 1)
    tree = time.perf_counter() - t
    t = time.perf_counter()
    d2 = (q * q).sum(1)[:, None] + (desc * desc).sum(1)[None] - 2 * q @ desc.T
    np.argpartition(d2, vp.neighbours, axis=1)[:, : vp.neighbours + 1]
    brute = time.perf_counter() - t
    print(
        f"  k-NN of one frame's {len(q)} regions among {len(desc)} ({desc.shape[1]} dims): "
        f"k-d tree (build + query) {tree * 1000:.1f} ms, float32 brute force "
        f"{brute * 1000:.1f} ms ({tree / brute:.1f}x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--davis", type=Path, default=ROOT.parent / "shared" / "data" / "davis")
    ap.add_argument("--work-sides", type=int, nargs="+", default=[160, 256, 320])
    args = ap.parse_args()
    if not args.davis.is_dir():
        raise SystemExit(f"no DAVIS data at {args.davis}")
    for size in ((480, 854), (240, 320)):
        frames, decode = frames_for(args.davis, size)
        print(
            f"stages, blackswan ({len(frames)} frames) at {size[1]}x{size[0]} input, "
            "working side 256:"
        )
        stages(frames, decode)
    print("plain baselines (same run):")
    baselines(frames_for(args.davis, (480, 854))[0])
    print("working size trade-off (DAVIS, 854x480 input, frames/s from decoding):")
    print(f"  {'work side':>9} {'sequence':<12} {'J':>6} {'F':>6} {'frames/s':>9}")
    for side in args.work_sides:
        for row in bench_davis(args.davis, None, SegmentParams(work_side=side)):
            print(
                f"  {side:>9} {row['sequence']:<12} {100 * row['J']:6.1f} "
                f"{100 * row['F']:6.1f} {row['fps']:9.1f}"
            )


if __name__ == "__main__":
    main()
