"""The 25-Gaussian grid (tests/gaussian_grid.py) over several seeds: modes covered and the share of
samples near a mode, RpGAN + R1 + R2 against the non-saturating loss without penalties.

    python benchmarks/r3gan_grid.py --seeds 0 1 2 3 4 5 6 7   # held out: settings chosen on 100, 101
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]  # the helper the test uses

import torch  # noqa: E402

from gaussian_grid import STEPS, train_grid  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--batch", type=int, default=256)
    a = p.parse_args()
    torch.set_num_threads(1)
    print("| loss | seed | modes (>= 1%) | modes (>= 1 sample) | near a mode | seconds |")
    print("|---|---|---|---|---|---|")
    for seed in a.seeds:
        for loss in ("rpgan", "ns"):
            t = time.perf_counter()
            r = train_grid(loss, seed, steps=a.steps, batch=a.batch)
            dt = time.perf_counter() - t
            print(
                f"| {loss} | {seed} | {r.modes} | {r.modes_any} | {r.near:.3f} | {dt:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
