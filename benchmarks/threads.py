"""Training speed of the `tiny` preset with 1 and with N torch threads, in one run.

    python benchmarks/threads.py [--steps 30] [--threads 2]

Prints generator steps per second for each thread count and the ratio. Why: `focusgan demo`
runs torch on one thread, because these models are too small to gain from more threads and on
a busy machine OpenMP threads that wait for each other can be many times slower.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from focusgan.data.toy import make_toy_dataset
from focusgan.training.config import make_config
from focusgan.training.loop import train


def steps_per_s(data: Path, folder: Path, threads: int, steps: int) -> float:
    torch.set_num_threads(threads)
    cfg = make_config("tiny", data=str(data), iters=steps + 5, log_every=5, sample_every=10**6)
    cfg.checkpoint_every = cfg.snapshot_every = 10**6
    t0 = time.perf_counter()
    train(cfg, folder / f"run-{threads}", progress=False)
    records = [json.loads(x) for x in (folder / f"run-{threads}" / "metrics.jsonl").open()]
    rates = [r["g_steps_per_s"] for r in records[1:]]  # the first 5 steps warm up
    print(
        f"  {threads} thread(s): {sum(rates) / len(rates):.2f} steps/s "
        f"({time.perf_counter() - t0:.1f} s in all)"
    )
    return sum(rates) / len(rates)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = make_toy_dataset(folder / "toy.h5", n=512, resolution=32)
        print(f"tiny preset, 32x32 toy data, {args.steps} steps, load {os.getloadavg()[0]:.1f}")
        one = steps_per_s(data, folder, 1, args.steps)
        many = steps_per_s(data, folder, args.threads, args.steps)
        print(f"ratio {args.threads} threads / 1 thread: {many / one:.2f}")


if __name__ == "__main__":
    main()
