"""`focusgan evaluate`: scores of a run, a samples file or a dataset (DESIGN section 6)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from focusgan.cli.options import add_options, from_args
from focusgan.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    from focusgan.metrics.options import EvalOptions

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
        help="a run directory or a generator from `focusgan export` (omit with --samples or "
        "to score --data itself)",
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
    from focusgan.metrics.evaluation import evaluation_beside
    from focusgan.metrics.options import EvalOptions
    from focusgan.training.rundir import RunDir
    from focusgan.utils.device import resolve_device

    opts = from_args(EvalOptions, args)
    opts.validate()
    if args.run is not None and args.samples is not None:
        raise UserError("give a run directory or --samples, not both")
    if args.run is None and args.samples is None and args.data is None:
        raise UserError("nothing to evaluate: give a run directory, --samples FILE or --data FILE")
    if args.run is not None and not args.run.exists():
        raise UserError(f"run directory (or exported generator) not found: {args.run}")
    device = resolve_device(opts.device)
    backbone = ev.get_backbone(opts.backbone, opts.inception_weights, device)
    seg = opts.segmenter()
    scoring = dict(  # how every kind of evaluation scores
        splits=opts.splits,
        seed=opts.seed,
        progress=not args.quiet,
        metrics=tuple(opts.metrics),
        batch_size=opts.batch_size,
        segmenter=seg,
    )
    if args.run is not None:
        run = dict(checkpoint=args.checkpoint, ema=opts.ema, bn=opts.bn, device=device)
        result = ev.evaluate_run(
            args.run, args.data, backbone, n=opts.n, ref_n=opts.ref_n, **run, **scoring
        )
        default_out = (
            evaluation_beside(args.run, backbone.name)  # an exported generator
            if args.run.is_file()
            else RunDir(args.run).evaluation(backbone.name)
        )
    elif args.samples is not None:
        result = ev.evaluate_samples(
            args.samples, args.data, backbone, n=opts.n, ref_n=opts.ref_n, **scoring
        )
        default_out = evaluation_beside(args.samples, backbone.name)
    else:
        result = ev.evaluate_dataset(args.data, backbone, n=opts.n, **scoring)
        default_out = evaluation_beside(args.data, backbone.name)
    out = args.out or default_out
    if not os.access(out.parent if out.parent.exists() else Path("."), os.W_OK):
        raise UserError(f"cannot write {out}: pass --out FILE in a writable folder")
    result.write(out)
    print("\n".join(result.lines()))
    print(f"wrote {out}")
    return 0
