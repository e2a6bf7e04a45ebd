"""`focusgan demo`: the whole job on generated moving-objects videos, sized for a 2-core CPU.

1. seeded synthetic videos (textured objects moving over panning textured backgrounds, with true
   masks beside them: `focusgan.video.synthetic`);
2. `focusgan prepare video`: shots, motion segmentation, frame filters -> a 4-channel dataset;
3. `focusgan experiment` on it: 3- and 4-channel runs of the `tiny` preset with the same seed,
   evaluated with the offline EfficientNet-Lite0 backbone, and each run's step-0 generator
   scored the same way; the 4-channel run also gets the generated-pairs measure (metric
   `pairs`: did the focus channel learn objects?) with its ceiling, floor and trivial baselines;
4. `focusgan report`: report.html / report.md, whose path is printed at the end.

The experiment file is written to OUT/demo.yaml, so `focusgan experiment OUT/demo.yaml --out OUT`
reruns or finishes it; rerunning the demo skips every finished part. Torch uses one thread by
default: these models are too small to gain from more, and on a busy 2-core machine two threads
measured 25x slower than one (benchmarks/RESULTS.md, experiment section).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

# The tiny preset, made to learn fast: 2 critic steps per generator step and a higher learning rate
# decaying slowly. With the preset's own 5 critic steps and lr 2e-4, 250 steps in the same time
# did not beat the initial generator on any score (measured; benchmarks/RESULTS.md).
DEMO_TRAIN = {
    "preset": "tiny",
    "iters": 500,
    "n_critic": 2,
    "lr": 5e-4,
    "lr_decay_iters": 2000,
    "seed": 0,
    "sample_every": 100,
}
# Scored with the offline backbone; `pairs` asks whether the focus channel learned objects
DEMO_EVAL = {
    "backbone": "efficientnet-lite0",
    "splits": 4,
    "metrics": ["is", "fid", "kid", "pr", "focus", "pairs"],
    "initial": True,
}
# The synthetic objects cover 3..20% of a frame: the thesis's 10% minimum would drop half.
DEMO_FILTER = {"min_fg": 0.05, "max_fg": 0.80, "border": 0.05, "max_border_fg": 0.10}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="videos -> motion masks -> paired experiment -> report (CPU, ~10 min)"
    )
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder (demo-out)")
    p.add_argument("--videos", type=int, default=40, help="synthetic videos to generate (40)")
    p.add_argument("--iters", type=int, default=DEMO_TRAIN["iters"], help="steps per run (500)")
    p.add_argument("--n", type=int, default=256, help="samples per evaluation (256)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1; see the docs)")
    p.add_argument("--workers", type=int, default=2, help="processes segmenting videos (2)")
    p.set_defaults(func=run_demo)


def demo_config(args: argparse.Namespace) -> dict:
    """The experiment file of the demo (paths relative to the output folder)."""
    return {
        "name": "demo",
        "datasets": [
            {
                "name": "moving-objects",
                "file": "data/moving-objects.h5",
                "prepare": {
                    "source": "video",
                    "paths": ["videos"],
                    "size": 32,
                    "frames_per_shot": 12,
                    "workers": args.workers,
                    **DEMO_FILTER,
                },
            }
        ],
        "train": {**DEMO_TRAIN, "iters": args.iters},
        "evaluate": {**DEMO_EVAL, "n": args.n},
    }


def make_videos(folder: Path, n: int) -> None:
    """Write the synthetic videos once (into a temporary folder renamed when complete)."""
    import shutil

    from focusgan.video.synthetic import write_videos

    if folder.is_dir():
        return
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    write_videos(tmp, n, seed=0, size=(96, 96), shot_lengths=(24, 24))
    tmp.rename(folder)


def run_demo(args: argparse.Namespace) -> int:
    import torch

    from focusgan.experiment.config import load_config
    from focusgan.experiment.runner import run_experiment
    from focusgan.report.report import write_report

    torch.set_num_threads(max(1, args.threads))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s] {msg}", flush=True)

    log(f"1/4 synthetic videos: {args.videos} x 2 shots of 24 frames, 96x96 -> {out / 'videos'}")
    make_videos(out / "videos", args.videos)
    config = out / "demo.yaml"
    config.write_text(
        "# Written by `focusgan demo`; rerun with: focusgan experiment "
        f"{config} --out {out}\n" + yaml.safe_dump(demo_config(args), sort_keys=False)
    )
    log(
        "2/4 + 3/4 prepare (segment by motion) and the paired experiment "
        f"({args.iters} steps per run, evaluation n={args.n}) -> {out}"
    )
    summary = run_experiment(load_config(config), out, log=log)
    if not summary["finished"]:
        log("the experiment was not finished; rerun `focusgan demo` to continue")
        return 1
    log("4/4 report")
    paths = write_report(out)
    for line in paths["verdicts"]:
        log(line)
    log(f"report: {paths['html'].resolve()}")
    print(paths["html"].resolve())
    return 0
