"""Benchmark `prepare video` on a long 720p clip: source frames/s per core, against decoding.

The clip is assembled from real frames: every DAVIS sequence under `--davis`, enlarged to
1280x720 and played forwards then backwards until it lasts about `--seconds` / (number of
sequences) (so each sequence is one long shot, as in a real video), with hard cuts between
sequences, written once as an MPEG-4 file under /tmp at 25 frames/s. Measured in one run, one
process with one thread (OMP_NUM_THREADS=1, OpenCV one thread, segmenter threads 1):
1. the plain baseline: decoding every frame of the clip with OpenCV (`cv2.VideoCapture`);
2. `prepare_video` on the clip (thesis frame filters, 8 candidates per shot, as shipped).
Figures are source frames per second of CPU time (per core) and of wall time.

Run: `python benchmarks/prepare_video.py [--seconds 120] [--davis ../shared/data/davis]`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from focusgan.prepare.pipeline import RunOptions, prepare  # noqa: E402
from focusgan.prepare.video import VideoOptions  # noqa: E402
from focusgan.video.davis import davis_sequences  # noqa: E402
from focusgan.video.io import read_frames  # noqa: E402
from focusgan.video.options import SegmenterOptions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def make_clip(davis: Path, seconds: float, out: Path, size=(1280, 720), fps: int = 25) -> int:
    """Write the long clip (see the module docstring); returns its number of frames."""
    names = davis_sequences(davis)
    per_shot = int(seconds * fps / len(names))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    n = 0
    for name in names:
        frames, _ = read_frames(davis / "JPEGImages" / "480p" / name)
        order = np.concatenate([np.arange(len(frames)), np.arange(len(frames) - 2, 0, -1)])
        for i in np.resize(order, per_shot):
            big = cv2.resize(frames[i], size, interpolation=cv2.INTER_LINEAR)
            writer.write(cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
            n += 1
    writer.release()
    return n


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def decode_all(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--davis", type=Path, default=ROOT.parent / "shared" / "data" / "davis")
    ap.add_argument("--seconds", type=float, default=120.0, help="length of the clip")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "long-720p.mp4"
        frames = make_clip(args.davis, args.seconds, clip)
        print(
            f"clip: {frames} frames of 1280x720 at 25 frames/s ({frames / 25:.0f} s), one shot per"
        )
        print(f"DAVIS sequence ({len(davis_sequences(args.davis))}), hard cuts between shots")
        n, wall, cpu = timed(lambda: decode_all(clip))
        print(f"  decode only (baseline): {n / cpu:7.1f} frames/s per core ({n / wall:.1f} wall)")
        opts = VideoOptions(paths=[clip], segmenter=SegmenterOptions(threads=1))
        run = RunOptions(workers=0, progress=False)
        report, wall, cpu = timed(lambda: prepare(opts, Path(tmp) / "out.h5", run=run))
        print(f"  prepare video:          {n / cpu:7.1f} frames/s per core ({n / wall:.1f} wall)")
        for line in report.lines():
            print("   ", line)


if __name__ == "__main__":
    main()
