"""Motion segmenter speed per stage, and the speed/quality trade-off of its settings.

Run: .venv/bin/python benchmarks/motion.py [--davis ../shared/data/davis]
Prints frames/s per stage (decode, flow, saliency, superpixels, voting = descriptors + k-NN graph
+ consensus voting, colour model + refine) for 854x480 and 320x240 input with the current
defaults and with the previous defaults (`previous_params`, the baseline of the same run), plain baselines
(scikit-image SLIC at its defaults on one thread; scipy's k-d tree k-NN as in the reference
code), and J / F / frames/s / CPU ms per frame on the DAVIS sequences for the working sizes and
for the current defaults with one change each (ablations), next to the mean J over `--synthetic`
seeded synthetic videos (true masks: a check beyond the two DAVIS sequences).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import cKDTree
from skimage.segmentation import slic

from focusgan.video.bench import bench_davis, bench_synthetic
from focusgan.video.io import read_frames, resize_max_side
from focusgan.video.segment import SegmentParams, segment_frames
from focusgan.video.superpixels import slic_sequence
from focusgan.video.voting import VotingParams, region_descriptors

ROOT = Path(__file__).resolve().parents[1]


def frames_for(davis: Path, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """blackswan's frames at `size` (h, w) and the seconds to decode one such JPEG (frames at
    another size are re-encoded as JPEG at that size and decoded again, so decoding is timed at
    the input size)."""
    folder = davis / "JPEGImages" / "480p" / "blackswan"
    t = time.perf_counter()
    frames, _ = read_frames(folder)
    decode = (time.perf_counter() - t) / len(frames)
    if frames.shape[1:3] != size:
        frames = np.stack([cv2.resize(f, size[::-1], interpolation=cv2.INTER_AREA) for f in frames])
        jpegs = [cv2.imencode(".jpg", f)[1] for f in frames]
        t = time.perf_counter()
        for j in jpegs:
            cv2.imdecode(j, cv2.IMREAD_COLOR)
        decode = (time.perf_counter() - t) / len(frames)
    return frames, decode


def previous_params(work_side: int = 256) -> SegmentParams:
    """The segmenter's defaults before the speed/quality pass (commit a37f51b): six flows per
    frame averaged, at the working size, 20 colour bins, SLIC 4 iterations, 50 voting
    iterations over every frame within 15, vote 0.6 -> 0.5, no colour model, no temporal
    smoothing, full guided filter."""
    p = SegmentParams(work_side=work_side, flow_side=0, slic_iterations=4, threshold=0.6, smooth=0)
    p.decision, p.saliency.inside, p.voting.normalise = "fixed", "off", "frame"
    p.colour_weight, p.refine_scale = 0.0, 1
    p.saliency.radius, p.saliency.combine = 3, "mean"
    p.voting.color_bins, p.voting.iterations, p.voting.dense, p.voting.step = 20, 50, 15, 1
    return p


def session2_params() -> SegmentParams:
    """The defaults of session 2 (before issue #10): the fixed 0.5 decision, no inside-outside
    maps, votes rescaled per frame."""
    p = SegmentParams(decision="fixed")
    p.saliency.inside, p.voting.normalise = "off", "frame"
    return p


def ablations() -> list[tuple[str, SegmentParams]]:
    """(label, params): the previous defaults, the current ones at several working sizes, and
    the current defaults at 256 with one change each."""
    rows = [("previous defaults, 256", previous_params())]
    rows += [(f"defaults, work side {s}", SegmentParams(work_side=s)) for s in (160, 192, 256, 320)]
    rows += [
        (f"work and flow side {s}", SegmentParams(work_side=s, flow_side=s)) for s in (160, 320)
    ]

    def changed(label, **kw):
        p = SegmentParams()
        for k, v in kw.items():
            obj = p
            *path, name = k.split("__")
            for part in path:
                obj = getattr(obj, part)
            setattr(obj, name, v)
        rows.append((label, p))

    changed("no colour model", colour_weight=0.0)
    changed("fixed colour weight 0.5 (previous)", colour_adaptive=False)
    changed("fixed colour weight 1/3", colour_weight=1 / 3, colour_adaptive=False)
    changed("no temporal smoothing", smooth=0)
    changed("vote threshold 0.6", threshold=0.6)
    changed("vote threshold Otsu", threshold=0.0)
    changed("flows +-3, averaged (uNLC)", saliency__radius=3, saliency__combine="mean")
    changed("k-NN every frame within 15", voting__dense=15, voting__step=1)
    changed("50 voting iterations", voting__iterations=50)
    return rows


def stages(frames: np.ndarray, decode_s: float, params: SegmentParams) -> None:
    seg = segment_frames(frames, params)
    n = len(frames)
    t = dict(seg.timings)
    per = {
        "decode (JPEG)": decode_s * n,
        "resize": t["resize"],
        "flow": t["flow"],
        "saliency": t["saliency"],
        "superpixels": t["superpixels"],
        "voting": t["descriptors"] + t["graph"] + t["voting"],
        "colour + refine": t.get("colour", 0.0) + t["refine"],
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
    labels = slic_sequence(small, threads=2, n_segments=300, iterations=2)
    ours = (time.perf_counter() - t) / len(small)
    print(
        f"  SLIC 256px: skimage defaults 1 thread {plain * 1000:.1f} ms/frame; "
        f"2 iterations 2 threads {ours * 1000:.1f} ms/frame ({plain / ours:.1f}x)"
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
    ap.add_argument("--no-stages", action="store_true", help="only the trade-off table")
    ap.add_argument("--no-tradeoff", action="store_true", help="only the stages")
    ap.add_argument(
        "--synthetic", type=int, default=4, help="synthetic videos scored per setting (0 = none)"
    )
    args = ap.parse_args()
    if not args.davis.is_dir():
        raise SystemExit(f"no DAVIS data at {args.davis}")
    if not args.no_stages:
        for size in ((480, 854), (240, 320)):
            frames, decode = frames_for(args.davis, size)
            for label, params in (
                ("current", SegmentParams()),
                ("session-2", session2_params()),
                ("previous", previous_params()),
            ):
                print(
                    f"stages, blackswan ({len(frames)} frames) at {size[1]}x{size[0]}, "
                    f"{label} defaults:"
                )
                stages(frames, decode, params)
        print("plain baselines (same run):")
        baselines(frames)
    if args.no_tradeoff:
        return
    print("trade-off (DAVIS, 854x480 JPEG input, frames/s and CPU ms/frame from decoding):")
    print(
        f"  {'setting':<36} {'blackswan J/F':>14} {'car-shadow J/F':>15} {'mean J':>7} "
        f"{'frames/s':>9} {'CPU ms/f':>9} {'synthetic J':>12}"
    )
    for label, params in ablations():
        rows = bench_davis(args.davis, ["blackswan", "car-shadow"], params)
        n = sum(r["frames"] for r in rows)
        cpu = sum(r["cpu_ms_per_frame"] * r["frames"] for r in rows) / n
        fps = n / sum(r["seconds"] for r in rows)
        cells = [f"{100 * r['J']:.1f} / {100 * r['F']:.1f}" for r in rows]
        mean = 100 * np.mean([r["J"] for r in rows])
        synthetic = bench_synthetic(args.synthetic, params) if args.synthetic else []
        syn = f"{100 * np.mean([r['J'] for r in synthetic]):.1f}" if synthetic else "-"
        print(
            f"  {label:<36} {cells[0]:>14} {cells[1]:>15} {mean:7.1f} {fps:9.1f} {cpu:9.0f} "
            f"{syn:>12}",
            flush=True,
        )


if __name__ == "__main__":
    main()
