"""`focusgan evaluate`: scores of a run, a samples file or a dataset (DESIGN section 6)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from focusgan.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="IS, FID, KID, precision/recall and focus-channel measures of a run, samples or data",
        description="Evaluate a run (fresh samples of its generator), a samples file "
        "(--samples) or a dataset itself (--data only). Scores use the RGB channels; 4-channel "
        "results add focus-channel measures against the data. Writes evaluation-BACKBONE.json.",
    )
    p.add_argument(
        "run",
        nargs="?",
        type=Path,
        help="a run directory (omit with --samples or to score --data itself)",
    )
    p.add_argument("--samples", type=Path, help="a samples file from `focusgan sample`")
    p.add_argument(
        "--data",
        type=Path,
        help="the dataset file to compare with (default: the "
        "run's training data); alone, the dataset itself is scored",
    )
    p.add_argument(
        "--backbone",
        choices=("inception", "efficientnet-lite0"),
        default="inception",
        help="inception (published numbers; needs its weights file) or "
        "efficientnet-lite0 (offline; its own scale)",
    )
    p.add_argument(
        "--inception-weights",
        type=Path,
        help="weights-inception-2015-12-05-6726825d.pth (else "
        "$FOCUSGAN_INCEPTION_WEIGHTS or the torch hub cache)",
    )
    p.add_argument(
        "--n",
        type=int,
        default=50000,
        help="samples to score (default 50000, as published; lower it for a quick look)",
    )
    p.add_argument(
        "--ref-n",
        type=int,
        help="dataset samples in the reference statistics "
        "(default: same as --n, at most the dataset size)",
    )
    p.add_argument("--splits", type=int, default=10, help="Inception Score splits (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents and subsets")
    p.add_argument(
        "--metrics",
        default="is,fid,kid,pr,focus,consistency",
        help="comma-separated subset of is,fid,kid,pr,focus,consistency",
    )
    p.add_argument("--checkpoint", help="latest (default), a step number or a checkpoint path")
    p.add_argument("--raw", action="store_true", help="use the raw generator, not the EMA")
    p.add_argument(
        "--bn",
        choices=("batch", "running"),
        default="batch",
        help="generator batch-norm statistics when sampling (default batch)",
    )
    p.add_argument(
        "--segmenter-steps",
        type=int,
        default=500,
        help="training steps of the consistency segmenter (cached per dataset)",
    )
    p.add_argument(
        "--batch-size", type=int, help="backbone batch size (default 8 on CPU, 200 on GPU)"
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1 ...")
    p.add_argument(
        "--out",
        type=Path,
        help="where to write the JSON (default "
        "evaluation-BACKBONE.json in the run directory, or beside the file)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from focusgan.metrics import evaluate as ev
    from focusgan.metrics.consistency import SegmenterConfig

    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    unknown = set(metrics) - set(ev.METRICS)
    if unknown:
        raise UserError(f"unknown metrics {sorted(unknown)}; choose from {','.join(ev.METRICS)}")
    if args.n < 1 or args.splits < 1:
        raise UserError("--n and --splits must be positive")
    if args.run is not None and args.samples is not None:
        raise UserError("give a run directory or --samples, not both")
    if args.run is None and args.samples is None and args.data is None:
        raise UserError("nothing to evaluate: give a run directory, --samples FILE or --data FILE")
    if args.run is not None and not args.run.is_dir():
        raise UserError(f"run directory not found: {args.run}")
    if args.inception_weights is not None:
        os.environ["FOCUSGAN_INCEPTION_WEIGHTS"] = str(args.inception_weights)
    device = ev.resolve_device(args.device)
    backbone = ev.get_backbone(args.backbone, args.inception_weights, device)
    common = dict(splits=args.splits, seed=args.seed, progress=not args.quiet)
    seg = SegmenterConfig(steps=args.segmenter_steps, seed=args.seed)
    scoring = dict(metrics=metrics, ref_n=args.ref_n, batch_size=args.batch_size, segmenter=seg)
    if args.run is not None:
        result = ev.evaluate_run(
            args.run,
            args.data,
            backbone,
            checkpoint=args.checkpoint,
            ema=not args.raw,
            bn=args.bn,
            n=args.n,
            device=device,
            **common,
            **scoring,
        )
        default_out = args.run / f"evaluation-{backbone.name}.json"
    elif args.samples is not None:
        result = ev.evaluate_samples(
            args.samples, args.data, backbone, n=args.n, **common, **scoring
        )
        default_out = args.samples.with_name(f"{args.samples.stem}.evaluation-{backbone.name}.json")
    else:
        result = ev.evaluate_dataset(
            args.data,
            backbone,
            n=args.n,
            metrics=metrics,
            batch_size=args.batch_size,
            segmenter=seg,
            **common,
        )
        default_out = args.data.with_name(f"{args.data.stem}.evaluation-{backbone.name}.json")
    out = args.out or default_out
    if not os.access(out.parent if out.parent.exists() else Path("."), os.W_OK):
        raise UserError(f"cannot write {out}: pass --out FILE in a writable folder")
    write_json(out, result)
    print("\n".join(ev.summary_lines(result)))
    print(f"wrote {out}")
    return 0


def write_json(path: Path, result: dict) -> None:
    """Write a result atomically, with NaN/inf as null (strict JSON)."""
    from focusgan.utils.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_finite(result), indent=2, sort_keys=True) + "\n")


def _finite(x):
    if isinstance(x, float):
        return x if x == x and abs(x) != float("inf") else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x
