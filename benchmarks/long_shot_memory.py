"""Peak memory of `focusgan segment` and `focusgan prepare video` on one long shot.

The clip: one DAVIS sequence (`--sequence`) enlarged to 1280x720 and played forwards then
backwards for `--seconds` at 25 frames/s, so the whole clip is one shot with no cut (a static
camera's or a talking head's case), written once as MPEG-4 under /tmp. Each command runs in a
child process of its own (one process, OMP_NUM_THREADS=1, segmenter threads 1) on the code under
each `--src` given (default: this checkout's `src`; name another checkout's `src` to compare),
and its peak resident memory (`ru_maxrss`), CPU and wall times are printed.

Run: `python benchmarks/long_shot_memory.py [--seconds 40] [--src A/src B/src]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# the child: run one command, then print its peak resident memory (KiB) and CPU seconds
CHILD = (
    "import resource, sys, time\n"
    "from focusgan.cli import main\n"
    "cpu = time.process_time()\n"
    "rc = main(sys.argv[1:])\n"
    "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "print('RESULT', rc, peak, time.process_time() - cpu)\n"
)


def make_clip(frames_dir: Path, seconds: float, out: Path, size=(1280, 720), fps: int = 25) -> int:
    """Write the one-shot clip (see the module docstring); returns its number of frames."""
    files = sorted(frames_dir.glob("*.jpg"))
    order = np.concatenate([np.arange(len(files)), np.arange(len(files) - 2, 0, -1)])
    frames = [cv2.resize(cv2.imread(str(f)), size, interpolation=cv2.INTER_LINEAR) for f in files]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    n = int(seconds * fps)
    for i in np.resize(order, n):
        writer.write(frames[i])
    writer.release()
    return n


def run(src: Path, argv: list[str]) -> tuple[int, float, float, float]:
    """(exit status, peak RSS in MiB, CPU s, wall s) of `focusgan ARGV` with the code in `src`."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    wall = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - wall
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT")]
    if not line:
        sys.exit(f"{argv[0]} failed:\n{done.stderr[-2000:]}")
    _, rc, peak, cpu = line[-1].split()
    return int(rc), int(peak) / 1024, float(cpu), wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--davis", type=Path, default=ROOT.parent / "shared" / "data" / "davis")
    ap.add_argument("--sequence", default="blackswan")
    ap.add_argument("--seconds", type=float, default=40.0, help="length of the clip (one shot)")
    ap.add_argument("--src", type=Path, nargs="+", default=[ROOT / "src"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "shot-720p.mp4"
        n = make_clip(args.davis / "JPEGImages" / "480p" / args.sequence, args.seconds, clip)
        print(f"clip: {n} frames of 1280x720 ({n / 25:.0f} s), one shot ({args.sequence})")
        print(f"{'code':<40} {'command':<14} {'peak RSS':>10} {'CPU s':>7} {'wall s':>7}")
        for i, src in enumerate(args.src):
            commands = {
                "segment": ["segment", str(clip), "--out", f"{tmp}/masks{i}", "--no-overlay"],
                "prepare video": [
                    "prepare",
                    "video",
                    str(clip),
                    "--out",
                    f"{tmp}/v{i}.h5",
                    "--workers",
                    "0",
                    "--quiet",
                    "--split-mb",
                    "0",
                ],  # fmt: skip
            }
            for name, argv in commands.items():
                rc, peak, cpu, wall = run(src, [*argv, "--threads", "1"])
                assert rc == 0, f"{name} exited {rc}"
                print(f"{str(src):<40} {name:<14} {peak:7.0f} MiB {cpu:7.1f} {wall:7.1f}")
            shutil.rmtree(f"{tmp}/masks{i}")


if __name__ == "__main__":
    main()
