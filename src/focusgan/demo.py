"""`focusgan demo`: the main job end to end on built-in generated data, sized for a laptop CPU.

For now: a toy dataset of shapes with exact masks (focusgan.data.toy), the `tiny` preset trained
on its RGB and RGB+focus versions with the same seed, and sample grids in the four views.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on built-in generated data (CPU-sized)")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder (demo-out)")
    p.add_argument("--iters", type=int, default=150, help="generator steps per run (150)")
    p.add_argument("--n", type=int, default=1024, help="samples in the generated dataset (1024)")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from focusgan.data.toy import make_toy_dataset
    from focusgan.training.config import make_config
    from focusgan.training.loop import train
    from focusgan.training.run import load_generator
    from focusgan.training.sample import generate
    from focusgan.utils.views import render, save_image

    out: Path = args.out
    data = out / "toy.h5"
    if not data.exists():
        print(f"[1/3] generating {args.n} toy samples (shapes with exact masks) -> {data}")
        make_toy_dataset(data, n=args.n, resolution=32, seed=0)
    for step, channels in ((2, 4), (3, 3)):
        run = out / f"run-{channels}ch"
        print(f"[{step}/3] training the tiny preset on {channels} channels -> {run}")
        cfg = make_config("tiny", data=str(data), channels=channels, iters=args.iters)
        resume = (run / "checkpoints" / "latest.pt").exists()
        train(cfg, run, resume=resume)
        G, _, _ = load_generator(run)
        grid = out / f"samples-{channels}ch.png"
        save_image(grid, render(generate(G, 64, seed=0), "all"))
        print(f"      samples: {grid}")
    print(f"done: {out}")
    return 0
