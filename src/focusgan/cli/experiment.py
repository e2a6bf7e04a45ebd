"""Sub-command `experiment`: prepare, train 3- and 4-channel runs, evaluate them and the data."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "experiment",
        help="prepare, train 3- and 4-channel runs, evaluate them and the data (resumable)",
    )
    p.add_argument("config", type=Path, help="experiment YAML (see configs/)")
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default experiments/NAME)"
    )
    p.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="pause each training after N steps in this call (rerun to continue)",
    )
    p.add_argument("--report", action="store_true", help="write the report when finished")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    from focusgan.experiment.config import load_config
    from focusgan.experiment.runner import run_experiment

    cfg = load_config(args.config)
    out = args.out or Path("experiments") / cfg.name
    summary = run_experiment(cfg, out, progress=not args.quiet, stop_after=args.stop_after)
    if not summary["finished"]:
        print(f"experiment paused: rerun `focusgan experiment {args.config} --out {out}`")
        return 0
    print(f"experiment finished: {out}")
    if args.report:
        from focusgan.report.report import write_report

        paths = write_report(out)  # run_experiment sampled the generators for it
        print(f"report: {paths['html']}")
    else:
        print(f"next: focusgan report {out}")
    return 0
