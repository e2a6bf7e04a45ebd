"""Sub-commands `train` and `sample`."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

from focusgan.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a WGAN-GP ResNet on a dataset file (3 or 4 channels)")
    p.add_argument("--data", type=Path, help="dataset file made by `focusgan prepare`")
    p.add_argument(
        "--channels",
        type=int,
        choices=(3, 4),
        help="3 = RGB, 4 = RGB + focus mask (default: all channels of the file)",
    )
    p.add_argument(
        "--preset", default="thesis", help="thesis (DESIGN section 4) or tiny (CPU tests)"
    )
    p.add_argument("--out", type=Path, help="run directory (created; use --resume to continue)")
    p.add_argument("--iters", type=int, help="generator steps (thesis: 100000)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the generator and critic parameter counts and exit",
    )
    p.add_argument(
        "--stop-after",
        type=int,
        metavar="N",
        help="stop after N generator steps in this call, with a checkpoint "
        "(for job time limits); continue later with --resume",
    )
    g = p.add_argument_group("model and optimisation (default: the preset's)")
    g.add_argument(
        "--resolution",
        type=int,
        choices=(32, 64, 128),
        help="only for --dry-run without --data (otherwise the file's resolution)",
    )
    g.add_argument("--width", type=int, help="feature maps per layer (thesis: 128)")
    g.add_argument("--critic-norm", choices=("none", "layer"), help="critic normalization")
    g.add_argument("--n-critic", type=int, help="critic steps per generator step (5)")
    g.add_argument("--batch-critic", type=int, help="critic batch (64)")
    g.add_argument("--batch-gen", type=int, help="generator batch (128)")
    g.add_argument("--lr", type=float, help="Adam learning rate (2e-4), decayed linearly to 0")
    g.add_argument("--lr-decay-iters", type=int, help="steps over which lr reaches 0 (--iters)")
    g.add_argument("--gp-weight", type=float, help="gradient penalty weight (10)")
    g.add_argument("--ema-decay", type=float, help="generator EMA decay (0.999)")
    g.add_argument("--seed", type=int, help="seed for weights, noise and data order (0)")
    g.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    g = p.add_argument_group("bookkeeping (in generator steps)")
    g.add_argument("--log-every", type=int, help="metrics.jsonl / TensorBoard interval")
    g.add_argument("--sample-every", type=int, help="fixed-noise sample grid interval")
    g.add_argument("--checkpoint-every", type=int, help="checkpoints/latest.pt interval")
    g.add_argument("--snapshot-every", type=int, help="kept checkpoints/step-N.pt interval")
    g.add_argument("--eval-every", type=int, help="in-training evaluation interval (0 = off)")
    g.add_argument("--eval-n", type=int, help="samples per in-training evaluation")
    g.add_argument("--eval-backbone", help="backbone for in-training evaluation")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = sub.add_parser("sample", help="draw samples from a run: a grid image or a dataset file")
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="grid image (.png/.jpg) or dataset file (.h5) to write",
    )
    p.add_argument(
        "--view",
        default="all",
        choices=("all", "rgba", "rgb", "masked", "mask"),
        help="grid view (4-channel runs; default all four side by side)",
    )
    p.add_argument("--checkpoint", default="latest", help="latest, a step number, or a .pt path")
    p.add_argument("--raw", action="store_true", help="use the raw generator, not the EMA one")
    p.add_argument(
        "--bn",
        default="batch",
        choices=("batch", "running"),
        help="batch-norm statistics: of each batch (default) or running averages",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=128,
        help="generation batch (also the batch of the BN batch statistics)",
    )
    p.add_argument("--seed", type=int, default=0, help="latent noise seed")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.set_defaults(func=_sample)


_OVERRIDES = (
    "iters",
    "width",
    "critic_norm",
    "n_critic",
    "batch_critic",
    "batch_gen",
    "lr",
    "lr_decay_iters",
    "gp_weight",
    "ema_decay",
    "seed",
    "device",
    "log_every",
    "sample_every",
    "checkpoint_every",
    "snapshot_every",
    "eval_every",
    "eval_n",
    "eval_backbone",
)


def _positive(args: argparse.Namespace) -> None:
    for name in (
        "iters",
        "width",
        "n_critic",
        "batch_critic",
        "batch_gen",
        "log_every",
        "sample_every",
        "checkpoint_every",
        "snapshot_every",
        "stop_after",
    ):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive, not {value}")


def _train(args: argparse.Namespace) -> int:
    from focusgan.training.config import make_config

    _positive(args)
    overrides = {k: getattr(args, k) for k in _OVERRIDES}
    if args.dry_run:
        return _dry_run(args, overrides)
    if args.data is None or args.out is None:
        raise UserError("train needs --data FILE.h5 and --out RUN_DIR")
    from focusgan.training.loop import train

    cfg = make_config(args.preset, data=str(args.data), channels=args.channels, **overrides)
    result = train(
        cfg, args.out, resume=args.resume, stop_after=args.stop_after, progress=not args.quiet
    )
    if os.environ.get("RANK", "0") != "0":  # under torchrun only the first process reports
        return 0 if result.status != "interrupted" else 128 + signal.SIGINT
    if result.status == "finished":
        print(f"finished {result.step} steps: {result.run_dir}")
        return 0
    print(
        f"stopped at step {result.step} with a checkpoint; continue with the same command "
        "plus --resume"
    )
    return 0 if result.status == "paused" else 128 + signal.SIGINT


def _dry_run(args: argparse.Namespace, overrides: dict) -> int:
    from focusgan.data.dataset import check_channels, read_info
    from focusgan.models.resnet import count_parameters
    from focusgan.training.config import make_config
    from focusgan.training.loop import build_models

    channels, resolution = args.channels or 4, args.resolution or 64
    if args.data is not None:
        info = read_info(args.data)
        channels, resolution = check_channels(info, args.channels), info.resolution
    cfg = make_config(args.preset, channels=channels, resolution=resolution, **overrides)
    G, D = build_models(cfg)
    print(f"generator_parameters {count_parameters(G)}")
    print(f"critic_parameters {count_parameters(D)}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    import torch

    from focusgan.training.rundir import load_generator
    from focusgan.training.sample import generate, write_samples
    from focusgan.utils.views import render, save_image

    if args.n <= 0:
        raise UserError(f"--n must be positive, not {args.n}")
    device = (
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    G, cfg, step = load_generator(
        args.run, args.checkpoint, ema=not args.raw, device=device, bn=args.bn
    )
    suffix = args.out.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        extra = {
            "generated_by": {
                "run": str(args.run),
                "step": step,
                "ema": not args.raw,
                "bn": args.bn,
                "batch_size": args.batch_size,
                "seed": args.seed,
            }
        }
        write_samples(
            G, args.n, args.out, seed=args.seed, bn=args.bn, batch_size=args.batch_size, extra=extra
        )
        print(f"wrote {args.n} samples (step {step}) to {args.out}")
        return 0
    if suffix not in (".png", ".jpg", ".jpeg"):
        raise UserError(f"--out {args.out}: use .png/.jpg for a grid or .h5 for a dataset file")
    if args.view not in ("all", "rgb") and cfg.channels != 4:
        raise UserError(f"--view {args.view} needs a 4-channel run; this one has {cfg.channels}")
    images = generate(G, args.n, batch_size=args.batch_size, seed=args.seed, bn=args.bn)
    save_image(args.out, render(images, args.view))
    print(f"wrote a grid of {args.n} samples (step {step}, view {args.view}) to {args.out}")
    return 0
