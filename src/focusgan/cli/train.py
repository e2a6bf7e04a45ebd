"""Sub-commands `train` and `sample`. `train`'s settings are `TrainConfig`'s fields (their
defaults shown as the preset's); the command resolves the in-training evaluation's backbone
before training starts and hands it to the loop."""

from __future__ import annotations

import argparse
import os
import signal
from dataclasses import fields, replace
from pathlib import Path

from focusgan.cli.options import add_options
from focusgan.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    from focusgan.training.config import TrainConfig

    p = sub.add_parser(
        "train", help="train a WGAN-GP ResNet or an R3GAN on a dataset file (3 or 4 channels)"
    )
    p.add_argument("--out", type=Path, help="run directory (created; use --resume to continue)")
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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    # every setting defaults to None here: the preset's value
    unset = {f.name: None for f in fields(TrainConfig)}
    add_options(p, TrainConfig, defaults=unset, title="settings (default: the preset's)")
    p.set_defaults(func=_train)

    p = sub.add_parser("sample", help="draw samples from a run: a grid image or a dataset file")
    p.add_argument("run", type=Path, help="run directory, or a generator from `focusgan export`")
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
    p.add_argument(
        "--class",
        dest="cls",
        metavar="K",
        help="class-conditional runs: draw only class K, a label as stored (e.g. 1) or its "
        "name (e.g. person); default: classes as often as in the training data",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.set_defaults(func=_sample)


def _config(args: argparse.Namespace, **fixed):
    """The TrainConfig the arguments ask for: the preset, with every given setting replaced."""
    from focusgan.training.config import TrainConfig, make_config

    if args.stop_after is not None and args.stop_after <= 0:
        raise UserError(f"--stop-after must be positive, not {args.stop_after}")
    settings = {f.name: getattr(args, f.name, None) for f in fields(TrainConfig)}
    settings.pop("preset")
    return make_config(getattr(args, "preset", None), **{**settings, **fixed})


def _train(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _dry_run(args)
    if args.data is None or args.out is None:
        raise UserError("train needs --data FILE.h5 and --out RUN_DIR")
    from focusgan.metrics.evaluate import in_training_evaluation
    from focusgan.training.loop import train

    cfg = _config(args, data=str(args.data), resolution=None)  # the file's resolution
    main_process = os.environ.get("RANK", "0") == "0"  # under torchrun only the first evaluates
    result = train(
        cfg,
        args.out,
        resume=args.resume,
        stop_after=args.stop_after,
        progress=not args.quiet,
        evaluate=in_training_evaluation(cfg) if main_process else None,
    )
    if not main_process:  # and only the first process reports
        return 0 if result.status != "interrupted" else 128 + signal.SIGINT
    if result.status == "finished":
        print(f"finished {result.step} steps: {result.run_dir}")
        return 0
    print(
        f"stopped at step {result.step} with a checkpoint; continue with the same command "
        "plus --resume"
    )
    return 0 if result.status == "paused" else 128 + signal.SIGINT


def _dry_run(args: argparse.Namespace) -> int:
    from focusgan.data.dataset import read_info
    from focusgan.data.labels import load_labels
    from focusgan.models.resnet import count_parameters
    from focusgan.training.algorithms import build_models
    from focusgan.training.config import for_data, with_labels

    cfg = _config(args)
    if args.data is not None:
        cfg = for_data(cfg, read_info(args.data))
    elif cfg.channels is None:  # no file to take them from
        cfg = replace(cfg, channels=4)
    if cfg.conditional:
        if args.data is None:
            raise UserError(
                "--conditional --dry-run needs --data: the classes come from its labels"
            )
        cfg = with_labels(cfg, load_labels(args.data, cfg.labels or None))
        print(f"classes {cfg.num_classes}")
    G, D = build_models(cfg)
    print(f"generator_parameters {count_parameters(G)}")
    print(f"critic_parameters {count_parameters(D)}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from focusgan.data.labels import class_index
    from focusgan.training.rundir import load_generator
    from focusgan.training.sample import generate, write_samples
    from focusgan.utils.device import resolve_device
    from focusgan.utils.views import render, save_image

    if args.n <= 0:
        raise UserError(f"--n must be positive, not {args.n}")
    G, cfg, step = load_generator(
        args.run, args.checkpoint, ema=not args.raw, device=resolve_device(args.device), bn=args.bn
    )
    cls = None
    if args.cls is not None:
        if not cfg.conditional:
            raise UserError(f"--class: {args.run} is not a class-conditional run (no classes)")
        cls = class_index(cfg.classes, cfg.class_names, args.cls)
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
                "class": None if cls is None else cfg.classes[cls],
            }
        }
        write_samples(
            G,
            args.n,
            args.out,
            seed=args.seed,
            bn=args.bn,
            batch_size=args.batch_size,
            extra=extra,
            cls=cls,
        )
        print(f"wrote {args.n} samples (step {step}) to {args.out}")
        return 0
    if suffix not in (".png", ".jpg", ".jpeg"):
        raise UserError(f"--out {args.out}: use .png/.jpg for a grid or .h5 for a dataset file")
    if args.view not in ("all", "rgb") and cfg.channels != 4:
        raise UserError(f"--view {args.view} needs a 4-channel run; this one has {cfg.channels}")
    images = generate(G, args.n, batch_size=args.batch_size, seed=args.seed, bn=args.bn, cls=cls)
    save_image(args.out, render(images, args.view))
    print(f"wrote a grid of {args.n} samples (step {step}, view {args.view}) to {args.out}")
    return 0
