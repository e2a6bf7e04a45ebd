"""`focusgan evaluate`: scores of a run, a samples file or a dataset (DESIGN section 6)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from focusgan.cli.options import add_options, from_args
from focusgan.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    from focusgan.metrics.evaluate import EvalOptions

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
    p.add_argument("--checkpoint", help="latest (default), a step number or a checkpoint path")
    p.add_argument(
        "--out",
        type=Path,
        help="where to write the JSON (default "
        "evaluation-BACKBONE.json in the run directory, or beside the file)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_options(p, EvalOptions)
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from focusgan.metrics import evaluate as ev
    from focusgan.utils.device import resolve_device

    opts = from_args(ev.EvalOptions, args)
    opts.validate()
    if args.run is not None and args.samples is not None:
        raise UserError("give a run directory or --samples, not both")
    if args.run is None and args.samples is None and args.data is None:
        raise UserError("nothing to evaluate: give a run directory, --samples FILE or --data FILE")
    if args.run is not None and not args.run.is_dir():
        raise UserError(f"run directory not found: {args.run}")
    device = resolve_device(opts.device)
    backbone = ev.get_backbone(opts.backbone, opts.inception_weights, device)
    common = dict(splits=opts.splits, seed=opts.seed, progress=not args.quiet)
    seg = opts.segmenter()
    metrics = tuple(opts.metrics)
    scoring = dict(metrics=metrics, ref_n=opts.ref_n, batch_size=opts.batch_size, segmenter=seg)
    if args.run is not None:
        result = ev.evaluate_run(
            args.run,
            args.data,
            backbone,
            checkpoint=args.checkpoint,
            ema=opts.ema,
            bn=opts.bn,
            n=opts.n,
            device=device,
            **common,
            **scoring,
        )
        default_out = args.run / f"evaluation-{backbone.name}.json"
    elif args.samples is not None:
        result = ev.evaluate_samples(
            args.samples, args.data, backbone, n=opts.n, **common, **scoring
        )
        default_out = args.samples.with_name(f"{args.samples.stem}.evaluation-{backbone.name}.json")
    else:
        result = ev.evaluate_dataset(
            args.data,
            backbone,
            n=opts.n,
            metrics=metrics,
            batch_size=opts.batch_size,
            segmenter=seg,
            **common,
        )
        default_out = args.data.with_name(f"{args.data.stem}.evaluation-{backbone.name}.json")
    out = args.out or default_out
    if not os.access(out.parent if out.parent.exists() else Path("."), os.W_OK):
        raise UserError(f"cannot write {out}: pass --out FILE in a writable folder")
    ev.write_json(out, result)
    print("\n".join(ev.summary_lines(result)))
    print(f"wrote {out}")
    return 0
