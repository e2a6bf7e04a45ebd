"""`focusgan segment` as users run it: one command per DAVIS sequence, frames/s by the command's
own timer (issue #18 item 3: >= 10 frames/s per command at 854x480 on 2 cores).

Run: .venv/bin/python benchmarks/segment_command.py [--davis ../shared/data/davis] [--repeat 1]

Each sequence is segmented by a fresh `python -m focusgan segment SEQ --out DIR` (masks and the
overlay video, the defaults), so each figure includes what every command pays once (importing
and loading the ImageNet network, writing the outputs). The plain baseline, measured in the same
run: the same sequences segmented in one process (`bench-motion --davis`), which pays those
once for all; the ratio is the share of the steady-state speed a single command reaches. The
load average is printed before and after each command (the machine has 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def focusgan(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "focusgan", *args]
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--davis", type=Path, default=ROOT.parent / "shared" / "data" / "davis")
    ap.add_argument("--repeat", type=int, default=1, help="commands per sequence")
    a = ap.parse_args()
    folders = sorted((a.davis / "JPEGImages" / "480p").iterdir())
    total_frames = total_s = 0.0
    print(f"{'sequence':<16} {'frames':>6} {'s':>6} {'frames/s':>9}  load before/after")
    with tempfile.TemporaryDirectory() as tmp:
        for folder in folders:
            for _ in range(a.repeat):
                before = load()
                line = focusgan("segment", str(folder), "--out", str(Path(tmp) / folder.name))
                n, s = re.search(r"wrote (\d+) masks.* in ([\d.]+) s", line).groups()
                total_frames, total_s = total_frames + int(n), total_s + float(s)
                rate = int(n) / float(s)
                print(f"{folder.name:<16} {n:>6} {s:>6} {rate:9.1f}  {before}/{load()}", flush=True)
    per_command = total_frames / total_s
    print(f"{'all':<16} {int(total_frames):>6} {total_s:6.1f} {per_command:9.1f}")
    before = load()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "bench.json"
        focusgan("bench-motion", "--davis", str(a.davis), "--json", str(report))
        one = json.loads(report.read_text())["davis"]["mean"]["fps"]
    print(
        f"baseline: bench-motion --davis in one process {one:.1f} frames/s (load {before}/"
        f"{load()}); one command per sequence reaches {per_command / one:.2f} of it"
    )


if __name__ == "__main__":
    main()
